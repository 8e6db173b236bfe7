package login

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate"
)

// MaxUsernameLen bounds a local user's name, in bytes.
const MaxUsernameLen = 64

// ErrNoPassword is returned by ReadPassword when the input holds no
// password.
var ErrNoPassword = errors.New("no password given on standard input")

// ReadPassword reads a password for `mcpgate users add NAME` from r: the
// first line, without its line ending, so both `echo pw | mcpgate users add`
// and a typed line work. Nothing past the first line is read into memory
// beyond a small buffer, and a line over MaxPasswordLen bytes is an error.
func ReadPassword(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, MaxPasswordLen+3), MaxPasswordLen+3)
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if len(line) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	if line == "" {
		return "", ErrNoPassword
	}
	return line, nil
}

// ValidateUsername reports whether name may be a local user's name: 1 to
// MaxUsernameLen bytes of valid UTF-8 with no spaces or control characters.
// The name becomes the subject of the user's tokens.
func ValidateUsername(name string) error {
	switch {
	case name == "":
		return errors.New("user name is empty")
	case len(name) > MaxUsernameLen:
		return fmt.Errorf("user name is longer than %d bytes", MaxUsernameLen)
	case !utf8.ValidString(name):
		return errors.New("user name is not valid UTF-8")
	}
	for _, c := range name {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == unicode.ReplacementChar {
			return fmt.Errorf("user name %q contains a space or control character", name)
		}
	}
	// Federated people's subjects start so (federation.Subject); a local
	// user of that name would share their notes, grants and tokens.
	if strings.HasPrefix(name, "oidc:") {
		return fmt.Errorf("user name %q: names starting with oidc: are those of people who sign in with an identity provider", name)
	}
	return nil
}

// NoPassword is the password hash of a user row that is no local user:
// the mark of a disabled federated subject (DisabledFederatedUser). It is
// no PHC string, so CheckPassword never accepts a password for it, and
// the sign-in form does not even try (see checkPassword).
const NoPassword = "!"

// DisabledFederatedUser returns the row that records the federated subject
// (federation.IsFederated) as disabled at now. People who sign in at an
// identity provider have no user row; a row of their name, disabled and
// with NoPassword, is the smallest record the store already keeps, lists
// (users list), and that every replica reads: the federation callback and
// consent refuse its subject (federatedDisabled), and enabling deletes
// the row. users add cannot create such a name (ValidateUsername), and no
// password signs in to it.
func DisabledFederatedUser(subject string, now time.Time) *mcpgate.User {
	now = now.UTC()
	return &mcpgate.User{Name: subject, PasswordHash: NoPassword, CreatedAt: now, DisabledAt: now}
}

// NewUser validates name and password and returns the user to store, with
// the password hashed. scopes cap what the user may grant to apps; none
// means no cap (any scope the server supports).
func NewUser(name, tenant, password string, scopes []string, now time.Time) (*mcpgate.User, error) {
	if err := ValidateUsername(name); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	return &mcpgate.User{Name: name, Tenant: tenant, PasswordHash: hash, Scopes: scopes, CreatedAt: now.UTC()}, nil
}
