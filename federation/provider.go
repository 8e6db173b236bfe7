package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/jose"
)

// provider is a configured Provider with what its discovery document says,
// read on first use.
type provider struct {
	Provider
	id     string
	client *http.Client

	mu      sync.Mutex
	meta    *metadata
	keys    *jose.RemoteKeySet
	lastTry time.Time
}

// metadata is the part of an OpenID Provider's discovery document used
// here ([OpenID Connect Discovery 1.0] §3).
//
// [OpenID Connect Discovery 1.0]: https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata
type metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
}

// discoverEvery is the least time between two failed discoveries.
const discoverEvery = 5 * time.Second

// maxMetadataBytes bounds a discovery document.
const maxMetadataBytes = 1 << 20

// discover returns the provider's metadata and key set, fetching them the
// first time. A failure is retried at most every discoverEvery.
func (p *provider) discover(ctx context.Context, now time.Time) (*metadata, *jose.RemoteKeySet, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.meta != nil {
		return p.meta, p.keys, nil
	}
	if !p.lastTry.IsZero() && now.Sub(p.lastTry) < discoverEvery {
		return nil, nil, fmt.Errorf("%w: %s: discovery failed moments ago", ErrUnavailable, p.Issuer)
	}
	p.lastTry = now
	m, err := p.fetchMetadata(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, p.Issuer, err)
	}
	keys, err := jose.NewRemoteKeySet(m.JWKSURI, &jose.RemoteKeySetOptions{Client: p.client})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: key set: %v", ErrUnavailable, p.Issuer, err)
	}
	p.meta, p.keys = m, keys
	return m, keys, nil
}

func (p *provider) fetchMetadata(ctx context.Context) (*metadata, error) {
	u := strings.TrimSuffix(p.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery: %s answered %s", u, resp.Status)
	}
	var m metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadataBytes)).Decode(&m); err != nil {
		return nil, fmt.Errorf("discovery: %s: %v", u, err)
	}
	// The document must be the issuer's own (OpenID Connect Discovery
	// §4.3), or ID tokens would be checked against another issuer.
	if m.Issuer != p.Issuer {
		return nil, fmt.Errorf("discovery: %s names issuer %q, not %q", u, m.Issuer, p.Issuer)
	}
	for name, v := range map[string]string{"authorization_endpoint": m.AuthorizationEndpoint, "token_endpoint": m.TokenEndpoint, "jwks_uri": m.JWKSURI} {
		if err := CheckIssuer(v); err != nil {
			return nil, fmt.Errorf("discovery: %s: %s %q is not an https URL", u, name, v)
		}
	}
	return &m, nil
}

// config is the OAuth 2.0 client configuration for the provider.
func (p *provider) config(m *metadata, redirectURL string) (*oauth2.Config, error) {
	var secret string
	if p.ClientSecret != nil {
		s, err := p.ClientSecret()
		if err != nil && s == "" {
			return nil, fmt.Errorf("federation: %s: client secret: %w", p.Issuer, err)
		}
		secret = s
	}
	return &oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{AuthURL: m.AuthorizationEndpoint, TokenURL: m.TokenEndpoint},
		RedirectURL:  redirectURL,
		Scopes:       p.Scopes,
	}, nil
}
