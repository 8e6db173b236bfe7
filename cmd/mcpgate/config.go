package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/mcpgate/mcpgate/authz"
)

// Config is the YAML config file. Every scalar setting also has a flag and
// an environment variable, which win over the file; upstreams and policies
// live only here.
type Config struct {
	Data      string `yaml:"data"`
	Store     string `yaml:"store"`
	Listen    string `yaml:"listen"`
	PublicURL string `yaml:"public_url"`
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
	Docs      string `yaml:"docs"`

	Upstreams []UpstreamConfig `yaml:"upstreams"`
}

// UpstreamConfig describes one MCP server the gateway fronts, at
// /mcp/<name> (or Path). Exactly one of URL and Command is set.
type UpstreamConfig struct {
	Name    string            `yaml:"name"`
	Path    string            `yaml:"path"`
	URL     string            `yaml:"url"`
	Command []string          `yaml:"command"`
	Env     map[string]string `yaml:"env"`
	Dir     string            `yaml:"dir"`
	// Mode is "per-session" (a child per MCP session, the default) or
	// "shared" (one child for every session).
	Mode   string        `yaml:"mode"`
	Policy *authz.Policy `yaml:"policy"`
}

// LoadConfig reads and checks a config file. Unknown keys are errors, so a
// misspelt setting is reported instead of silently ignored.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func parseConfig(b []byte) (*Config, error) {
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	seen := map[string]bool{}
	for i, u := range cfg.Upstreams {
		if u.Name == "" {
			return nil, fmt.Errorf("upstreams[%d]: name is required", i)
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("upstreams[%d]: duplicate name %q", i, u.Name)
		}
		seen[u.Name] = true
		if (u.URL == "") == (len(u.Command) == 0) {
			return nil, fmt.Errorf("upstream %q: set exactly one of url and command", u.Name)
		}
		switch u.Mode {
		case "", "per-session", "shared":
		default:
			return nil, fmt.Errorf("upstream %q: mode must be per-session or shared, not %q", u.Name, u.Mode)
		}
		if u.Policy != nil {
			if err := u.Policy.Validate(); err != nil {
				return nil, fmt.Errorf("upstream %q: policy: %w", u.Name, err)
			}
		}
	}
	return cfg, nil
}
