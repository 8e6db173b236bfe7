package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/alert"
	"github.com/mcpgate/mcpgate/login"
	"github.com/mcpgate/mcpgate/oauth"
)

// OAuthOptions configure the embedded OAuth 2.1 authorization server that
// NewAuthServer builds.
type OAuthOptions struct {
	// Issuer defaults to the origin of the public URL.
	Issuer string
	// RegistrationToken, when set, is required to register clients
	// dynamically (RFC 7591 initial access token); empty means open
	// registration, rate-limited per address.
	RegistrationToken string
	// RegistrationTokenFunc, if set, replaces RegistrationToken and is
	// asked on every registration, so a rotated token takes effect at once.
	RegistrationTokenFunc func() string
	// DisableRegistration turns dynamic registration off.
	DisableRegistration bool
	// DisableCIMD turns Client ID Metadata Documents off.
	DisableCIMD bool
	// AllowLoopbackCIMD lets metadata documents be fetched from loopback
	// http URLs; for local testing only.
	AllowLoopbackCIMD bool
	// KeyEncryptionKey, 32 bytes, encrypts token signing keys at rest.
	KeyEncryptionKey []byte
	// PreviousKeyEncryptionKey is the key KeyEncryptionKey replaces,
	// during its rotation: keys encrypted with it are still read.
	PreviousKeyEncryptionKey []byte
	// AccessTokenTTL defaults to 10 minutes.
	AccessTokenTTL time.Duration
	// MaxTokenLifetime refuses access tokens living longer (exp - iat);
	// 0 means 24 hours.
	MaxTokenLifetime time.Duration
}

// loginPaths are served by the login package.
var loginPaths = []string{"/login", "/login/", "/consent", "/apps", "/logout"}

// NewAuthServer builds the embedded authorization server for the MCP
// endpoint at publicURL, configured by o, with the logger, clock and
// scopes of opts (nil for the defaults). Build it before the upstreams
// whose identity assertions it signs, and hand it to New as
// Options.AuthServer. The store must also implement mcpgate.OAuthStore.
func NewAuthServer(store mcpgate.Store, publicURL string, o *OAuthOptions, opts *Options) (*oauth.Server, error) {
	public, err := ParsePublicURL(publicURL)
	if err != nil {
		return nil, err
	}
	os, ok := store.(mcpgate.OAuthStore)
	if !ok {
		return nil, fmt.Errorf("gateway: the store does not support OAuth")
	}
	if o == nil {
		o = &OAuthOptions{}
	}
	base := opts.withDefaults()
	logger := base.Logger
	return oauth.New(os, &oauth.Options{
		Resource:                 resourceOf(public),
		Issuer:                   o.Issuer,
		ScopesSupported:          base.ScopesSupported,
		AccessTokenTTL:           o.AccessTokenTTL,
		MaxTokenLifetime:         o.MaxTokenLifetime,
		RegistrationToken:        o.RegistrationToken,
		RegistrationTokenFunc:    o.RegistrationTokenFunc,
		DisableRegistration:      o.DisableRegistration,
		DisableCIMD:              o.DisableCIMD,
		AllowLoopbackCIMD:        o.AllowLoopbackCIMD,
		KeyEncryptionKey:         o.KeyEncryptionKey,
		PreviousKeyEncryptionKey: o.PreviousKeyEncryptionKey,
		Keys:                     store,
		Limiter:                  base.Limiter,
		ErrorPage:                login.AuthorizeErrorPage,
		Now:                      base.Now,
		Logger:                   logger,
		Alerts: func(_ context.Context, kind string, attrs ...any) {
			base.Alerts(oauthAlert(base.Now(), kind, attrs))
		},
	})
}

// oauthKinds name the authorization server's alerts as package alert does.
var oauthKinds = map[string]string{
	"oauth.refresh_token_reuse": alert.KindRefreshReuse,
	"oauth.code_reuse":          alert.KindCodeReuse,
	"oauth.cimd_blocked":        alert.KindCIMDBlocked,
}

// oauthAlert turns an alert of the authorization server, a kind and
// slog-style key-value pairs, into an alert.Alert. Its principal is the
// user the alert is about ("tenant/subject", as mcpgate.Principal.ID
// spells it) or, for alerts about a client alone, the client id.
func oauthAlert(now time.Time, kind string, attrs []any) alert.Alert {
	a := alert.Alert{Kind: kind, Time: now, Detail: map[string]any{}}
	if k, ok := oauthKinds[kind]; ok {
		a.Kind = k
	}
	var subject, tenant, client string
	for i := 0; i+1 < len(attrs); i += 2 {
		key, ok := attrs[i].(string)
		if !ok {
			continue
		}
		switch v := attrs[i+1]; key {
		case "subject":
			subject, _ = v.(string)
		case "tenant":
			tenant, _ = v.(string)
		case "client_id":
			client, _ = v.(string)
			a.Detail[key] = v
		default:
			a.Detail[key] = v
		}
	}
	if subject != "" {
		a.Principal = (&mcpgate.Principal{Subject: subject, Tenant: tenant}).ID()
	} else {
		a.Principal = client
	}
	return a
}

// setupOAuth mounts the authorization server and its login, consent and
// connected-apps pages on mux.
func (g *Gateway) setupOAuth(mux *http.ServeMux, srv *oauth.Server) error {
	users, ok := g.store.(mcpgate.UserStore)
	if !ok {
		return fmt.Errorf("gateway: the store does not support local users")
	}
	var fed login.Federation
	if g.opts.Federation != nil {
		fed = g.opts.Federation
	}
	// Sign-in sessions live in the store when it keeps them, so that any
	// replica serves any page of a sign-in; otherwise in this process.
	sessions, _ := g.store.(mcpgate.SigninSessionStore)
	pages, err := login.New(login.OAuthBackend(srv, srv), users, srv.Grants(), g.keys, &login.Options{
		Federation: fed,
		Sessions:   sessions,
		Issuer:     srv.Issuer(),
		Now:        g.opts.Now,
		Logger:     g.logger,
		Alerts: func(_ context.Context, kind string, attrs ...any) {
			g.opts.Alerts(loginAlert(g.opts.Now(), kind, attrs))
		},
		Limiter: g.opts.Limiter,
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
