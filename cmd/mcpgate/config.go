package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/proxy"
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
	// CORSOrigins are the origins of web pages that may call the MCP
	// endpoints (--cors-origins).
	CORSOrigins []string `yaml:"cors_origins"`

	// Secret settings take references (env:, file:, vault:), as their
	// flags do.
	EncryptionKey         string `yaml:"encryption_key"`
	EncryptionKeyPrevious string `yaml:"encryption_key_previous"`
	RegistrationToken     string `yaml:"registration_token"`

	Upstreams []UpstreamConfig `yaml:"upstreams"`

	// Rate limits per principal (see ratelimit.go); Redis shares them
	// across replicas.
	RateLimits *RateLimitsConfig `yaml:"rate_limits"`
	Redis      string            `yaml:"redis"`

	// Identity providers whose tokens are trusted (see idp.go).
	Issuers       []IssuerConfig       `yaml:"issuers"`
	Introspection *IntrospectionConfig `yaml:"introspection"`

	// OpenID providers offered on the sign-in page (see federation.go).
	LoginProviders []LoginProviderConfig `yaml:"login_providers"`

	// Security alerts by webhook (see alerts.go).
	Alerts *AlertsConfig `yaml:"alerts"`
}

// UpstreamConfig is one MCP server the gateway fronts: a proxy.Upstream
// (name, and url or command with env, dir and mode), served at /mcp/<name>
// unless Path says otherwise, with an optional scope policy.
type UpstreamConfig struct {
	proxy.Upstream `yaml:",inline"`
	Path           string        `yaml:"path"`
	Policy         *authz.Policy `yaml:"policy"`
	// IdentityJWT adds X-Mcpgate-Identity: a short-lived JWT signed with
	// the authorization server's key (verifiable with /jwks.json), beside
	// the plain identity headers. HTTP upstreams only.
	IdentityJWT bool `yaml:"identity_jwt"`
	// ForwardIDPToken sends the caller's access token from the identity
	// provider they signed in with (login_providers) as Authorization:
	// mcpgate's own token for that user, refreshed when it expires, never
	// the MCP client's. HTTP upstreams only.
	ForwardIDPToken bool `yaml:"forward_idp_token"`
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
		return nil, configError(err, b)
	}
	ups := make([]proxy.Upstream, len(cfg.Upstreams))
	for i, u := range cfg.Upstreams {
		ups[i] = u.Upstream
		if u.Path != "" && !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("upstream %q: path %q must start with /", u.Name, u.Path)
		}
		if u.IdentityJWT && u.URL == "" {
			return nil, fmt.Errorf("upstream %q: identity_jwt applies to url upstreams only", u.Name)
		}
		if u.ForwardIDPToken && u.URL == "" {
			return nil, fmt.Errorf("upstream %q: forward_idp_token applies to url upstreams only", u.Name)
		}
		if u.Policy != nil {
			if err := u.Policy.Validate(); err != nil {
				return nil, fmt.Errorf("upstream %q: policy: %w", u.Name, err)
			}
		}
	}
	if err := proxy.ValidateAll(ups); err != nil {
		return nil, err
	}
	return cfg, nil
}
