package idp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Introspection is an identity provider asked about opaque tokens with
// [RFC 7662] token introspection.
//
// [RFC 7662]: https://www.rfc-editor.org/rfc/rfc7662
type Introspection struct {
	// URL is the provider's introspection endpoint.
	URL string
	// ClientID and ClientSecret authenticate mcpgate to the provider
	// (client_secret_basic, [RFC 6749] §2.3.1).
	//
	// [RFC 6749]: https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
	ClientID     string
	ClientSecret string
	// ClientSecretFunc, if set, is asked for the secret on every request
	// instead of ClientSecret, so that a secret rotated in a secret store
	// is used without a restart.
	ClientSecretFunc func() string
	// Issuer, if set, is the issuer of the tokens: a response naming
	// another iss is refused. Otherwise the response's iss is used, or the
	// origin of URL.
	Issuer string
	// Audience, if set, must be one of the aud values of the response;
	// empty means the endpoint's resource URL, as for [Issuer].
	Audience string
	// CacheTTL is how long an active token is trusted without asking
	// again, never beyond its exp; 0 means DefaultIntrospectionCacheTTL.
	// A token revoked at the provider works at most this long.
	CacheTTL time.Duration
	// NegativeTTL is how long an inactive token is remembered as such; 0
	// means DefaultNegativeTTL.
	NegativeTTL time.Duration
	// MaxTokenLifetime: as for [Issuer].
	MaxTokenLifetime time.Duration
	Claims
}

type introspector struct {
	cfg    Introspection
	opts   *Options
	health *health
	client *http.Client
	origin string
}

func newIntrospector(cfg Introspection, opts *Options) (*introspector, error) {
	u, err := CheckURL("introspection url", cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("introspection: a client id is required")
	}
	if cfg.Issuer != "" {
		if _, err := CheckURL("introspection issuer", cfg.Issuer); err != nil {
			return nil, err
		}
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultIntrospectionCacheTTL
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.MaxTokenLifetime <= 0 {
		cfg.MaxTokenLifetime = opts.MaxTokenLifetime
	}
	in := &introspector{cfg: cfg, opts: opts, origin: u.Scheme + "://" + u.Host}
	in.health = newHealth(u.Redacted(), opts.Logger, opts.Now)
	// Health is reported by verify, which alone knows whether an answer
	// was usable; the client only bounds the time.
	in.client = boundedClient(opts.Client, opts.Timeout)
	return in, nil
}

// introspectionResponse is the part of an RFC 7662 §2.2 response that
// mcpgate reads; every member is also in the raw map.
type introspectionResponse struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type"`
	Issuer    string `json:"iss"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
	Nbf       int64  `json:"nbf"`
}

// verify asks the provider about token. inactive reports an answer that
// the token is not active, which the caller may remember for a while.
func (in *introspector) verify(ctx context.Context, token string, now time.Time) (e *entry, inactive bool, err error) {
	if err := in.health.allow(); err != nil {
		return nil, false, refuse(mcpgate.ReasonUnavailable, "introspection: %v", err)
	}
	raw, err := in.ask(ctx, token)
	if err != nil {
		in.health.fail(err)
		return nil, false, refuse(mcpgate.ReasonUnavailable, "introspection: %v", err)
	}
	in.health.ok()
	var r introspectionResponse
	if b, err := json.Marshal(raw); err == nil {
		_ = json.Unmarshal(b, &r)
	}
	if !r.Active {
		return nil, true, errInactive
	}
	if r.TokenType != "" && !strings.EqualFold(r.TokenType, "bearer") && !strings.EqualFold(r.TokenType, "access_token") {
		return nil, false, refuse(mcpgate.ReasonWrongType, "introspection: token_type %q", r.TokenType)
	}
	issuer := in.cfg.Issuer
	switch {
	case issuer != "" && r.Issuer != "" && r.Issuer != issuer:
		return nil, false, refuse(mcpgate.ReasonWrongIssuer, "introspection: iss %q, not %q", r.Issuer, issuer)
	case issuer == "" && r.Issuer != "":
		issuer = r.Issuer
	case issuer == "":
		issuer = in.origin
	}
	leeway := in.opts.Leeway
	exp := unix(r.Exp)
	if !exp.IsZero() && !now.Before(exp.Add(leeway)) {
		return nil, false, refuse(mcpgate.ReasonExpired, "introspection: expired")
	}
	if nbf := unix(r.Nbf); !nbf.IsZero() && now.Add(leeway).Before(nbf) {
		return nil, false, refuse(mcpgate.ReasonExpired, "introspection: not valid yet")
	}
	aud := strings.Fields(joined(raw["aud"]))
	audience := in.cfg.Audience
	if audience == "" {
		if audience = mcpgate.ResourceFromContext(ctx); audience == "" {
			return nil, false, errNoResource
		}
	}
	if !slices.Contains(aud, audience) {
		return nil, false, refuse(mcpgate.ReasonWrongAudience, "introspection: audience %q does not name %q", aud, audience)
	}
	iat := unix(r.Iat)
	if err := lifetime(exp, iat, now, in.cfg.MaxTokenLifetime); err != nil {
		return nil, false, err
	}
	p := in.cfg.principal(issuer, raw, mcpgate.MethodIntrospection)
	if p.Subject == "" {
		return nil, false, refuse(mcpgate.ReasonMalformed, "introspection: %v", errNoSubject)
	}
	p.Audience = aud
	p.Expires = exp
	until := now.Add(in.cfg.CacheTTL)
	if !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	return &entry{p: p, issuedAt: iat, until: until.UnixNano(), perResource: in.cfg.Audience == ""}, false, nil
}

func unix(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

// ask posts token to the introspection endpoint and returns the decoded
// response.
func (in *introspector) ask(ctx context.Context, token string) (map[string]any, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	clientSecret := in.cfg.ClientSecret
	if in.cfg.ClientSecretFunc != nil {
		clientSecret = in.cfg.ClientSecretFunc()
	}
	req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(clientSecret))
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", in.health.name, resp.Status)
	}
	var raw map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", in.health.name, err)
	}
	return raw, nil
}
