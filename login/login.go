// Package login serves the HTML pages a person sees during OAuth
// authorization by mcpgate's embedded authorization server: sign-in (local
// user and password, or an mcpgate API key), consent, the connected-apps
// page where grants are revoked, and sign-out.
//
// The pages drive the authorization server through Backend. They keep
// sign-in sessions in a mcpgate.SigninSessionStore, the store shared by
// every replica when there is one; see docs/login.md.
package login

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
)

// Request is a pending authorization request: an app asking the signed-in
// person for access.
type Request struct {
	ID          string
	ClientID    string
	ClientName  string
	RedirectURI string
	Scopes      []string // requested scopes
	Resource    string   // RFC 8707 resource
	// ScopeText, when not nil, is what the scopes of Resource mean in plain
	// words, from that resource's configuration: the page shows these,
	// or a scope's name where it has none, instead of
	// Options.ScopeDescriptions, which describe the built-in server's.
	ScopeText map[string]string
	// PriorApproval is set when the person already approved this client for
	// these scopes, so consent is not asked again.
	PriorApproval bool
}

// Backend is the part of the authorization server that the pages drive.
type Backend interface {
	// PendingRequest returns the authorization request with id, computing
	// PriorApproval for subject (empty: not signed in yet). It returns
	// mcpgate.ErrNotFound if the request is unknown or expired.
	PendingRequest(ctx context.Context, id, subject string) (*Request, error)
	// Approve grants scopes of request id to its client on behalf of user
	// and returns the URL to send the browser to (the client's redirect URI
	// with the code). It returns mcpgate.ErrNotFound if the request is
	// unknown, expired or already answered.
	Approve(ctx context.Context, id string, user *mcpgate.Principal, scopes []string) (redirectURL string, err error)
	// Deny refuses request id and returns the URL to send the browser to
	// (the client's redirect URI with error=access_denied), or
	// mcpgate.ErrNotFound.
	Deny(ctx context.Context, id string) (redirectURL string, err error)
	// Client returns the registered client with id, or mcpgate.ErrNotFound.
	Client(ctx context.Context, id string) (*mcpgate.Client, error)
}

// KeyVerifier turns an mcpgate API key into the principal it authenticates
// (authn.Verifier does). It returns an error wrapping
// mcpgate.ErrUnauthenticated for a bad key.
type KeyVerifier interface {
	Verify(ctx context.Context, token string) (*mcpgate.Principal, error)
	// CheckKey reports whether the key with id is still valid, with an
	// error wrapping mcpgate.ErrUnauthenticated when it is revoked,
	// expired or unknown; any other error means it could not tell. A
	// session begun with a key ends when the key does.
	CheckKey(ctx context.Context, id string) error
}

// MethodPassword is the Principal.Method of a person who signed in with a
// local user's password.
const MethodPassword = "password"

// Options configures Pages. The zero value is valid.
type Options struct {
	// Now returns the current time; time.Now by default.
	Now func() time.Time
	// Logger receives sign-in and revocation events; slog.Default() by
	// default. Passwords, keys and session ids are never logged.
	Logger *slog.Logger
	// Issuer is the authorization server's issuer URL, e.g.
	// https://mcp.example.com. Only its scheme and host matter here.
	Issuer string
	// SecureCookies set to false drops the Secure attribute and the __Host-
	// prefix from cookies. It is honored only when Issuer is a plain-http
	// loopback URL (local development); otherwise cookies are always Secure.
	SecureCookies bool
	// ScopeDescriptions explains scopes in plain words, e.g. "notes:write" →
	// "Create notes on your behalf". It is merged over DefaultScopeDescriptions.
	ScopeDescriptions map[string]string
	// SessionTTL is how long a sign-in lasts; 8 hours by default.
	SessionTTL time.Duration
	// Sessions keeps sign-in sessions. Pages of several replicas must
	// share one (the store): a browser's requests may reach any of them,
	// and a sign-out on one must hold on all. Nil keeps them in this
	// process's memory, at most MaxSessions.
	Sessions mcpgate.SigninSessionStore
	// MaxSessions bounds the sessions kept in memory when Sessions is nil;
	// 100 000 by default.
	MaxSessions int
	// Alerts receives security alerts, as the authorization server's
	// Options.Alerts does: "login.signin_lockout" when a username
	// ("subject") or a client address ("addr") fails sign-in often enough
	// to be locked out, once per lock. Nil raises none.
	Alerts func(ctx context.Context, kind string, attrs ...any)
	// Limiter is shared by every replica (Redis when configured): failed
	// sign-ins are charged to it per username and per client address, on
	// top of this process's own throttle, so a lockout holds across
	// replicas. Nil keeps the throttle in this process only.
	Limiter mcpgate.Limiter
	// Federation, when set, offers sign-in at upstream OpenID providers
	// beside the password form (see federation.go).
	Federation Federation
}

// AlertSigninLockout is the kind of alert raised when sign-in locks out a
// username or a client address.
const AlertSigninLockout = "login.signin_lockout"

// DefaultScopeDescriptions are the plain words shown for mcpgate's built-in
// scopes.
var DefaultScopeDescriptions = map[string]string{
	"docs:read":   "Read your organisation's documents",
	"notes:read":  "Read your notes",
	"notes:write": "Create notes on your behalf",
}

