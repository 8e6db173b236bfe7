package secret

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// EnvVar is one variable of a dotenv file.
type EnvVar struct {
	Name, Value string
	Line        int
}

// maxEnvFile bounds a dotenv file.
const maxEnvFile = 1 << 20

// ParseEnvFile reads a dotenv file: one NAME=VALUE per line, optionally
// after `export `; blank lines and lines starting with # are skipped. A
// value is taken as written, with surrounding blanks and a ` #` comment
// removed, unless it is quoted: 'single quotes' keep everything between
// them, "double quotes" understand \n, \t, \" and \\. A value does not
// span lines. Any other line is an error naming its line number and what
// is wrong, never the line itself, which may hold a secret.
func ParseEnvFile(r io.Reader) ([]EnvVar, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxEnvFile+1))
	sc.Buffer(make([]byte, 0, 4096), maxEnvFile+1)
	var vars []EnvVar
	size := 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		size += len(line) + 1
		if size > maxEnvFile+1 {
			return nil, fmt.Errorf("larger than %d bytes", maxEnvFile)
		}
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		v, ok, err := parseEnvLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if ok {
			v.Line = n
			vars = append(vars, v)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("larger than %d bytes", maxEnvFile)
		}
		return nil, err
	}
	return vars, nil
}

func parseEnvLine(line string) (EnvVar, bool, error) {
	s := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	if s == "" || s[0] == '#' {
		return EnvVar{}, false, nil
	}
	if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimSpace(rest)
	}
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return EnvVar{}, false, errors.New("want NAME=VALUE (no = found)")
	}
	name = strings.TrimSpace(name)
	if !validEnvName(name) {
		return EnvVar{}, false, errors.New("the name before = must be letters, digits and _, not starting with a digit")
	}
	value = strings.TrimLeft(value, " \t")
	v, err := envValue(value)
	if err != nil {
		return EnvVar{}, false, fmt.Errorf("%s: %w", name, err)
	}
	return EnvVar{Name: name, Value: v}, true, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// envValue reads the value after NAME=, with its leading blanks removed.
func envValue(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	var v, rest string
	switch s[0] {
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", errors.New("the single quote is not closed on this line")
		}
		v, rest = s[1:1+end], s[2+end:]
	case '"':
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] != '\\' {
				b.WriteByte(s[i])
				continue
			}
			i++
			if i == len(s) {
				break
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '"', '\\', '$', '\'':
				b.WriteByte(s[i])
			default:
				return "", fmt.Errorf("unknown escape \\%c in double quotes", s[i])
			}
		}
		if i >= len(s) {
			return "", errors.New("the double quote is not closed on this line")
		}
		v, rest = b.String(), s[i+1:]
	default:
		// An unquoted value ends at a blank followed by #.
		if i := strings.Index(s, " #"); i >= 0 {
			s = s[:i]
		}
		if i := strings.Index(s, "\t#"); i >= 0 {
			s = s[:i]
		}
		return strings.TrimRight(s, " \t"), nil
	}
	rest = strings.TrimSpace(rest)
	if rest != "" && rest[0] != '#' {
		return "", errors.New("text after the closing quote")
	}
	return v, nil
}

// LoadEnvFile sets the variables of the dotenv file at path (see
// [ParseEnvFile]) that the environment does not already have: a variable
// set by the caller, the shell or the service manager wins over the file.
// It returns the names it set. Values are never part of an error.
func LoadEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	vars, err := ParseEnvFile(f)
	if err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	var set []string
	preset := map[string]bool{}
	for _, v := range vars {
		if _, ok := os.LookupEnv(v.Name); ok && !slices.Contains(set, v.Name) {
			preset[v.Name] = true
		}
		if preset[v.Name] {
			continue
		}
		if err := os.Setenv(v.Name, v.Value); err != nil {
			return set, fmt.Errorf("env file %s: line %d: %s: cannot be set", path, v.Line, v.Name)
		}
		if !slices.Contains(set, v.Name) {
			set = append(set, v.Name) // a later line wins, as in a shell
		}
	}
	return set, nil
}
