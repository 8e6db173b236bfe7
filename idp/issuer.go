package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
)

// Issuer is an identity provider whose JWT access tokens are validated
// locally, against the keys it publishes.
type Issuer struct {
	// Issuer is the provider's issuer identifier, compared exactly with
	// each token's iss. Its metadata is read from
	// Issuer/.well-known/openid-configuration, or the RFC 8414 location.
	Issuer string
	// Audience, if set, must be one of each token's aud values, on every
	// MCP endpoint: for a provider that cannot put an endpoint's URL in
	// aud. Empty means the resource URL (RFC 8707) of the endpoint each
	// request is for, which the gateway names in the request's context
	// (mcpgate.WithResource): a token is then accepted only on the
	// endpoint it was issued for, and never where the context names none.
	Audience string
	// Algorithms allowed in the header; nil means [DefaultAlgorithms].
	// Only asymmetric ones may be named: never none, never HS*.
	Algorithms []string
	// TokenType, if set, is the only typ header accepted (for example
	// at+jwt, RFC 9068); otherwise a token may have typ at+jwt, JWT or none.
	TokenType string
	// JWKSURL, if set, is where the keys are, and the metadata is not read.
	JWKSURL string
	// MaxTokenLifetime refuses tokens that live longer (exp - iat), so
	// that a revocation can end when every token it covers has expired;
	// 0 means Options.MaxTokenLifetime.
	MaxTokenLifetime time.Duration
	Claims
}

// check validates cfg and fills in its defaults.
func (cfg *Issuer) check() error {
	if _, err := CheckURL("issuer", cfg.Issuer); err != nil {
		return err
	}
	if cfg.JWKSURL != "" {
		if _, err := CheckURL("issuer "+cfg.Issuer+": jwks_url", cfg.JWKSURL); err != nil {
			return err
		}
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	for _, a := range cfg.Algorithms {
		if !jose.Asymmetric(a) {
			return fmt.Errorf("issuer %s: algorithm %q not allowed (asymmetric JWS algorithms only: RS*, PS*, ES*, EdDSA)", cfg.Issuer, a)
		}
	}
	cfg.TokenType = strings.TrimPrefix(strings.ToLower(cfg.TokenType), "application/")
	return nil
}

// issuer verifies the tokens of one Issuer.
type issuer struct {
	cfg    Issuer
	opts   *Options
	health *health
	client *http.Client
	types  []string

	keys atomic.Pointer[jose.RemoteKeySet] // nil until the metadata was read

	discoverMu sync.Mutex // held by the one discovery in progress
	lastTry    atomic.Int64
}

func newIssuer(cfg Issuer, opts *Options) (*issuer, error) {
	if cfg.MaxTokenLifetime <= 0 {
		cfg.MaxTokenLifetime = opts.MaxTokenLifetime
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	is := &issuer{cfg: cfg, opts: opts}
	is.health = newHealth(cfg.Issuer, opts.Logger, opts.Now)
	is.client = watchedClient(opts.Client, is.health, opts.Timeout)
	if cfg.TokenType != "" {
		is.types = []string{cfg.TokenType}
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	_ = is.discover(ctx) // a failure is logged; tokens are refused until it succeeds
	return is, nil
}

func (is *issuer) close() {
	if ks := is.keys.Load(); ks != nil {
		ks.Close()
	}
}

var errNotDiscovered = errors.New("issuer metadata not loaded yet")

// keySet returns the issuer's keys, reading its metadata first if that
// has not succeeded yet (at most once per DiscoveryRetry).
func (is *issuer) keySet(ctx context.Context) (*jose.RemoteKeySet, error) {
	if ks := is.keys.Load(); ks != nil {
		return ks, nil
	}
	if time.Duration(is.opts.Now().UnixNano()-is.lastTry.Load()) < is.opts.DiscoveryRetry {
		return nil, errNotDiscovered
	}
	if err := is.discover(ctx); err != nil {
		return nil, err
	}
	return is.keys.Load(), nil
}

// discover reads the issuer's metadata and starts fetching its keys.
func (is *issuer) discover(ctx context.Context) error {
	if !is.discoverMu.TryLock() {
		return errNotDiscovered
	}
	defer is.discoverMu.Unlock()
	if is.keys.Load() != nil {
		return nil
	}
	is.lastTry.Store(is.opts.Now().UnixNano())
	jwksURL := is.cfg.JWKSURL
	if jwksURL == "" {
		var err error
		if jwksURL, err = is.metadata(ctx); err != nil {
			is.health.fail(err)
			return err
		}
	}
	ks, err := jose.NewRemoteKeySet(jwksURL, &jose.RemoteKeySetOptions{
		Client:          is.client,
		UnknownKeyEvery: is.opts.UnknownKeyEvery,
	})
	if err != nil {
		return err
	}
	is.keys.Store(ks)
	return nil
}

// metadata returns the jwks_uri of the issuer's OpenID Connect discovery
// document or, failing that, of its RFC 8414 authorization server
// metadata. Either must name the issuer exactly.
func (is *issuer) metadata(ctx context.Context) (string, error) {
	u, _ := url.Parse(is.cfg.Issuer)
	path := strings.TrimSuffix(u.Path, "/")
	candidates := []string{
		strings.TrimSuffix(is.cfg.Issuer, "/") + "/.well-known/openid-configuration",
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
	}
	var errs []error
	for _, c := range candidates {
		jwks, err := is.fetchMetadata(ctx, c)
		if err == nil {
			return jwks, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("issuer %s: metadata: %w", is.cfg.Issuer, errors.Join(errs...))
}

func (is *issuer) fetchMetadata(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := is.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	var m struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	if m.Issuer != is.cfg.Issuer {
		return "", fmt.Errorf("%s: names issuer %q, not %q", u, m.Issuer, is.cfg.Issuer)
	}
	if _, err := CheckURL("jwks_uri", m.JWKSURI); err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	return m.JWKSURI, nil
}

// verify checks a JWT of this issuer.
func (is *issuer) verify(ctx context.Context, token string, now time.Time) (*entry, error) {
	ks, err := is.keySet(ctx)
	if err != nil {
		return nil, refuse(mcpgate.ReasonUnavailable, "issuer %s: %v", is.cfg.Issuer, err)
	}
	audience := is.cfg.Audience
	if audience == "" {
		// Verify re-checks this endpoint, and every later one the
		// cached token is shown on.
		if audience = mcpgate.ResourceFromContext(ctx); audience == "" {
			return nil, errNoResource
		}
	}
	c, err := ks.Verify(ctx, token, jose.ForeignVerifyOptions{
		Algorithms: is.cfg.Algorithms,
		Issuer:     is.cfg.Issuer,
		Audience:   audience,
		Types:      is.types,
		Leeway:     is.opts.Leeway,
		Now:        func() time.Time { return now },
	})
	if err != nil {
		return nil, refuseErr(mcpgate.ReasonMalformed, err, "issuer %s: %v", is.cfg.Issuer, err)
	}
	if err := lifetime(c.Expires, c.IssuedAt, now, is.cfg.MaxTokenLifetime); err != nil {
		return nil, err
	}
	p := is.cfg.principal(is.cfg.Issuer, c.Raw, mcpgate.MethodJWT)
	if p.Subject == "" {
		return nil, refuse(mcpgate.ReasonMalformed, "issuer %s: %v", is.cfg.Issuer, errNoSubject)
	}
	p.Audience = c.Audience
	p.Expires = c.Expires
	return &entry{p: p, issuedAt: c.IssuedAt, until: c.Expires.Add(is.opts.Leeway).UnixNano(), perResource: is.cfg.Audience == ""}, nil
}
