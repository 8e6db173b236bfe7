package doctor

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Challenge is one challenge of a WWW-Authenticate header (RFC 9110
// §11.6.1): an auth scheme and either auth parameters or a token68.
type Challenge struct {
	// Scheme is the auth scheme as sent ("Bearer"); compare it with
	// strings.EqualFold.
	Scheme string
	// Params holds the auth parameters by lower-cased name, quoted values
	// unescaped.
	Params map[string]string
	// Token68 is the challenge's token68, when it has one instead of
	// parameters.
	Token68 string
}

// ErrMalformedChallenge is returned by ParseChallenges for a header that
// does not follow the grammar of RFC 9110 §11.6.1.
var ErrMalformedChallenge = errors.New("malformed WWW-Authenticate")

// ParseChallenges parses the value of a WWW-Authenticate header (several
// header lines joined with ", ") into its challenges, in order. It returns
// an error wrapping ErrMalformedChallenge for anything outside the grammar,
// including a parameter repeated within one challenge.
//
// [RFC 9110 §11.6.1]: https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
func ParseChallenges(h string) ([]Challenge, error) {
	p := &challengeParser{s: h}
	var out []Challenge
	for {
		p.skipListSeparators()
		if p.done() {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return nil, p.errorf("expected an auth scheme")
		}
		c := Challenge{Scheme: scheme, Params: map[string]string{}}
		if err := p.challengeBody(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) done() bool { return p.i >= len(p.s) }

func (p *challengeParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *challengeParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformedChallenge, fmt.Sprintf(format, args...), p.i)
}

func (p *challengeParser) skipSpace() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *challengeParser) skipListSeparators() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

// token reads a token (RFC 9110 §5.6.2), or returns "" without moving.
func (p *challengeParser) token() string {
	start := p.i
	for !p.done() && isTChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func isTChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

// challengeBody reads what follows a scheme: nothing, a token68, or a
// comma-separated list of auth parameters, stopping before the next
// challenge's scheme.
func (p *challengeParser) challengeBody(c *Challenge) error {
	if p.done() || p.peek() == ',' {
		return nil
	}
	if p.peek() != ' ' && p.peek() != '\t' {
		return p.errorf("expected a space after the scheme %q", c.Scheme)
	}
	p.skipSpace()
	if t, ok := p.token68(); ok {
		c.Token68 = t
		return nil
	}
	for {
		p.skipListSeparators()
		if p.done() {
			return nil
		}
		start := p.i
		name := p.token()
		p.skipSpace()
		if name == "" || p.peek() != '=' {
			if name == "" {
				return p.errorf("expected an auth parameter")
			}
			p.i = start // the next challenge's scheme
			return nil
		}
		p.i++ // '='
		p.skipSpace()
		var val string
		if p.peek() == '"' {
			v, err := p.quoted()
			if err != nil {
				return err
			}
			val = v
		} else if val = p.token(); val == "" {
			return p.errorf("parameter %q has no value", name)
		}
		key := strings.ToLower(name)
		if _, dup := c.Params[key]; dup {
			return p.errorf("parameter %q repeated", name)
		}
		c.Params[key] = val
		p.skipSpace()
		if p.done() {
			return nil
		}
		if p.peek() != ',' {
			return p.errorf("expected a comma after parameter %q", name)
		}
	}
}

// token68 reads a token68 that makes up the whole challenge body (it is
// followed by the end or a comma, and is not the start of a parameter),
// or reports false without moving.
func (p *challengeParser) token68() (string, bool) {
	start := p.i
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == start {
		return "", false
	}
	k := j
	for k < len(p.s) && p.s[k] == '=' {
		k++
	}
	end := k
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false // name=value, or garbage the parameter path reports
	}
	p.i = k
	return p.s[start:end], true
}

// quoted reads a quoted-string and returns it unescaped.
func (p *challengeParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			p.i++
			if p.done() {
				return "", p.errorf("quoted string ends in a backslash")
			}
			c = p.s[p.i]
			if c < 0x20 && c != '\t' || c == 0x7f {
				return "", p.errorf("control character in quoted string")
			}
			b.WriteByte(c)
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", p.errorf("control character in quoted string")
		default:
			b.WriteByte(c)
		}
		p.i++
	}
	return "", p.errorf("unterminated quoted string")
}

// String formats the challenge as a WWW-Authenticate value that
// ParseChallenges reads back unchanged: parameters sorted by name, every
// value quoted.
func (c Challenge) String() string {
	if c.Token68 != "" {
		return c.Scheme + " " + c.Token68
	}
	names := make([]string, 0, len(c.Params))
	for k := range c.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(c.Scheme)
	for i, k := range names {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		v := c.Params[k]
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[j])
		}
		b.WriteByte('"')
	}
	return b.String()
}

// bearerChallenge returns the first Bearer challenge of h.
func bearerChallenge(h string) (Challenge, bool, error) {
	cs, err := ParseChallenges(h)
	if err != nil {
		return Challenge{}, false, err
	}
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, "Bearer") {
			return c, true, nil
		}
	}
	return Challenge{}, false, nil
}
