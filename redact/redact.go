// Package redact keeps credentials out of mcpgate's logs.
//
// [NewHandler] wraps any slog.Handler and masks, before the inner handler
// sees them, the values of attributes named like credentials
// (Authorization, Cookie, password, token, …), and anything in any string,
// message, error, map or formatted value that is shaped like an mcpgate API
// key, a JWT or a "Bearer <token>" credential. [String] does the same for
// free text such as a child process's stderr, and [Recover] logs panics
// through it.
package redact

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/mcpgate/mcpgate/apikey"
)

// Mask replaces a credential.
const Mask = "[REDACTED]"

// keyPublicLen is the length of the public part of an API key that is kept
// when the key is masked: "mcpg_<keyid>_".
const keyPublicLen = len(apikey.Prefix) + apikey.IDLen + 1

// jwtPattern finds a compact JWS or JWE: three to five base64url segments,
// the first starting with "eyJ" (the encoding of `{"`).
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,4}`)

// clientSecretPattern finds a client secret of the embedded authorization
// server: "mcps_" and 32 random bytes in base64url.
var clientSecretPattern = regexp.MustCompile(`mcps_[A-Za-z0-9_-]{43,}`)

const clientSecretPrefix = "mcps_"

// String returns s with every API key, client secret, JWT and bearer
// credential in it masked. An API key keeps its public id, so that an operator can tell
// which key it was: "mcpg_<keyid>_[REDACTED]". A JWT becomes "[REDACTED]",
// and "Bearer <token>" becomes "Bearer [REDACTED]".
//
// String is meant for text that is written to logs; it returns s itself,
// without allocating, when s holds nothing to mask.
func String(s string) string {
	if strings.Contains(s, apikey.Prefix) {
		s = apikey.Pattern.ReplaceAllStringFunc(s, func(k string) string {
			return k[:keyPublicLen] + Mask
		})
	}
	if strings.Contains(s, "eyJ") {
		s = jwtPattern.ReplaceAllLiteralString(s, Mask)
	}
	if strings.Contains(s, clientSecretPrefix) {
		s = clientSecretPattern.ReplaceAllLiteralString(s, clientSecretPrefix+Mask)
	}
	if indexBearer(s, 0) >= 0 {
		s = maskBearer(s)
	}
	if strings.IndexByte(s, '=') >= 0 || strings.IndexByte(s, ':') >= 0 {
		s = maskParams(s)
	}
	if strings.Contains(s, "://") && strings.IndexByte(s, '@') >= 0 {
		s = userinfoPattern.ReplaceAllString(s, "${1}"+Mask+"@")
	}
	return s
}

// userinfoPattern finds the password of a URL's user info
// (scheme://user:password@host), which URLs of databases and caches carry.
var userinfoPattern = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@`)

// maskedKey finds an API key already masked by String.
var maskedKey = regexp.MustCompile(`mcpg_[0-9A-Za-z]{12}_\[REDACTED\]`)

