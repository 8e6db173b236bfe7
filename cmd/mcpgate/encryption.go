package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcpgate/mcpgate/oauth"
	"github.com/mcpgate/mcpgate/secret"
)

// encryptionKeyFile is the key a SQLite store uses when --encryption-key is
// not given, in the data directory beside the database.
const encryptionKeyFile = "encryption.key"

// requireEncryptionKey refuses a Postgres store without --encryption-key:
// every replica must encrypt and decrypt with the same key, so none may
// make up its own. Checked before anything else is opened.
func (g *Globals) requireEncryptionKey() error {
	if g.Store != "" && g.EncryptionKey == "" {
		return usagef("--encryption-key (MCPGATE_ENCRYPTION_KEY) is required with a Postgres store, the same on every replica: " +
			"for example env:NAME or file:PATH holding the output of `openssl rand -base64 32`")
	}
	if g.EncryptionKeyPrevious != "" && g.EncryptionKey == "" {
		return usagef("--encryption-key-previous needs --encryption-key, the key that replaces it")
	}
	return nil
}

// encryptionKeys returns the key that encrypts secrets at rest and, during
// its rotation, the previous one (nil otherwise). Without --encryption-key
// a SQLite store uses encryption.key in the data directory, created on
// first use; call it once the store is open, so the directory exists.
func (g *Globals) encryptionKeys() (current, previous []byte, err error) {
	if err := g.requireEncryptionKey(); err != nil {
		return nil, nil, err
	}
	if g.EncryptionKey == "" {
		current, err = keyFile(filepath.Join(g.Data, encryptionKeyFile))
		return current, nil, err
	}
	if current, err = resolveEncryptionKey("--encryption-key", g.EncryptionKey); err != nil {
		return nil, nil, err
	}
	if g.EncryptionKeyPrevious != "" {
		if previous, err = resolveEncryptionKey("--encryption-key-previous", g.EncryptionKeyPrevious); err != nil {
			return nil, nil, err
		}
		if bytes.Equal(previous, current) {
			previous = nil
		}
	}
	return current, previous, nil
}

// encryptionKeySource names where the current key comes from, for error
// messages; never the key itself.
func (g *Globals) encryptionKeySource() string {
	switch {
	case g.EncryptionKey == "":
		return filepath.Join(g.Data, encryptionKeyFile)
	case secret.IsReference(g.EncryptionKey):
		return "--encryption-key " + g.EncryptionKey
	}
	return "--encryption-key"
}

// keyDecryptionError explains a store whose signing keys the configured
// encryption key does not open, as a configuration error.
func (g *Globals) keyDecryptionError(err error) error {
	if !errors.Is(err, oauth.ErrKeyDecryption) {
		return err
	}
	return usagef("%v.\nThe OAuth signing keys in the store were encrypted with another key than the one from %s: "+
		"give the key they were encrypted with, or, while rotating, that key as --encryption-key-previous", err, g.encryptionKeySource())
}

func resolveEncryptionKey(flag, ref string) ([]byte, error) {
	v, err := secret.Resolve(ref)
	if err != nil {
		return nil, usagef("%s %s: %v", flag, secret.Describe(ref), err)
	}
	key, err := decodeEncryptionKey(v)
	if err != nil {
		name := flag
		if secret.IsReference(ref) {
			name += " " + ref
		}
		return nil, usagef("%s: %v", name, err)
	}
	return key, nil
}

// decodeEncryptionKey reads 32 bytes in base64, padded or not, standard
// or URL alphabet.
func decodeEncryptionKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("not 32 bytes in base64 (make one with `openssl rand -base64 32`)")
}

// keyFile reads the key at path, creating it (mode 0600) with 32 random
// bytes if there is none. The new key is written to a temporary file and
// linked into place, so two processes starting at once end up with the
// same key and neither reads a half-written file.
func keyFile(path string) ([]byte, error) {
	for range 2 {
		b, err := os.ReadFile(path)
		if err == nil {
			key, err := decodeEncryptionKey(string(b))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return key, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err := createKeyFile(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
	}
	return nil, fmt.Errorf("%s: created but cannot be read", path)
}

func createKeyFile(path string) error {
	key := make([]byte, 32)
	rand.Read(key)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".encryption.key-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}
