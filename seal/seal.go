// Package seal encrypts secrets that mcpgate keeps in its store (signing
// keys, the tokens of federated users) with the encryption key, which never
// goes into the store: AES-256-GCM, a random 96-bit nonce per value, and
// associated data that binds a sealed value to the record it belongs to, so
// that a value copied into another row does not open there.
//
// A sealed value is Prefix, the nonce, then the ciphertext and tag.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Prefix marks a sealed value.
const Prefix = "mcpgate-aesgcm:"

// KeySize is the size of an encryption key: AES-256.
const KeySize = 32

var (
	// ErrNoKey means a value must be sealed or opened and no key is set.
	ErrNoKey = errors.New("seal: no encryption key")
	// ErrOpen means a sealed value opens with neither key: it was sealed
	// with another key, for another record, or it is damaged.
	ErrOpen = errors.New("seal: value cannot be decrypted")
)

// Keys are the encryption key and, while it is being rotated, the key it
// replaces: values are sealed with Current and opened with either.
type Keys struct {
	Current  []byte
	Previous []byte
}

// Check reports an error unless the keys are KeySize bytes each (or
// absent), and Previous comes with a Current.
func (k Keys) Check() error {
	if len(k.Current) != 0 && len(k.Current) != KeySize {
		return fmt.Errorf("seal: the encryption key must be %d bytes", KeySize)
	}
	if len(k.Previous) != 0 && (len(k.Previous) != KeySize || len(k.Current) == 0) {
		return fmt.Errorf("seal: the previous encryption key must be %d bytes, and needs a current one", KeySize)
	}
	return nil
}

// Sealed reports whether stored is a sealed value.
func Sealed(stored []byte) bool {
	return len(stored) >= len(Prefix) && string(stored[:len(Prefix)]) == Prefix
}

// Seal encrypts plain with Current, binding it to aad, which Open must be
// given again.
func (k Keys) Seal(plain, aad []byte) ([]byte, error) {
	if len(k.Current) == 0 {
		return nil, ErrNoKey
	}
	gcm, err := newGCM(k.Current)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte(Prefix), nonce...)
	return gcm.Seal(out, nonce, plain, aad), nil
}

// Open decrypts a sealed value with Current or else Previous and reports
// whether it was Current. It returns an error wrapping ErrOpen when
// neither opens it, and ErrNoKey when no key is set.
func (k Keys) Open(stored, aad []byte) (plain []byte, current bool, err error) {
	if !Sealed(stored) {
		return nil, false, fmt.Errorf("%w: it is not sealed", ErrOpen)
	}
	if len(k.Current) == 0 {
		return nil, false, ErrNoKey
	}
	rest := stored[len(Prefix):]
	for i, key := range [][]byte{k.Current, k.Previous} {
		if len(key) == 0 {
			continue
		}
		gcm, err := newGCM(key)
		if err != nil {
			return nil, false, err
		}
		if len(rest) < gcm.NonceSize() {
			return nil, false, fmt.Errorf("%w: it is truncated", ErrOpen)
		}
		if plain, err := gcm.Open(nil, rest[:gcm.NonceSize()], rest[gcm.NonceSize():], aad); err == nil {
			return plain, i == 0, nil
		}
	}
	return nil, false, fmt.Errorf("%w: it was encrypted with another key", ErrOpen)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
