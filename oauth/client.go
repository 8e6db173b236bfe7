package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client sources.
const (
	SourceCLI  = "cli"
	SourceDCR  = "dcr"
	SourceCIMD = "cimd"
)

// Grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// lookupClient returns an active client by id: from the store, or, for an
// https URL, from its Client ID Metadata Document.
func (s *Server) lookupClient(ctx context.Context, id string) (*mcpgate.Client, error) {
	if id == "" {
		return nil, mcpgate.ErrNotFound
	}
	if s.cimd.isCIMD(id) {
		if s.opts.DisableCIMD {
			return nil, mcpgate.ErrNotFound
		}
		if s.revoked.client(id) {
			return nil, mcpgate.ErrNotFound
		}
		// A CIMD client revoked by an administrator is kept in the store.
		if c, err := s.clients.Client(ctx, id); err == nil && !c.RevokedAt.IsZero() {
			return nil, mcpgate.ErrNotFound
		}
		c, err := s.cimd.resolve(ctx, id)
		if errors.Is(err, ErrBlockedAddress) {
			s.opts.Logger.WarnContext(ctx, "oauth: client metadata URL refused", "client_id", id, "err", err)
			s.opts.Alerts(ctx, "oauth.cimd_blocked", "client_id", id)
		}
		return c, err
	}
	c, err := s.clients.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	if !c.RevokedAt.IsZero() {
		return nil, mcpgate.ErrNotFound
	}
	return c, nil
}

// VerifyClient authenticates the client of a token, revocation or
// introspection request: client_secret_basic or client_secret_post for
// confidential clients, client_id alone for public ones. JWT client
// assertions are not supported.
func (s *opServer) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	cc := r.Data
	if cc.ClientAssertion != "" {
		return nil, invalidClient("client assertions are not supported")
	}
	c, err := s.lookupClient(ctx, cc.ClientID)
	if err != nil {
		return nil, invalidClient("unknown client")
	}
	if !secretMatches(c, cc.ClientSecret) {
		return nil, invalidClient("client authentication failed")
	}
	return &opClient{c: c, s: s.Server}, nil
}

// secretMatches reports whether secret authenticates c: a confidential
// client must present its secret, a public client must present none.
func secretMatches(c *mcpgate.Client, secret string) bool {
	if c.SecretHash == nil {
		return secret == ""
	}
	if secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare(hashToken(secret), c.SecretHash) == 1
}

func invalidClient(desc string) error {
	return op.NewStatusError(oidc.ErrInvalidClient().WithDescription("%s", desc), http.StatusUnauthorized)
}

// opClient adapts a client to the library's view of it.
type opClient struct {
	c *mcpgate.Client
	s *Server
}

func (c *opClient) GetID() string                       { return c.c.ID }
func (c *opClient) RedirectURIs() []string              { return c.c.RedirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) LoginURL(id string) string            { return c.s.loginURL(id) }
func (c *opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *opClient) IDTokenLifetime() time.Duration       { return 0 }
func (c *opClient) DevMode() bool                        { return false }
func (c *opClient) IsScopeAllowed(string) bool           { return true }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *opClient) AuthMethod() oidc.AuthMethod {
	if c.c.SecretHash == nil {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *opClient) GrantTypes() []oidc.GrantType {
	gts := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		gts = append(gts, oidc.GrantType(g))
	}
	return gts
}

func clientOf(c op.Client) *mcpgate.Client { return c.(*opClient).c }

func (s *Server) loginURL(id string) string {
	sep := "?"
	if strings.Contains(s.opts.LoginURL, "?") {
		sep = "&"
	}
	return s.opts.LoginURL + sep + "req=" + url.QueryEscape(id)
}

// validRedirectURI reports whether u may be registered as a redirect URI:
// https; http on a loopback host (RFC 8252 §7.3); or one of the configured
// private-use schemes of native apps (RFC 8252 §7.1), such as cursor://.
// It must be absolute, without fragment or user information.
func validRedirectURI(u string, privateSchemes []string) error {
	p, err := url.Parse(u)
	if err != nil {
		return errors.New("not a URL")
	}
	if p.Fragment != "" || strings.Contains(u, "#") {
		return errors.New("must not contain a fragment")
	}
	if p.User != nil {
		return errors.New("must not contain user information")
	}
	switch {
	case p.Scheme == "https" && p.Host != "":
		return nil
	case p.Scheme == "http" && p.Host != "":
		if isLoopbackHost(p.Hostname()) {
			return nil
		}
		return errors.New("http is allowed only for loopback hosts")
	case p.Scheme != "" && p.Scheme != "http" && p.Scheme != "https" && slices.Contains(privateSchemes, p.Scheme) && (p.Host != "" || p.Path != ""):
		return nil
	}
	return errors.New("must be https, http on a loopback host, or an allowed native app scheme")
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// redirectAllowed reports whether the requested redirect URI matches one
// of the registered ones exactly, except that a loopback http URI may use
// any port (RFC 8252 §7.3): scheme, host, path and query must still match.
func redirectAllowed(registered []string, requested string) bool {
	if slices.Contains(registered, requested) {
		return true
	}
	q, err := url.Parse(requested)
	if err != nil || q.Scheme != "http" || !isLoopbackHost(q.Hostname()) || q.Fragment != "" || q.User != nil {
		return false
	}
	for _, r := range registered {
		p, err := url.Parse(r)
		if err != nil || p.Scheme != "http" || !isLoopbackHost(p.Hostname()) {
			continue
		}
		if p.Hostname() == q.Hostname() && p.EscapedPath() == q.EscapedPath() && p.RawQuery == q.RawQuery {
			return true
		}
	}
	return false
}

// Client returns the active client with id: a stored one, or the client
// its metadata document describes when id is an https URL. It returns
// mcpgate.ErrNotFound for an unknown or revoked client.
func (s *Server) Client(ctx context.Context, id string) (*mcpgate.Client, error) {
	c, err := s.lookupClient(ctx, id)
	if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
		s.opts.Logger.WarnContext(ctx, "oauth: client lookup", "client_id", id, "err", err)
		return nil, mcpgate.ErrNotFound
	}
	return c, err
}
