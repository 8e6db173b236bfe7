package login

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password hashing parameters: the OWASP baseline for argon2id (19 MiB of
// memory, two passes, one lane), a 128-bit salt and a 256-bit hash.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on what CheckPassword accepts from a stored hash, so a corrupted or
// hostile row cannot make one login allocate gigabytes or spin for minutes.
const (
	maxArgonMemory  = 256 * 1024 // KiB
	maxArgonTime    = 16
	maxArgonThreads = 16
	minSaltLen      = 8
	maxSaltLen      = 64
	minKeyLen       = 16
	maxKeyLen       = 64
)

// Password length limits, in bytes for the maximum (argon2 would hash a
// megabyte happily, which is a cheap way to burn a server's CPU) and in
// characters for the minimum.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// Errors about passwords and their hashes.
var (
	// ErrPasswordTooShort is returned by HashPassword for a password under
	// MinPasswordLen characters.
	ErrPasswordTooShort = fmt.Errorf("password must be at least %d characters", MinPasswordLen)
	// ErrPasswordTooLong is returned for a password over MaxPasswordLen bytes.
	ErrPasswordTooLong = fmt.Errorf("password must be at most %d bytes", MaxPasswordLen)
	// ErrBadHash means a stored hash is not a PHC argon2id string this
	// package can check.
	ErrBadHash = errors.New("malformed argon2id password hash")
)

// HashPassword returns the argon2id hash of pw as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, salt and hash in unpadded
// standard base64. Each call uses a new random salt.
func HashPassword(pw string) (string, error) {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return "", ErrPasswordTooShort
	}
	if len(pw) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	p := phc{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	p.hash = argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, argonKeyLen)
	return p.String(), nil
}

// CheckPassword reports whether pw matches the PHC argon2id hash phc. The
// comparison is constant-time. It returns ErrBadHash, and false, if phc is
// not a well-formed argon2id hash within sane cost bounds.
func CheckPassword(phcHash, pw string) (bool, error) {
	p, err := parsePHC(phcHash)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.hash)))
	return subtle.ConstantTimeCompare(got, p.hash) == 1, nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	hash    []byte
}

func (p phc) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads,
		b64.EncodeToString(p.salt), b64.EncodeToString(p.hash))
}

// parsePHC parses s strictly: the exact field order HashPassword writes,
// version 19, decimal numbers without signs or leading zeros, and costs
// within the max* bounds.
func parsePHC(s string) (phc, error) {
	var p phc
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, ErrBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("%w: unsupported version", ErrBadHash)
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, ErrBadHash
	}
	m, okm := phcUint(params[0], "m=", maxArgonMemory)
	t, okt := phcUint(params[1], "t=", maxArgonTime)
	th, okp := phcUint(params[2], "p=", maxArgonThreads)
	if !okm || !okt || !okp || t < 1 || th < 1 || m < 8*th {
		return p, fmt.Errorf("%w: bad parameters", ErrBadHash)
	}
	// The decoder skips CR and LF; a stored hash has neither.
	if strings.ContainsAny(parts[4]+parts[5], "\r\n") {
		return p, fmt.Errorf("%w: bad encoding", ErrBadHash)
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, fmt.Errorf("%w: bad salt", ErrBadHash)
	}
	hash, err := b64.DecodeString(parts[5])
	if err != nil || len(hash) < minKeyLen || len(hash) > maxKeyLen {
		return p, fmt.Errorf("%w: bad hash", ErrBadHash)
	}
	p.memory, p.time, p.threads, p.salt, p.hash = m, t, uint8(th), salt, hash
	return p, nil
}

// phcUint parses "<prefix><decimal>" with 1 <= value <= max.
func phcUint(s, prefix string, max uint32) (uint32, bool) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || digits == "" || len(digits) > 10 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || n == 0 || n > uint64(max) {
		return 0, false
	}
	return uint32(n), true
}
