// Package secret reads secret settings given as references, so that a
// secret need not appear on a command line, in a process list or in a
// config file:
//
//	env:NAME          the environment variable NAME
//	file:PATH         the file's content, without its final newline
//	vault:PATH#FIELD  FIELD of the HashiCorp Vault (or OpenBao) KV v2 secret PATH
//	literal:VALUE     VALUE itself
//	anything else     the value itself
//
// [Resolve] reads a reference once. A [Ref] keeps one and reads it again
// when it may have changed: a file when its size or modification time
// changes, so that a secret rotated on disk (a Kubernetes secret volume, a
// file written by a vault agent) is picked up without a restart; a Vault
// secret before its lease, or the refresh interval, runs out.
package secret

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ErrEmpty means a reference names an environment variable, a file or a
// Vault field that is unset or empty: an empty secret is never meant.
var ErrEmpty = errors.New("secret is empty")

// Hidden is how [Describe] shows a secret given as its value.
const Hidden = "<literal, redacted>"

// Kind is the form of a reference.
type Kind int

// The kinds of reference.
const (
	Literal Kind = iota // literal:VALUE, or a value with no known prefix
	Env                 // env:NAME
	File                // file:PATH
	Vault               // vault:PATH#FIELD
)

// KindOf returns the kind of ref: the prefix it starts with, or Literal.
func KindOf(ref string) Kind {
	switch {
	case strings.HasPrefix(ref, "env:"):
		return Env
	case strings.HasPrefix(ref, "file:"):
		return File
	case strings.HasPrefix(ref, "vault:"):
		return Vault
	}
	return Literal
}

// IsReference reports whether ref names where a secret is (env:, file:,
// vault:) rather than holding it.
func IsReference(ref string) bool { return KindOf(ref) != Literal }

// Describe returns what may be shown of ref in a log line, an error
// message or `mcpgate config show`: an env:, file: or vault: reference as
// given, a value as [Hidden], and "" as "".
func Describe(ref string) string {
	if ref == "" || IsReference(ref) {
		return ref
	}
	return Hidden
}

// Options tune how references are read. The zero value is ready to use.
type Options struct {
	// VaultRefresh is how long a Vault secret without a lease (every KV v2
	// secret) is used before it is read again. Default 5 minutes.
	VaultRefresh time.Duration
	// Getenv looks up environment variables: env: references and the
	// VAULT_* settings. Default os.LookupEnv.
	Getenv func(string) (string, bool)
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.VaultRefresh <= 0 {
		d.VaultRefresh = 5 * time.Minute
	}
	if d.Getenv == nil {
		d.Getenv = os.LookupEnv
	}
	return d
}

// Resolve reads the secret ref refers to (see the package comment); ""
// is no secret. A variable, file or Vault field that is unset or empty is
// an error matching [ErrEmpty]; an unreadable file is an error wrapping
// the os error; a Vault reference without its #FIELD, or without VAULT_ADDR
// and a token, is an error before any request is made.
func Resolve(ref string) (string, error) {
	r, err := Load(ref)
	if err != nil {
		return "", err
	}
	return r.value, nil
}

// maxFileSize bounds a secret file, so that a reference to the wrong file
// (a log, a device) fails instead of filling memory.
const maxFileSize = 64 << 10

func readFile(path string) (string, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	// Stat the open file, so the content and the change stamp belong to
	// the same file even when the path is swapped meanwhile.
	fi, err := f.Stat()
	if err != nil {
		return "", nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return "", nil, err
	}
	if len(b) > maxFileSize {
		return "", nil, fmt.Errorf("file %s: larger than %d bytes, not a secret", path, maxFileSize)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", nil, fmt.Errorf("file %s: %w", path, ErrEmpty)
	}
	return v, fi, nil
}

