package authz

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// The functions in this file walk JSON that json.Valid has already accepted.
// They find the byte spans of values without decoding them, so that the
// parser reads only the members it needs and the list filter can copy every
// other byte of a message unchanged. On input that is not valid JSON their
// results are meaningless, but they never index out of range.

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// member is one name/value pair of a JSON object: key is the raw key
// including its quotes, and b[start:end] is the raw value.
type member struct {
	key        []byte
	start, end int
}

// eachMember calls fn for every member of the object starting at b[i] ==
// '{', in order, and returns the index just after the object. It stops at the
// first error fn returns.
func eachMember(b []byte, i int, fn func(m member) error) (int, error) {
	i = skipWS(b, i+1)
	for i < len(b) && b[i] != '}' {
		ks := i
		i = skipString(b, i)
		key := b[ks:i]
		i = skipWS(b, i)
		i = skipWS(b, i+1) // ':'
		vs := i
		i = skipValue(b, i)
		if err := fn(member{key: key, start: vs, end: i}); err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	return i + 1, nil
}

// eachElement calls fn with the span of every element of the array starting
// at b[i] == '[', in order, and returns the index just after the array.
func eachElement(b []byte, i int, fn func(start, end int) error) (int, error) {
	i = skipWS(b, i+1)
	for i < len(b) && b[i] != ']' {
		s := i
		i = skipValue(b, i)
		if err := fn(s, i); err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	return i + 1, nil
}

// decodeString decodes a raw JSON string (with quotes). Strings without
// escapes, the common case, are converted without going through
// encoding/json; invalid UTF-8 is replaced the way encoding/json does it.
func decodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	simple := utf8.Valid(inner)
	for _, c := range inner {
		if c == '\\' {
			simple = false
			break
		}
	}
	if simple {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// keyFold reports whether the raw object key equals name under Unicode
// case folding (strings.EqualFold), after unescaping. Plain ASCII keys, the
// common case, are compared without allocating.
func keyFold(raw []byte, name string) (exact, folded bool) {
	if len(raw) < 2 {
		return false, false
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' || c >= utf8.RuneSelf {
			k, ok := decodeString(raw)
			return ok && k == name, ok && strings.EqualFold(k, name)
		}
	}
	if len(inner) != len(name) {
		return false, false
	}
	exact = true
	for i, c := range inner {
		if c != name[i] {
			exact = false
			if lowerASCII(c) != lowerASCII(name[i]) {
				return false, false
			}
		}
	}
	return exact, true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