// Sign-in throttling: after throttleFree failures a username is locked for
// 1s, 2s, 4s … up to 15 minutes; a client address gets more free failures,
// since many people may share one.
const (
	throttleFree     = 5
	throttleFreeAddr = 20
	throttleBase     = time.Second
	throttleMax      = 15 * time.Minute
	throttleForget   = time.Hour
	throttleLimit    = 100_000
)

// maxFormBytes bounds a posted form.
const maxFormBytes = 16 << 10

// Pages serves the login, consent, connected-apps and logout pages.
type Pages struct {
	backend Backend
	users   mcpgate.UserStore
	grants  mcpgate.GrantStore
	keys    KeyVerifier

	now       func() time.Time
	log       *slog.Logger
	alerts    func(ctx context.Context, kind string, attrs ...any)
	secure    bool
	scopeText map[string]string
	ttl       time.Duration

	sessions  mcpgate.SigninSessionStore
	userLimit *throttle
	addrLimit *throttle
	limiter   mcpgate.Limiter // shared by every replica; nil: none
	// starts limits federated sign-ins begun per client address in this
	// process, when limiter is nil or cannot decide.
	starts mcpgate.Limiter
	fed    Federation // nil: no federated sign-in
	// hashing bounds concurrent argon2 runs: each takes 19 MiB.
	hashing   chan struct{}
	dummyHash string

	tmpl *template.Template
	cop  *http.CrossOriginProtection
}

// New returns the pages. backend, users and grants are required; keys may
// be nil, which hides the API-key sign-in.
func New(backend Backend, users mcpgate.UserStore, grants mcpgate.GrantStore, keys KeyVerifier, opts *Options) (*Pages, error) {
	if backend == nil || users == nil || grants == nil {
		return nil, errors.New("login: backend, users and grants are required")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.Sessions == nil {
		o.Sessions = inmem.NewSigninSessions(o.MaxSessions, o.Now)
	}
	if o.Alerts == nil {
		o.Alerts = func(context.Context, string, ...any) {}
	}
	secure := true
	if o.Issuer != "" {
		u, err := url.Parse(o.Issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("login: issuer %q is not an http(s) URL", o.Issuer)
		}
		if !o.SecureCookies && u.Scheme == "http" && isLoopback(u.Hostname()) {
			secure = false
		}
	}
	text := make(map[string]string, len(DefaultScopeDescriptions)+len(o.ScopeDescriptions))
	for k, v := range DefaultScopeDescriptions {
		text[k] = v
	}
	for k, v := range o.ScopeDescriptions {
		text[k] = v
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	dummy, err := HashPassword("not a password anyone has " + time.Now().String())
	if err != nil {
		return nil, err
	}
	p := &Pages{
		backend: backend, users: users, grants: grants, keys: keys,
		now: o.Now, log: o.Logger, alerts: o.Alerts, secure: secure, scopeText: text, ttl: o.SessionTTL,
		sessions:  o.Sessions,
		userLimit: newThrottle(throttleFree, throttleBase, throttleMax, throttleForget, throttleLimit),
		addrLimit: newThrottle(throttleFreeAddr, throttleBase, throttleMax, throttleForget, throttleLimit),
		limiter:   o.Limiter,
		starts:    inmem.New(&inmem.Options{Now: o.Now, MaxKeys: throttleLimit}),
		fed:       o.Federation,
		hashing:   make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		dummyHash: dummy,
		tmpl:      tmpl,
		cop:       http.NewCrossOriginProtection(),
	}
	p.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.renderMessage(w, http.StatusForbidden, "Request refused",
			"This form was sent from another site, so it was refused.", "")
	}))
	return p, nil
}

// Handler returns the handler serving GET/POST /login, GET/POST /consent,
// GET/POST /apps, POST /logout and the stylesheet at /login/style.css.
// Every POST must pass http.CrossOriginProtection and carry the form's CSRF
// token.
func (p *Pages) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", p.getLogin)
	mux.HandleFunc("POST /login", p.postLogin)
	mux.HandleFunc("GET /consent", p.getConsent)
	mux.HandleFunc("POST /consent", p.postConsent)
	mux.HandleFunc("GET /apps", p.getApps)
	mux.HandleFunc("POST /apps", p.postApps)
	mux.HandleFunc("POST /logout", p.postLogout)
	mux.HandleFunc("GET /login/style.css", serveCSS)
	mux.HandleFunc("GET /login/oidc/start", p.startFederated)
	mux.HandleFunc("GET "+Callback, p.federatedCallback)
	return p.cop.Handler(withPageDefaults(mux))
}

// withPageDefaults sets the page security headers before routing, so that
// the mux's own 404 and 405 answers carry them too (pages and the
// stylesheet then set their own), and bounds posted forms.
func withPageDefaults(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		w.Header().Del("Content-Type")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		h.ServeHTTP(w, r)
	})
}

// parseForm parses a posted urlencoded form, reporting false (after
// answering) when it is too large or malformed.
func (p *Pages) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		// Drain what is left so the connection can be reused.
		_, _ = io.Copy(io.Discard, r.Body)
		p.renderMessage(w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return false
	}
	return true
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
