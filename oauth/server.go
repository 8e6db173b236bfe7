// Package oauth is mcpgate's embedded OAuth 2.1 authorization server, built
// the way MCP clients expect it (MCP authorization 2025-11-25 and
// 2026-07-28): authorization code with PKCE S256 only, RFC 8414 metadata,
// RFC 8707 resource indicators, RFC 9207 iss in the authorization response,
// RFC 9068 JWT access tokens, rotating refresh tokens with reuse detection,
// client credentials, RFC 7009 revocation, RFC 7662 introspection, RFC 7591
// dynamic registration and Client ID Metadata Documents.
//
// HTTP parsing, client authentication, routing and RFC 6749 error encoding
// come from the op package of github.com/zitadel/oidc (its Server API);
// what that library leaves open is done here, one file per endpoint or
// grant, and each such rule has a test (see docs/oauth.md).
package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/jose"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Storage is what the server keeps durably; the sqlite and postgres
// packages implement it. New takes it whole, as the server runs every
// flow; each flow uses only the one or two stores it needs (see Server).
type Storage = mcpgate.OAuthStore

// ErrNotFound is returned by the login backend for an unknown, expired or
// already answered authorization request.
var ErrNotFound = mcpgate.ErrNotFound

// Options configure a Server. Resource is required; the zero value of every
// other field means its default.
type Options struct {
	// Resource is the canonical URL of the protected MCP endpoint, e.g.
	// https://mcp.example.com/mcp: the RFC 8707 resource of a request
	// that names none, and the audience of its tokens.
	Resource string
	// Issuer is the authorization server's issuer identifier. Default: the
	// origin of Resource.
	Issuer string
	// ScopesSupported are the scopes clients may request for Resource.
	ScopesSupported []string
	// Resources are further MCP endpoints tokens may be issued for, each
	// with its own scopes (see also Server.AddResource). A token names one
	// resource as its audience and is accepted there only.
	Resources []Resource

	AccessTokenTTL  time.Duration // default 10m
	RefreshTokenTTL time.Duration // default 30 days
	CodeTTL         time.Duration // default 60s
	// LoginTTL bounds the time a user has to log in and consent. Default 10m.
	LoginTTL time.Duration
	// Leeway is the clock skew allowed when verifying tokens. Default
	// jose.Leeway (30s), the same as for identity providers' tokens.
	Leeway time.Duration
	// MaxTokenLifetime refuses access tokens living longer (exp - iat),
	// whoever signed them with a key of this server. Default
	// jose.DefaultMaxLifetime (24h); AccessTokenTTL may not exceed it.
	MaxTokenLifetime time.Duration

	// LoginURL is where /authorize sends the user, with ?req=<id> appended.
	// Default "/login" under the issuer.
	LoginURL string

	// RegistrationToken, if set, is the initial access token that dynamic
	// client registration requires (RFC 7591 §3); empty means open
	// registration.
	RegistrationToken string
	// RegistrationTokenFunc, if set, is asked for the initial access token
	// on every registration instead of RegistrationToken, so that a token
	// rotated in a secret store takes effect at once; "" means open
	// registration.
	RegistrationTokenFunc func() string
	// RegistrationsPerMinute limits registrations per client IP. Default 10;
	// negative disables the limit.
	RegistrationsPerMinute int
	// DisableRegistration turns /register off.
	DisableRegistration bool

	// PrivateUseSchemes are the URI schemes of native apps accepted in
	// redirect URIs besides https and loopback http (RFC 8252 §7.1).
	// nil means ["cursor"], the scheme Cursor registers; an empty non-nil
	// slice allows none.
	PrivateUseSchemes []string

	// DisableCIMD turns Client ID Metadata Documents off.
	DisableCIMD bool
	// AllowLoopbackCIMD lets CIMD fetch http://127.0.0.1 documents. For tests.
	AllowLoopbackCIMD bool
	// CIMDFetchesPerMinute limits the metadata documents that requests
	// from one address may have fetched. Documents already cached, and
	// fetches shared with a concurrent request for the same URL, do not
	// count. Default 20; negative disables the limit.
	CIMDFetchesPerMinute int
	// Limiter counts registrations and metadata-document fetches per
	// client address; nil counts them in this process. The gateway hands
	// over its shared (Redis) limiter, so the limits hold across replicas.
	Limiter mcpgate.Limiter
	// CIMDClient overrides the HTTP client CIMD documents are fetched with.
	// Its transport must do its own address filtering. For tests.
	CIMDClient *http.Client

	// Keys looks up the API keys users sign in with on the login page: a
	// grant approved under an API key is refreshed only while that key is
	// valid. nil means the store, if it implements mcpgate.KeyStore (the
	// sqlite and postgres stores do); without either, such a grant cannot
	// be refreshed.
	Keys mcpgate.KeyStore

	// KeyEncryptionKey, if 32 bytes, encrypts signing keys at rest with
	// AES-256-GCM. Keys stored unencrypted are still read; see
	// Server.EncryptSigningKeys.
	KeyEncryptionKey []byte
	// PreviousKeyEncryptionKey, during a rotation of KeyEncryptionKey, is
	// the key it replaces: signing keys encrypted with it are still read,
	// until Server.EncryptSigningKeys encrypts them with the new one.
	PreviousKeyEncryptionKey []byte

	// ErrorPage writes the page a browser gets when /authorize refuses a
	// request it cannot redirect (an unknown app, an unregistered
	// redirect_uri, an unusable client metadata document), so that it
	// can carry the site's look; the gateway uses the login pages'
	// layout. Default: a plain page of its own.
	ErrorPage ErrorPageFunc

	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives operational logs; nothing secret is logged.
	Logger *slog.Logger
	// Alerts receives security events, such as "oauth.refresh_token_reuse".
	Alerts func(ctx context.Context, kind string, attrs ...any)
}

