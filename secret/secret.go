// Package secret reads secret settings given as references, so that a
// secret need not appear on a command line or in a config file:
//
//	env:NAME     the environment variable NAME
//	file:PATH    the file's content, without its final newline
//	anything     the value itself
//
// [Resolve] reads a reference once. A [Ref] keeps one and reads a file
// again when it changes, so that a secret rotated on disk (a Kubernetes
// secret volume, a file written by a vault agent) is picked up without a
// restart.
package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ErrEmpty means a reference names an environment variable or a file that
// is unset or empty: an empty secret is never meant.
var ErrEmpty = errors.New("secret is empty")

// Resolve reads the secret ref refers to: env:NAME takes the environment
// variable NAME, file:PATH the file's content without its final newline;
// any other value is the secret itself, and "" is no secret. A variable
// that is unset or empty, or an empty file, is an error matching
// [ErrEmpty]; an unreadable file is an error wrapping the os error.
func Resolve(ref string) (string, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s: %w", name, ErrEmpty)
		}
		return v, nil
	case strings.HasPrefix(ref, "file:"):
		v, _, err := readFile(strings.TrimPrefix(ref, "file:"))
		return v, err
	}
	return ref, nil
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
// (checked with one stat per [Ref.Get]). It is safe for concurrent use.
type Ref struct {
	ref  string
	path string // for file: references

	mu      sync.Mutex
	value   string
	size    int64
	modTime time.Time
}

// Load reads ref (see [Resolve]) and returns it as a Ref, so that a
// missing variable or file is reported at start rather than at first use.
func Load(ref string) (*Ref, error) {
	r := &Ref{ref: ref}
	if p, ok := strings.CutPrefix(ref, "file:"); ok {
		r.path = p
		v, fi, err := readFile(p)
		if err != nil {
			return nil, err
		}
		r.value, r.size, r.modTime = v, fi.Size(), fi.ModTime()
		return r, nil
	}
	v, err := Resolve(ref)
	if err != nil {
		return nil, err
	}
	r.value = v
	return r, nil
}

// Get returns the secret. For a file reference it rereads the file if it
// changed since the last read. While the file cannot be read or is empty
// (it may be in the middle of a replacement), Get returns the last value
// it read together with the error, so the caller chooses whether to go on
// with it.
func (r *Ref) Get() (string, error) {
	if r.path == "" {
		return r.value, nil
	}
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

// String returns the reference without the secret: "env:NAME" and
// "file:PATH" as given, a literal as "[literal]". It is what a log line or
// an error message may show.
func (r *Ref) String() string {
	if strings.HasPrefix(r.ref, "env:") || r.path != "" {
		return r.ref
	}
	return "[literal]"
}
