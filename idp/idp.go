// Package idp lets mcpgate trust the identity provider a company already
// runs (Keycloak, Entra ID, Okta, Auth0, Google, …) in two ways: it
// validates the provider's JWT access tokens locally against its JWKS
// ([Issuer]), and it asks the provider about opaque tokens with RFC 7662
// introspection ([Introspection]).
//
// Both are served by one [Verifier], an authn.Verifier that the gateway
// tries after its API keys and its own tokens. A verified token is cached
// by its SHA-256 until it expires, so a request costs a map lookup rather
// than a signature check or a round trip; concurrent first uses of one
// token verify it once. Revocations from mcpgate's change feed (token,
// subject and client changes, each for one issuer or every issuer) are
// checked on every request and purge the cache.
//
// Every refusal, including an identity provider that cannot be reached,
// matches [mcpgate.ErrUnauthenticated]: the client gets the same 401 as
// for any bad token, and the reason goes to the log only.
//
// In a server of your own, the verifier goes into an authenticator, after
// API keys if there are any (examples/oidc in the repository is a whole
// server):
//
//	tokens, err := idp.New([]idp.Issuer{{
//		Issuer:   "https://id.example.com/realms/acme",
//		Audience: "https://mcp.example.com/mcp",
//	}}, nil, nil)
//	auth := authn.New(authn.Chain(keys, tokens), &authn.Options{ResourceMetadataURL: prm})
package idp

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
)

// Defaults of [Options], [Issuer] and [Introspection].
const (
	// MaxTokenBytes bounds a token: a larger one is refused before it is
	// hashed or parsed.
	MaxTokenBytes = 16 << 10
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat, the
	// same as for mcpgate's own tokens.
	DefaultLeeway = jose.Leeway
	// DefaultTimeout bounds one request to an identity provider.
	DefaultTimeout = 5 * time.Second
	// DefaultCacheSize bounds the verified tokens kept in memory.
	DefaultCacheSize = 10_000
	// DefaultMaxTokenLifetime is the longest lifetime (exp - iat) of a
	// token accepted, the same as for mcpgate's own tokens; a revocation
	// stays in force that long.
	DefaultMaxTokenLifetime = jose.DefaultMaxLifetime
	// DefaultIntrospectionCacheTTL is how long an introspected token is
	// trusted without asking again (never beyond its exp).
	DefaultIntrospectionCacheTTL = time.Minute
	// DefaultNegativeTTL is how long a token the provider called inactive
	// is remembered as such.
	DefaultNegativeTTL = 5 * time.Second
)