func (o *Options) withDefaults() (Options, error) {
	var d Options
	if o != nil {
		d = *o
	}
	ru, err := url.Parse(d.Resource)
	if d.Resource == "" || err != nil || ru.Host == "" || (ru.Scheme != "https" && ru.Scheme != "http") || ru.Fragment != "" {
		return d, fmt.Errorf("oauth: Options.Resource must be an absolute http(s) URL, got %q", d.Resource)
	}
	for _, r := range d.Resources {
		if err := checkResourceURL(r.URL); err != nil {
			return d, err
		}
	}
	if d.Issuer == "" {
		d.Issuer = ru.Scheme + "://" + ru.Host
	}
	iu, err := url.Parse(d.Issuer)
	if err != nil || iu.Host == "" || iu.RawQuery != "" || iu.Fragment != "" || (iu.Scheme != "https" && iu.Scheme != "http") {
		return d, fmt.Errorf("oauth: invalid issuer %q", d.Issuer)
	}
	d.Issuer = strings.TrimSuffix(d.Issuer, "/")
	if d.AccessTokenTTL <= 0 {
		d.AccessTokenTTL = 10 * time.Minute
	}
	if d.RefreshTokenTTL <= 0 {
		d.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if d.CodeTTL <= 0 {
		d.CodeTTL = 60 * time.Second
	}
	if d.LoginTTL <= 0 {
		d.LoginTTL = 10 * time.Minute
	}
	if d.Leeway <= 0 {
		d.Leeway = jose.Leeway
	}
	if d.MaxTokenLifetime <= 0 {
		d.MaxTokenLifetime = jose.DefaultMaxLifetime
	}
	if d.AccessTokenTTL > d.MaxTokenLifetime {
		return d, fmt.Errorf("oauth: AccessTokenTTL %s exceeds MaxTokenLifetime %s", d.AccessTokenTTL, d.MaxTokenLifetime)
	}
	if d.LoginURL == "" {
		d.LoginURL = issuerPath(d.Issuer) + "/login"
	}
	if d.PrivateUseSchemes == nil {
		d.PrivateUseSchemes = []string{"cursor"}
	}
	for _, sc := range d.PrivateUseSchemes {
		switch strings.ToLower(sc) {
		case "http", "https", "javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss":
			return d, fmt.Errorf("oauth: %q cannot be a private-use redirect scheme", sc)
		}
	}
	if d.RegistrationsPerMinute == 0 {
		d.RegistrationsPerMinute = 10
	}
	if d.CIMDFetchesPerMinute == 0 {
		d.CIMDFetchesPerMinute = cimdFetchesPerMinute
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.ErrorPage == nil {
		d.ErrorPage = plainErrorPage
	}
	if d.Limiter == nil {
		d.Limiter = inmem.New(&inmem.Options{Now: d.Now})
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Alerts == nil {
		d.Alerts = func(context.Context, string, ...any) {}
	}
	if len(d.KeyEncryptionKey) != 0 && len(d.KeyEncryptionKey) != 32 {
		return d, errors.New("oauth: KeyEncryptionKey must be 32 bytes")
	}
	if len(d.PreviousKeyEncryptionKey) != 0 && (len(d.PreviousKeyEncryptionKey) != 32 || len(d.KeyEncryptionKey) == 0) {
		return d, errors.New("oauth: PreviousKeyEncryptionKey must be 32 bytes, and needs a KeyEncryptionKey")
	}
	return d, nil
}

func issuerPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// Server is the authorization server. Create it with New; it is safe for
// concurrent use.
type Server struct {
	// The parts of Storage, one per record type, so that each flow names
	// what it reads and writes: the code exchange redeems requests and
	// revokes tokens, the refresh grant uses tokens and consents, and so on.
	clients     mcpgate.ClientStore
	requests    mcpgate.AuthRequestStore
	grants      mcpgate.GrantStore   // read by the token flows and the connected-apps page
	consents    mcpgate.ConsentStore // written on approval, refresh and forced revocation
	tokens      mcpgate.RefreshTokenStore
	signingKeys mcpgate.SigningKeyStore
	changes     mcpgate.ChangeFeed

	opts Options
	path string // issuer path, "" or "/a/b"

	kekMu sync.RWMutex // guards opts.KeyEncryptionKey and PreviousKeyEncryptionKey

	keysMu     sync.RWMutex
	signer     *jose.Key
	keyset     *jose.KeySet
	keysLoaded time.Time

	resMu sync.RWMutex
	res   *resources

	revoked  *revocations
	verified *tokenCache
	cimd     *cimdResolver
	regLimit *addrLimiter

	handler http.Handler
}

// opServer implements the library's op.Server: the endpoints' semantics,
// kept off Server's exported API.
type opServer struct {
	op.UnimplementedServer
	*Server
}

// New returns a server over store. It loads the signing keys (creating the
// first one on first start) and the recent revocations.
func New(store Storage, opts *Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Keys == nil {
		if ks, ok := store.(mcpgate.KeyStore); ok {
			o.Keys = ks
		}
	}
	s := &Server{
		clients:     store,
		requests:    store,
		grants:      store,
		consents:    store,
		tokens:      store,
		signingKeys: store,
		changes:     store,
		opts:        o,
		path:        issuerPath(o.Issuer),
		revoked:     newRevocations(o.AccessTokenTTL + 2*o.Leeway),
		verified:    newTokenCache(10000),
		regLimit:    newAddrLimiter(o.Limiter, "register", o.RegistrationsPerMinute),
	}
	s.res = newResources([]Resource{{URL: o.Resource, Scopes: o.ScopesSupported}})
	for _, r := range o.Resources {
		if err := s.AddResource(r); err != nil {
			return nil, err
		}
	}
	s.cimd = newCIMDResolver(o)
	ctx := context.Background()
	if err := s.loadKeys(ctx, true); err != nil {
		return nil, err
	}
	s.warnUnencryptedKeys(ctx)
	if err := s.loadRevocations(ctx); err != nil {
		return nil, err
	}
	s.handler = s.buildHandler()
	return s, nil
}

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.opts.Issuer }

// Resource returns the default resource: the audience of access tokens
// whose request named none.
func (s *Server) Resource() string { return s.opts.Resource }

// ScopesSupported returns the scopes of every resource.
func (s *Server) ScopesSupported() []string { return slices.Clone(s.allScopes()) }

func (s *Server) now() time.Time { return s.opts.Now() }

// endpoint returns the absolute URL of a server path.
func (s *Server) endpoint(p string) string { return s.opts.Issuer + p }

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}
