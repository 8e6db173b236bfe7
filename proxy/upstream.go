package proxy

import (
	"errors"
	"fmt"
	"net/http"
)

// Upstream is one upstream MCP server as the configuration names it:
// either URL (an HTTP server) or Command (a stdio program). It is served at
// Path().
type Upstream struct {
	Name    string            `yaml:"name" json:"name"`
	URL     string            `yaml:"url,omitempty" json:"url,omitempty"`
	Command []string          `yaml:"command,omitempty" json:"command,omitempty"` // program and arguments
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Dir     string            `yaml:"dir,omitempty" json:"dir,omitempty"`
	Mode    string            `yaml:"mode,omitempty" json:"mode,omitempty"` // ModePerSession (default) or ModeShared
}

// Path returns where the gateway serves the upstream: /mcp/<name>.
func (u *Upstream) Path() string { return "/mcp/" + u.Name }

// Validate reports the first problem with u: a name that is not 1 to 64 of
// a-z, 0-9, '.', '_' and '-' (starting with a letter or digit), neither or
// both of URL and Command, or settings that only apply to a command.
func (u *Upstream) Validate() error {
	if !validName(u.Name) {
		return fmt.Errorf("upstream name %q: want 1-64 of a-z 0-9 . _ - starting with a letter or digit", u.Name)
	}
	switch {
	case u.URL == "" && len(u.Command) == 0:
		return fmt.Errorf("upstream %s: needs url or command", u.Name)
	case u.URL != "" && len(u.Command) > 0:
		return fmt.Errorf("upstream %s: has both url and command", u.Name)
	case u.URL != "" && (len(u.Env) > 0 || u.Dir != "" || u.Mode != ""):
		return fmt.Errorf("upstream %s: env, dir and mode apply to a command only", u.Name)
	case len(u.Command) > 0 && u.Command[0] == "":
		return fmt.Errorf("upstream %s: empty program", u.Name)
	case u.Mode != "" && u.Mode != ModePerSession && u.Mode != ModeShared:
		return fmt.Errorf("upstream %s: mode %q: want %s or %s", u.Name, u.Mode, ModePerSession, ModeShared)
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// New returns the handler for u, and a function that releases it (stops
// its processes; a no-op for HTTP). Policy, Logger and Now of opts apply to
// both kinds; the rest only to HTTP upstreams.
func New(u Upstream, opts *Options) (http.Handler, func() error, error) {
	if err := u.Validate(); err != nil {
		return nil, nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger != nil {
		o.Logger = o.Logger.With("upstream_name", u.Name)
	}
	if u.URL != "" {
		h, err := NewHTTP(u.URL, &o)
		if err != nil {
			return nil, nil, fmt.Errorf("upstream %s: %w", u.Name, err)
		}
		return h, func() error { return nil }, nil
	}
	s, err := NewStdio(Command{Path: u.Command[0], Args: u.Command[1:], Env: u.Env, Dir: u.Dir},
		&StdioOptions{Mode: u.Mode, Policy: o.Policy, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return nil, nil, fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	return s, s.Close, nil
}

// ValidateAll checks every upstream and that no two share a name.
func ValidateAll(us []Upstream) error {
	seen := make(map[string]bool, len(us))
	var errs []error
	for i := range us {
		if err := us[i].Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[us[i].Name] {
			errs = append(errs, fmt.Errorf("upstream %s: name used twice", us[i].Name))
		}
		seen[us[i].Name] = true
	}
	return errors.Join(errs...)
}
