package main

import (
	"log/slog"
	"net/url"
	"time"

	"github.com/mcpgate/mcpgate/idp"
)

// IssuerConfig is an identity provider whose JWT access tokens mcpgate
// accepts (`issuers:` in the config file; --jwt-issuer adds one).
type IssuerConfig struct {
	Issuer           string              `yaml:"issuer"`
	Audience         string              `yaml:"audience"`
	Algorithms       []string            `yaml:"algorithms"`
	TokenType        string              `yaml:"token_type"`
	JWKSURL          string              `yaml:"jwks_url"`
	MaxTokenLifetime duration            `yaml:"max_token_lifetime"`
	SubjectClaim     string              `yaml:"subject_claim"`
	TenantClaim      string              `yaml:"tenant_claim"`
	ScopeClaim       string              `yaml:"scope_claim"`
	Scopes           map[string][]string `yaml:"scopes"`
}

// IntrospectionConfig is an identity provider asked about opaque tokens
// (`introspection:` in the config file; the --introspection-* flags).
type IntrospectionConfig struct {
	URL              string              `yaml:"url"`
	ClientID         string              `yaml:"client_id"`
	ClientSecret     string              `yaml:"client_secret"`
	Issuer           string              `yaml:"issuer"`
	Audience         string              `yaml:"audience"`
	CacheTTL         duration            `yaml:"cache_ttl"`
	MaxTokenLifetime duration            `yaml:"max_token_lifetime"`
	SubjectClaim     string              `yaml:"subject_claim"`
	TenantClaim      string              `yaml:"tenant_claim"`
	ScopeClaim       string              `yaml:"scope_claim"`
	Scopes           map[string][]string `yaml:"scopes"`
}

// identityProviders builds the verifier of the identity providers that
// flags and the config file trust, or nil when there are none. Their
// tokens must name in aud the URL of the MCP endpoint they are used on
// (/mcp, /mcp/<name>), unless --jwt-audience or a provider's audience
// setting names one audience for every endpoint.
func (c *ServeCmd) identityProviders(g *Globals, ownIssuer string, logger *slog.Logger) (*idp.Verifier, error) {
	cfgs := append([]IssuerConfig(nil), g.file.Issuers...)
	for _, iss := range c.JWTIssuer {
		cfgs = append(cfgs, IssuerConfig{Issuer: iss})
	}
	in := g.file.Introspection
	if c.IntrospectionURL != "" {
		flagCfg := IntrospectionConfig{}
		if in != nil {
			flagCfg = *in
		}
		flagCfg.URL = c.IntrospectionURL
		in = &flagCfg
	}
	if in != nil {
		if c.IntrospectionClientID != "" {
			in.ClientID = c.IntrospectionClientID
		}
		if c.IntrospectionClientSecret != "" {
			in.ClientSecret = c.IntrospectionClientSecret
		}
	}
	if len(cfgs) == 0 && in == nil {
		return nil, nil
	}
	audience := func(own string) string {
		switch {
		case own != "":
			return own
		case c.JWTAudience != "":
			return c.JWTAudience
		}
		return "" // each endpoint's own URL
	}
	var issuers []idp.Issuer
	for _, ic := range cfgs {
		if ic.Issuer == ownIssuer {
			return nil, usagef("issuer %s is mcpgate's own authorization server; its tokens are trusted already", ic.Issuer)
		}
		issuers = append(issuers, idp.Issuer{
			Issuer: ic.Issuer, Audience: audience(ic.Audience), Algorithms: ic.Algorithms,
			TokenType: ic.TokenType, JWKSURL: ic.JWKSURL, MaxTokenLifetime: time.Duration(ic.MaxTokenLifetime),
			Claims: idp.Claims{SubjectClaim: ic.SubjectClaim, TenantClaim: ic.TenantClaim, ScopeClaim: ic.ScopeClaim, Scopes: ic.Scopes},
		})
	}
	var intro *idp.Introspection
	if in != nil {
		var clientSecret func() string
		if in.ClientSecret != "" {
			ref, err := g.loadSecret("--introspection-client-secret", in.ClientSecret)
			if err != nil {
				return nil, err
			}
			clientSecret = getter(ref, "--introspection-client-secret", logger)
		}
		intro = &idp.Introspection{
			URL: in.URL, ClientID: in.ClientID, ClientSecretFunc: clientSecret, Issuer: in.Issuer,
			Audience: audience(in.Audience), CacheTTL: time.Duration(in.CacheTTL), MaxTokenLifetime: time.Duration(in.MaxTokenLifetime),
			Claims: idp.Claims{SubjectClaim: in.SubjectClaim, TenantClaim: in.TenantClaim, ScopeClaim: in.ScopeClaim, Scopes: in.Scopes},
		}
	}
	v, err := idp.New(issuers, intro, &idp.Options{Timeout: c.IDPTimeout, MaxTokenLifetime: c.MaxTokenLifetime, Logger: logger})
	if err != nil {
		return nil, usageError{err}
	}
	return v, nil
}

// ownIssuer is the issuer of mcpgate's own tokens: --issuer, or the
// origin of the public URL.
func (c *ServeCmd) ownIssuer(publicURL string) string {
	if c.Issuer != "" {
		return c.Issuer
	}
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