// Ref is a secret reference that is read when its value is needed. An
// env: reference or a literal is read once, by [Load]; a file: reference
// is read again whenever the file's size or modification time changes
// (checked with one stat per [Ref.Get]); a vault: reference is read again
// once two thirds of its lease, or Options.VaultRefresh, have passed. It is
// safe for concurrent use.
type Ref struct {
	ref  string
	kind Kind
	path string // for file: references

	vault     *vaultClient // for vault: references
	vaultPath vaultPath
	refresh   time.Duration

	mu      sync.Mutex
	value   string
	size    int64
	modTime time.Time
	readAt  time.Time     // vault: when value was read
	ttl     time.Duration // vault: how long value is used before a new read
}

// Load reads ref (see [Resolve]) and returns it as a Ref, so that a
// missing variable, file or Vault secret is reported at start rather than
// at first use.
func Load(ref string) (*Ref, error) { return LoadWith(ref, nil) }

// LoadWith is [Load] with options; nil means the defaults.
func LoadWith(ref string, opts *Options) (*Ref, error) {
	o := opts.withDefaults()
	r := &Ref{ref: ref, kind: KindOf(ref)}
	switch r.kind {
	case Env:
		name := strings.TrimPrefix(ref, "env:")
		v, ok := o.Getenv(name)
		if !ok || v == "" {
			return nil, fmt.Errorf("environment variable %s: %w", name, ErrEmpty)
		}
		r.value = v
	case File:
		r.path = strings.TrimPrefix(ref, "file:")
		v, fi, err := readFile(r.path)
		if err != nil {
			return nil, err
		}
		r.value, r.size, r.modTime = v, fi.Size(), fi.ModTime()
	case Vault:
		vp, err := parseVaultRef(strings.TrimPrefix(ref, "vault:"))
		if err != nil {
			return nil, err
		}
		c, err := vaultFromEnv(o.Getenv)
		if err != nil {
			return nil, err
		}
		r.vault, r.vaultPath, r.refresh = c, vp, o.VaultRefresh
		ctx, cancel := context.WithTimeout(context.Background(), vaultTimeout)
		defer cancel()
		if err := r.readVault(ctx); err != nil {
			return nil, err
		}
	default:
		r.value = strings.TrimPrefix(ref, "literal:")
	}
	return r, nil
}

// Get returns the secret. For a file reference it rereads the file if it
// changed since the last read; for a Vault reference it reads the secret
// again if its time is up. While the file cannot be read or is empty (it
// may be in the middle of a replacement), or Vault does not answer, Get
// returns the last value it read together with the error, so the caller
// chooses whether to go on with it.
func (r *Ref) Get() (string, error) {
	switch r.kind {
	case File:
		return r.getFile()
	case Vault:
		r.mu.Lock()
		defer r.mu.Unlock()
		if time.Since(r.readAt) < r.ttl {
			return r.value, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), vaultTimeout)
		defer cancel()
		if err := r.readVault(ctx); err != nil {
			// Try again soon, not on every call while Vault is down.
			r.readAt, r.ttl = time.Now(), min(r.ttl, vaultRetry)
			return r.value, err
		}
		return r.value, nil
	}
	return r.value, nil
}

func (r *Ref) getFile() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if err != nil {
		return r.value, err
	}
	if fi.Size() == r.size && fi.ModTime().Equal(r.modTime) {
		return r.value, nil
	}
	v, fi, err := readFile(r.path)
	if err != nil {
		return r.value, err
	}
	r.value, r.size, r.modTime = v, fi.Size(), fi.ModTime()
	return r.value, nil
}

// readVault reads the secret from Vault; r.mu is held or r is not shared
// yet.
func (r *Ref) readVault(ctx context.Context) error {
	v, lease, err := r.vault.read(ctx, r.vaultPath)
	if err != nil {
		return err
	}
	r.value, r.readAt, r.ttl = v, time.Now(), r.refresh
	if lease > 0 {
		r.ttl = min(r.ttl, lease*2/3)
	}
	return nil
}

// Kind returns the form of the reference.
func (r *Ref) Kind() Kind { return r.kind }

// String returns the reference without the secret (see [Describe]): what
// a log line or an error message may show.
func (r *Ref) String() string { return Describe(r.ref) }