// maskParams masks the values of credential-named parameters written as
// text: query and form parameters (`access_token=…&`), header lines
// (`Authorization: Basic …`), YAML (`password: …`), and JSON members
// (`"client_secret":"…"`). A value holding an API key masked earlier is
// reduced to that key, so that its public id stays visible.
func maskParams(s string) string {
	var b strings.Builder
	last := 0
	for d := 0; d < len(s); d++ {
		j := strings.IndexAny(s[d:], "=:")
		if j < 0 {
			break
		}
		d += j
		start, end, ok := paramValue(s, d)
		if !ok {
			continue
		}
		v := s[start:end]
		masked := Mask
		if k := maskedKey.FindString(v); k != "" {
			masked = k // keep the public id of a key masked earlier
		} else if scheme := authScheme(v); scheme != "" {
			masked = scheme + " " + Mask // "Basic [REDACTED]" says more than "[REDACTED]"
		}
		if v == masked {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		b.WriteString(masked)
		last = end
		d = end - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// paramValue reports where the value of the parameter whose delimiter ('='
// or ':') is at s[d] lies, if the parameter's name names a credential and
// the value is not empty.
func paramValue(s string, d int) (start, end int, ok bool) {
	ne := d
	jsonName := s[d] == ':' && ne > 0 && s[ne-1] == '"'
	if jsonName {
		ne--
	}
	ns := ne
	for ns > 0 && (isWordByte(s[ns-1]) || s[ns-1] == '-' || s[ns-1] == '%') {
		ns--
	}
	name := s[ns:ne]
	if strings.IndexByte(name, '%') >= 0 {
		// A percent-encoded name (access%5Ftoken) names the same parameter.
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
	}
	if ns == ne || !SensitiveKey(name) {
		return 0, 0, false
	}
	if jsonName && (ns == 0 || s[ns-1] != '"') {
		return 0, 0, false
	}
	start = d + 1
	if s[d] == ':' {
		for start < len(s) && (s[start] == ' ' || s[start] == '\t') {
			start++
		}
	}
	if start < len(s) && (s[start] == '"' || s[start] == '\'') {
		// A quoted value: mask what is inside the quotes.
		q := s[start]
		start++
		end = start
		for end < len(s) && s[end] != q {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		end = min(end, len(s))
	} else {
		if jsonName {
			return 0, 0, false // a number, boolean or object: nothing textual
		}
		stop := "&#;, \t\r\n\"'<>)]}"
		if s[d] == ':' {
			// A header or YAML value runs to the end of the line, or to
			// the end of what quotes or brackets it.
			stop = "\r\n\"'<>)]}"
		}
		if start < len(s) && s[start] == '[' && !strings.HasPrefix(s[start:], Mask) {
			start++ // a value printed by fmt as a slice: [v1 v2]
		}
		end = start
		for end < len(s) {
			if strings.HasPrefix(s[end:], Mask) {
				end += len(Mask) // a mask is part of the value, brackets and all
				continue
			}
			if strings.IndexByte(stop, s[end]) >= 0 {
				break
			}
			end++
		}
	}
	return start, end, end > start
}

// authScheme returns the HTTP authentication scheme v starts with, if it
// is Bearer or Basic and is followed by a space.
func authScheme(v string) string {
	for _, scheme := range []string{"Bearer", "Basic"} {
		if len(v) > len(scheme) && v[len(scheme)] == ' ' && strings.EqualFold(v[:len(scheme)], scheme) {
			return v[:len(scheme)]
		}
	}
	return ""
}

// indexBearer returns the index of the first "bearer" (any case) at or
// after from that starts a word, or -1.
func indexBearer(s string, from int) int {
	for i := from; i+6 <= len(s); {
		// Two SIMD byte searches beat strings.IndexAny's per-call set.
		lo := strings.IndexByte(s[i:len(s)-5], 'b')
		up := strings.IndexByte(s[i:len(s)-5], 'B')
		switch {
		case lo < 0 && up < 0:
			return -1
		case lo < 0 || (up >= 0 && up < lo):
			i += up
		default:
			i += lo
		}
		if (i == 0 || !isWordByte(s[i-1])) && strings.EqualFold(s[i:i+6], "bearer") {
			return i
		}
		i++
	}
	return -1
}

// maskBearer replaces the token of each "Bearer <token>" in s. The token is
// a token68 (RFC 6750 §2.1) after one or more blanks. An auth-param such as
// `Bearer realm="x"` or `Bearer error=invalid_token` is left alone, as is a
// token already masked.
func maskBearer(s string) string {
	var b strings.Builder
	last := 0
	for i := indexBearer(s, 0); i >= 0; i = indexBearer(s, i) {
		i += 6
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j == i {
			continue // "bearer" glued to what follows: a longer word
		}
		start := j
		for j < len(s) && isToken68Byte(s[j]) {
			j++
		}
		if j == start {
			continue
		}
		end := j
		for end < len(s) && s[end] == '=' {
			end++
		}
		if end == j+1 && end < len(s) && (s[end] == '"' || isWordByte(s[end])) {
			continue // name=value: an auth-param, not a credential
		}
		if strings.HasPrefix(s[end:], Mask) {
			continue // the rest of an API key already masked
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		b.WriteString(Mask)
		last = end
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

func isToken68Byte(c byte) bool {
	return isWordByte(c) || c == '-' || c == '.' || c == '~' || c == '+' || c == '/'
}

// SensitiveKey reports whether an attribute, header or map key names a
// credential, whose value is then masked whole. The match ignores case and
// treats '-' as '_': "Authorization", "X-Api-Key", "client_secret",
// "Set-Cookie", "refresh_token", "password", ….
func SensitiveKey(k string) bool {
	if len(k) > 32 {
		return false
	}
	var buf [32]byte
	for i := range len(k) {
		c := k[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '-':
			c = '_'
		}
		buf[i] = c
	}
	switch string(buf[:len(k)]) {
	case "authorization", "proxy_authorization",
		"cookie", "set_cookie",
		"password", "passwd", "secret", "client_secret", "private_key",
		"token", "access_token", "refresh_token", "id_token", "code_verifier",
		"api_key", "apikey", "x_api_key":
		return true
	}
	return false
}

// maskValue is what a sensitive key's string value becomes: Mask, or, when
// it holds an API key, the key's public part and Mask.
func maskValue(s string) string {
	if loc := apikey.Pattern.FindStringIndex(s); loc != nil {
		return s[loc[0]:loc[0]+keyPublicLen] + Mask
	}
	return Mask
}