// DefaultAlgorithms are the signature algorithms accepted from an issuer
// that names none.
var DefaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// Options configure a [Verifier]. The zero value is valid.
type Options struct {
	// Client makes the requests to identity providers (discovery, JWKS,
	// introspection); nil means a plain client. Each request is bounded by
	// Timeout whatever the client's own timeout.
	Client *http.Client
	// Timeout bounds one request to an identity provider; 0 means
	// DefaultTimeout. A token that needs a provider that does not answer
	// in time is refused.
	Timeout time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means
	// DefaultLeeway.
	Leeway time.Duration
	// MaxTokenLifetime is the longest lifetime (exp - iat) accepted from
	// an issuer or introspection endpoint that sets none of its own; 0
	// means DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration
	// CacheSize bounds the verified tokens kept; 0 means DefaultCacheSize.
	CacheSize int
	// UnknownKeyEvery is the least time between two JWKS fetches of one
	// issuer caused by tokens with an unknown kid; 0 means 30 s.
	UnknownKeyEvery time.Duration
	// DiscoveryRetry is the least time between two attempts to read an
	// issuer's metadata after a failure; 0 means 10 s.
	DiscoveryRetry time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one warning when an identity provider stops
	// answering and one notice when it answers again; nil means
	// slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.Client == nil {
		d.Client = &http.Client{}
	}
	if d.Timeout <= 0 {
		d.Timeout = DefaultTimeout
	}
	if d.Leeway <= 0 {
		d.Leeway = DefaultLeeway
	}
	if d.MaxTokenLifetime <= 0 {
		d.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if d.CacheSize <= 0 {
		d.CacheSize = DefaultCacheSize
	}
	if d.UnknownKeyEvery <= 0 {
		d.UnknownKeyEvery = 30 * time.Second
	}
	if d.DiscoveryRetry <= 0 {
		d.DiscoveryRetry = 10 * time.Second
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

// Claims say which claims of a provider's token (or introspection
// response) make up the principal.
type Claims struct {
	// SubjectClaim holds the subject; "" means "sub". A token without it
	// (a client_credentials token of some providers) takes its client id.
	SubjectClaim string
	// TenantClaim, if set, holds the tenant.
	TenantClaim string
	// ScopeClaim holds the scopes, a space-separated string or an array;
	// "" means "scope", then "scp".
	ScopeClaim string
	// Scopes maps a provider's scope, role or group to mcpgate scopes.
	// Values of the scope claim that it does not name are kept as they
	// are; values of the "roles" and "groups" claims count only when it
	// names them.
	Scopes map[string][]string
}

// refuse is a refused token: it matches mcpgate.ErrUnauthenticated, names
// reason for the audit log, and its detail is logged, never sent to the
// client.
func refuse(reason, format string, args ...any) error {
	return mcpgate.Refused(reason, fmt.Sprintf(format, args...))
}

// refuseErr refuses for err, naming err's own reason (a jose verification
// error names one) or else fallback.
func refuseErr(fallback string, err error, format string, args ...any) error {
	reason := mcpgate.Reason(err)
	if reason == "" {
		reason = fallback
	}
	return mcpgate.Refused(reason, fmt.Sprintf(format, args...))
}

// principal builds the principal of a verified token from its claims.
func (c *Claims) principal(issuer string, raw map[string]any, method string) mcpgate.Principal {
	p := mcpgate.Principal{Issuer: issuer, Method: method}
	p.ClientID = firstString(raw, "client_id", "azp", "appid", "cid")
	p.Subject = firstString(raw, cmp(c.SubjectClaim, "sub"))
	if p.Subject == "" {
		p.Subject = p.ClientID
	}
	if c.TenantClaim != "" {
		p.Tenant = firstString(raw, c.TenantClaim)
	}
	p.TokenID = firstString(raw, "jti")
	var scopes []string
	if c.ScopeClaim != "" {
		scopes = strings.Fields(joined(raw[c.ScopeClaim]))
	} else if s := joined(raw["scope"]); s != "" {
		scopes = strings.Fields(s)
	} else {
		scopes = strings.Fields(joined(raw["scp"]))
	}
	if len(c.Scopes) > 0 {
		var mapped []string
		for _, s := range scopes {
			if m, ok := c.Scopes[s]; ok {
				mapped = append(mapped, m...)
			} else {
				mapped = append(mapped, s)
			}
		}
		for _, claim := range []string{"roles", "groups"} {
			for _, g := range strings.Fields(joined(raw[claim])) {
				mapped = append(mapped, c.Scopes[g]...)
			}
		}
		scopes = mapped
	}
	slices.Sort(scopes)
	p.Scopes = slices.Clip(slices.Compact(scopes))
	return p
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// firstString returns the first of names that raw holds as a non-empty
// string.
func firstString(raw map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := raw[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// joined returns a claim that is a string or an array of strings as one
// space-separated string. Values holding spaces are dropped from arrays,
// so that one array element never becomes two scopes.
func joined(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var parts []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" && !strings.ContainsAny(s, " \t\n") {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// CheckURL checks the URL of an issuer or of a provider endpoint: https,
// or http on a loopback address (development and tests).
func CheckURL(what, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, s, err)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%s %q: must be an absolute URL without user info or fragment", what, s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return nil, fmt.Errorf("%s %q: must be https (plain http only on a loopback address)", what, s)
		}
	default:
		return nil, fmt.Errorf("%s %q: must be https", what, s)
	}
	return u, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
