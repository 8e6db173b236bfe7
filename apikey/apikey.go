// Package apikey defines the mcpgate API key format,
//
//	mcpg_<keyid>_<secret><checksum>
//
// and the functions that generate, parse, hash and recognise keys.
//
// The key id is 12 base62 characters and public: it names the key in the
// store, in logs and in `mcpgate keys list`. The secret is 43 base62
// characters drawn from crypto/rand by rejection sampling, about 256 bits.
// The checksum is the CRC-32 (IEEE) of everything before it, as 6 base62
// characters padded with '0'. Every part has a fixed length, so a key is
// exactly [Len] bytes and parses without ambiguity.
//
// Only a SHA-256 digest of the secret is stored. Because the secret is 256
// random bits there is nothing for a slow password hash to protect against,
// and a fast digest keeps a key check well under a microsecond.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash/crc32"
	"regexp"
	"unsafe"
)

// Lengths of the parts of a key.
const (
	Prefix      = "mcpg_"
	IDLen       = 12
	SecretLen   = 43
	ChecksumLen = 6
	// Len is the length of every key.
	Len = len(Prefix) + IDLen + 1 + SecretLen + ChecksumLen
)

// Pattern finds strings shaped like an mcpgate key in free text. It checks
// the shape only; use [Looks] to confirm the checksum. It has no boundary
// assertions so that a key glued to other text is still found.
var Pattern = regexp.MustCompile(`mcpg_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}`)

// ErrMalformed is returned by [Parse] for anything that is not a well-formed
// key. The wrapped message says which rule failed; it is meant for logs and
// must never be sent to a client.
var ErrMalformed = errors.New("malformed api key")

// parseError says which rule a malformed key broke; it matches ErrMalformed.
type parseError string

func (e parseError) Error() string        { return ErrMalformed.Error() + ": " + string(e) }
func (e parseError) Is(target error) bool { return target == ErrMalformed }

const (
	errLength   = parseError("wrong length")
	errPrefix   = parseError("wrong prefix")
	errSep      = parseError("missing separator")
	errCharset  = parseError("character outside base62")
	errChecksum = parseError("checksum mismatch")
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Offsets of the parts inside a key.
const (
	idStart       = len(Prefix)
	sepAt         = idStart + IDLen
	secretStart   = sepAt + 1
	checksumStart = secretStart + SecretLen
)

// Generate returns a new random key, its public id and the SHA-256 digest of
// its secret, which is what a store keeps. The key itself is shown to its
// owner once and never stored.
func Generate() (key string, id string, hash []byte, err error) {
	var buf [IDLen + SecretLen]byte
	if err := randomBase62(buf[:]); err != nil {
		return "", "", nil, err
	}
	id = string(buf[:IDLen])
	secret := string(buf[IDLen:])
	return Format(id, secret), id, Hash(secret), nil
}

// randomBase62 fills dst with uniformly random base62 characters. A random
// byte is used only if it is below 248 (4×62), so that every character is
// equally likely; the rest are rejected and redrawn.
func randomBase62(dst []byte) error {
	var pool [64]byte
	n := 0
	for i := 0; i < len(dst); {
		if n == 0 {
			if _, err := rand.Read(pool[:]); err != nil {
				return err
			}
			n = len(pool)
		}
		n--
		b := pool[n]
		if b >= 248 {
			continue
		}
		dst[i] = alphabet[b%62]
		i++
	}
	return nil
}

// Format assembles a key from a key id and a secret, appending the
// checksum. It does not validate its arguments; [Parse] of the result
// succeeds only if both are base62 of the right lengths.
func Format(id, secret string) string {
	b := make([]byte, 0, Len)
	b = append(b, Prefix...)
	b = append(b, id...)
	b = append(b, '_')
	b = append(b, secret...)
	var sum [ChecksumLen]byte
	encodeChecksum(&sum, crc32.ChecksumIEEE(b))
	b = append(b, sum[:]...)
	return string(b)
}

// encodeChecksum writes c as ChecksumLen base62 digits, most significant
// first, padded with '0'. 62^6 > 2^32, so every CRC-32 fits.
func encodeChecksum(dst *[ChecksumLen]byte, c uint32) {
	for i := ChecksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[c%62]
		c /= 62
	}
}

// Parse checks that s is a well-formed key (prefix, lengths, separators,
// base62 characters and checksum) and returns its public id and its secret.
// The returned strings share memory with s. Errors wrap [ErrMalformed].
func Parse(s string) (id string, secret string, err error) {
	if err := check(s); err != nil {
		return "", "", err
	}
	return s[idStart:sepAt], s[secretStart:checksumStart], nil
}

// Looks reports whether s is exactly a well-formed key, checksum included.
// Secret scanners and the log redactor use it to tell real keys from noise
// without a database.
func Looks(s string) bool {
	return check(s) == nil
}

func check(s string) error {
	if len(s) != Len {
		return errLength
	}
	if s[:idStart] != Prefix {
		return errPrefix
	}
	if s[sepAt] != '_' {
		return errSep
	}
	if !allBase62(s[idStart:sepAt]) || !allBase62(s[secretStart:]) {
		return errCharset
	}
	var want [ChecksumLen]byte
	encodeChecksum(&want, crc32Of(s[:checksumStart]))
	if string(want[:]) != s[checksumStart:] {
		return errChecksum
	}
	return nil
}

// crc32Of computes the IEEE CRC-32 of s. It views the string's bytes in
// place (crc32 only reads them) because copying them would escape to the
// heap through crc32's assembly dispatch, costing an allocation per check.
func crc32Of(s string) uint32 {
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func allBase62(s string) bool {
	for i := range len(s) {
		if !base62Set[s[i]] {
			return false
		}
	}
	return true
}

// base62Set marks the bytes of the alphabet; a table lookup keeps the
// charset check of a 67-byte key to a few nanoseconds.
var base62Set = func() (set [256]bool) {
	for i := range len(alphabet) {
		set[alphabet[i]] = true
	}
	return set
}()

// Hash returns the SHA-256 digest of a key's secret part, the form in which
// stores keep it.
func Hash(secret string) []byte {
	h := sum(secret)
	return h[:]
}

func sum(secret string) [sha256.Size]byte {
	if len(secret) <= SecretLen {
		var buf [SecretLen]byte
		n := copy(buf[:], secret)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(secret))
}

// Verify reports whether secret hashes to stored, comparing the digests in
// constant time.
func Verify(stored []byte, secret string) bool {
	h := sum(secret)
	return subtle.ConstantTimeCompare(stored, h[:]) == 1
}
