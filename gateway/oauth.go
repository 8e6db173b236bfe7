package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/login"
	"github.com/mcpgate/mcpgate/oauth"
)

// OAuthOptions turn on the embedded OAuth 2.1 authorization server and its
// login, consent and connected-apps pages. The store must also implement
// mcpgate.OAuthStore and mcpgate.UserStore (both SQLite and Postgres do).
type OAuthOptions struct {
	// Issuer defaults to the origin of the public URL.
	Issuer string
	// RegistrationToken, when set, is required to register clients
	// dynamically (RFC 7591 initial access token); empty means open
	// registration, rate-limited per address.
	RegistrationToken string
	// DisableRegistration turns dynamic registration off.
	DisableRegistration bool
	// DisableCIMD turns Client ID Metadata Documents off.
	DisableCIMD bool
	// AllowLoopbackCIMD lets metadata documents be fetched from loopback
	// http URLs; for local testing only.
	AllowLoopbackCIMD bool
	// KeyEncryptionKey, 32 bytes, encrypts token signing keys at rest.
	KeyEncryptionKey []byte
	// AccessTokenTTL defaults to 10 minutes.
	AccessTokenTTL time.Duration
}

// loginPaths are served by the login package.
var loginPaths = []string{"/login", "/login/", "/consent", "/apps", "/logout"}

// setupOAuth builds the authorization server and pages and registers them
// on mux; it returns the verifier for the authentication chain.
func (g *Gateway) setupOAuth(mux *http.ServeMux) error {
	o := g.opts.OAuth
	store, ok := g.opts.Store.(mcpgate.OAuthStore)
	if !ok {
		return fmt.Errorf("gateway: the store does not support OAuth")
	}
	users, ok := g.opts.Store.(mcpgate.UserStore)
	if !ok {
		return fmt.Errorf("gateway: the store does not support local users")
	}
	srv, err := oauth.New(store, &oauth.Options{
		Resource:            g.resource(),
		Issuer:              o.Issuer,
		ScopesSupported:     g.opts.ScopesSupported,
		AccessTokenTTL:      o.AccessTokenTTL,
		RegistrationToken:   o.RegistrationToken,
		DisableRegistration: o.DisableRegistration,
		DisableCIMD:         o.DisableCIMD,
		AllowLoopbackCIMD:   o.AllowLoopbackCIMD,
		KeyEncryptionKey:    o.KeyEncryptionKey,
		Keys:                g.opts.Store,
		Now:                 g.opts.Now,
		Logger:              g.logger,
		Alerts: func(ctx context.Context, kind string, attrs ...any) {
			g.logger.Warn("security alert", append([]any{"alert", kind}, attrs...)...)
		},
	})
	if err != nil {
		return err
	}
	pages, err := login.New(login.OAuthBackend(srv, srv), users, srv.Grants(), g.keys, &login.Options{
		Issuer: srv.Issuer(),
		Now:    g.opts.Now,
		Logger: g.logger,
	})
	if err != nil {
		return err
	}
	g.oauth = srv
	for _, p := range srv.Paths() {
		mux.Handle(p, srv.Handler())
	}
	ph := pages.Handler()
	for _, p := range loginPaths {
		mux.Handle(p, ph)
	}
	return nil
}

// ErrNoAuthServer is returned by SignIdentity when the gateway runs
// without its authorization server, whose keys sign identity assertions.
var ErrNoAuthServer = errors.New("gateway: identity assertions need the embedded authorization server")

// SignIdentity signs an identity assertion for an upstream (see
// oauth.Server.SignIdentity); it fits proxy.IdentityOptions.Sign.
func (g *Gateway) SignIdentity(claims map[string]any) (string, error) {
	if g.oauth == nil {
		return "", ErrNoAuthServer
	}
	return g.oauth.SignIdentity(claims)
}
