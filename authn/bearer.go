package authn

import (
	"fmt"
	"net/http"

	"github.com/mcpgate/mcpgate"
)

// MaxTokenLen bounds the length of a bearer token. API keys are 67 bytes,
// mcpgate's access tokens a few hundred, and an identity provider's can
// carry many group claims (Entra ID tokens reach several kilobytes);
// anything longer than 16 KiB is refused before any work is done on it.
const MaxTokenLen = 16 << 10

// Errors for a request whose Authorization header carries no usable bearer
// credential. Both match [mcpgate.ErrUnauthenticated] with errors.Is.
var (
	// ErrNoCredential means the request has no Authorization header, or one
	// with a scheme other than Bearer. Per RFC 6750 §3.1 such a 401 carries no
	// error code.
	ErrNoCredential error = rejection{mcpgate.ReasonNoCredential, "no bearer credential"}
	// ErrMalformed means a Bearer credential was presented but is not a
	// well-formed token68, or several Authorization headers were sent.
	ErrMalformed error = rejection{mcpgate.ReasonMalformed, "malformed bearer credential"}
)

// ParseBearer returns the token of an Authorization header value of the form
// "Bearer <token>". The scheme is matched case-insensitively (RFC 7235 §2.1),
// one or more spaces separate it from the token, and the token must be a
// token68 (RFC 6750 §2.1): letters, digits, "-._~+/", then optional "=".
// Anything else, including control characters, surrounding whitespace and
// tokens longer than [MaxTokenLen], is rejected with [ErrMalformed]; an
// empty value or another scheme yields [ErrNoCredential].
func ParseBearer(header string) (string, error) {
	if header == "" {
		return "", ErrNoCredential
	}
	if len(header) > MaxTokenLen+len("Bearer ")+16 {
		return "", ErrMalformed
	}
	const scheme = "bearer"
	i := 0
	for i < len(header) && isTchar(header[i]) {
		i++
	}
	if i != len(scheme) || !equalFoldASCII(header[:i], scheme) {
		if i > 0 && (i == len(header) || header[i] == ' ') {
			// A well-formed header of another scheme (Basic, Digest…).
			return "", errScheme
		}
		return "", ErrMalformed
	}
	for i < len(header) && header[i] == ' ' {
		i++
	}
	if i == len(scheme) {
		return "", ErrMalformed // no space after the scheme
	}
	token := header[i:]
	if !isToken68(token) || len(token) > MaxTokenLen {
		return "", ErrMalformed
	}
	return token, nil
}

var errScheme = fmt.Errorf("%w (unsupported scheme)", ErrNoCredential)

// BearerFromRequest returns the bearer token of r. It refuses a request that
// carries more than one Authorization header, since which of them a proxy
// or a handler would pick is not defined.
func BearerFromRequest(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", ErrNoCredential
	case 1:
		return ParseBearer(vals[0])
	default:
		return "", ErrMalformed
	}
}

// isToken68 reports whether s matches
// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	for i < len(s) && isToken68Char(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '+', '/':
		return true
	}
	return false
}

// isTchar reports whether c may appear in an RFC 9110 token (an auth scheme).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func equalFoldASCII(s, lower string) bool {
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
