// Package gateway assembles mcpgate's pieces into one http.Handler: the
// authentication chain (API keys, OAuth access tokens), the scope policy,
// audit, the protected resource metadata, the embedded authorization
// server's endpoints, and the MCP servers behind it (built-in or upstream).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/alert"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/oauth"
	"github.com/mcpgate/mcpgate/pipeline"
)

// DefaultMaxBodyBytes bounds a JSON-RPC request body. MCP messages are small;
// a larger body is refused with 413 before anything parses it.
const DefaultMaxBodyBytes = pipeline.DefaultMaxBodyBytes

// Upstream is an MCP server the gateway fronts at Path. It is a protected
// resource of its own: its URL (the public URL's origin and Path) is the
// audience of the tokens issued for it, and its policy's scopes are what
// its metadata advertises and its consent page asks for.
type Upstream struct {
	Name    string
	Path    string       // e.g. /mcp/everything
	Handler http.Handler // proxy.HTTP or proxy.Stdio
	// Policy decides which scopes each call needs; nil lets any
	// authenticated principal use every tool, resource and prompt.
	Policy *authz.Policy
}

// Options configure a Gateway. The zero value is valid; withDefaults
// fills in every default in one place.
type Options struct {
	// Logger receives request and audit logs. It should already redact
	// secrets (see package redact); nil discards.
	Logger *slog.Logger
	// Docs are the markdown documents the built-in server serves; nil uses
	// the embedded samples.
	Docs fs.FS
	// MaxBodyBytes bounds request bodies, for the built-in server and
	// every upstream; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxBatch bounds the messages of a JSON-RPC batch; 0 means 100.
	MaxBatch int
	// MaxSessions bounds the MCP sessions of each server (built-in or
	// upstream); 0 means 100,000.
	MaxSessions int
	// MaxSessionsPerPrincipal bounds one principal's sessions on each
	// server, its least recently used one ended to make room; 0 means 100.
	MaxSessionsPerPrincipal int
	// CORSOrigins are the origins of the web pages, besides the public
	// URL's, that may call the MCP endpoints and read their answers:
	// exact origins (https://app.example.com), "loopback" (any port of
	// localhost and loopback addresses) or "*" (any page). Nil means
	// "loopback". Pages of other origins are refused (403).
	CORSOrigins []string
	// RateLimit charges each MCP request to the caller's limits and
	// failed authentications to the client's address; nil limits nothing
	// (see package ratelimit).
	RateLimit pipeline.RateLimiter
	// Limiter is where the authorization server counts registrations and
	// metadata-document fetches per address; nil counts them in process.
	// Give the same (Redis) limiter as RateLimit's so that every limit
	// holds across replicas.
	Limiter mcpgate.Limiter
	// Verifiers authenticate bearer credentials that are neither API keys
	// nor the embedded authorization server's access tokens (for example
	// an identity provider's tokens); they are tried after those, in order.
	Verifiers []authn.Verifier
	// OnChange is called for every entry of the store's change feed, after
	// the gateway's own caches have applied it.
	OnChange func(mcpgate.Change)
	// AuthServer, when set, is the embedded authorization server (see
	// NewAuthServer): the gateway serves it with its login, consent and
	// connected-apps pages, and accepts its access tokens. Nil means API
	// keys (and Verifiers) only. The store must then also implement
	// mcpgate.UserStore (both SQLite and Postgres do).
	AuthServer *oauth.Server
	// Federation, when set with AuthServer, offers sign-in at upstream
	// OpenID providers on the sign-in page, with the callback at
	// login.Callback (see package federation).
	Federation *federation.Federation
	// ScopesSupported are the scopes of the built-in server, advertised
	// in its metadata and 401 scope hints; nil uses demo.Scopes. Each
	// upstream advertises the scopes of its own policy instead.
	ScopesSupported []string
	// Upstreams are served at their paths. With no upstream at /mcp, the
	// built-in server is served there.
	Upstreams []Upstream
	// ChangePoll is how often the store's change feed is read (revocations
	// written by the CLI or another replica); 0 means 200ms.
	ChangePoll time.Duration
	// Retention is how long audit events and change-feed entries are kept
	// in a store that implements mcpgate.Pruner; 0 keeps them all.
	// Authorization requests and refresh tokens a day past expiry are
	// pruned whatever it is.
	Retention time.Duration
	// PruneInterval is how often the store is pruned, starting at New;
	// 0 means hourly.
	PruneInterval time.Duration
	// Observer, when set, is told what the gateway does, for metrics
	// (admin.Metrics implements it); nil observes nothing.
	Observer Observer
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Alerts receives security alerts: those of the authorization server
	// (refresh-token and code reuse, refused client metadata addresses)
	// and any a component of the request path raises. Usually an
	// alert.Sink's Raise, which logs, de-duplicates and delivers them by
	// webhook; give the rate limiter the same sink, so that every alert
	// goes one way. It must not block. Nil logs each alert as a warning.
	Alerts func(alert.Alert)
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.MaxBodyBytes <= 0 {
		r.MaxBodyBytes = pipeline.DefaultMaxBodyBytes
	}
	if r.MaxBatch <= 0 {
		r.MaxBatch = pipeline.DefaultMaxBatch
	}
	if r.MaxSessions <= 0 {
		r.MaxSessions = pipeline.DefaultMaxSessions
	}
	if r.MaxSessionsPerPrincipal <= 0 {
		r.MaxSessionsPerPrincipal = pipeline.DefaultMaxSessionsPerPrincipal
	}
	if r.ChangePoll <= 0 {
		r.ChangePoll = 200 * time.Millisecond
	}
	if r.PruneInterval <= 0 {
		r.PruneInterval = time.Hour
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.ScopesSupported == nil {
		r.ScopesSupported = demo.Scopes()
	}
	if r.Alerts == nil {
		logger := r.Logger
		r.Alerts = func(a alert.Alert) { alert.Log(logger, a) }
	}
	return r
}

// Observer is told what a gateway does. Its methods must be cheap and must
// not block: Request runs on every MCP request.
type Observer interface {
	// Request is told the outcome of an MCP request.
	Request(r *http.Request, o pipeline.Observation)
	// Change is told of a change-feed entry once it is applied.
	Change(c mcpgate.Change)
	// AuditWritten is told of every batch of n audit events handed to
	// the store, and whether it failed.
	AuditWritten(n int, err error)
	// AuditPending is given, once, the function that reads how many audit
	// events are held in memory.
	AuditPending(func() int)
}

// observedAudit tells an Observer of every audit batch written.
type observedAudit struct {
	mcpgate.AuditStore
	obs Observer
}

func (a observedAudit) AppendAudit(ctx context.Context, events ...*mcpgate.AuditEvent) error {
	err := a.AuditStore.AppendAudit(ctx, events...)
	a.obs.AuditWritten(len(events), err)
	return err
}

// Gateway is a running mcpgate: create it with New, serve Handler, stop it
// with Close.
type Gateway struct {
	store   mcpgate.Store
	opts    Options
	public  *url.URL
	logger  *slog.Logger
	keys    *authn.KeyVerifier
	verify  authn.Verifier // every credential's verifier, for each endpoint's authenticator
	audit   *auditWriter
	handler http.Handler
	oauth   *oauth.Server // nil without OAuth

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a Gateway on store, serving MCP at publicURL (the canonical
// URL of the MCP endpoint, e.g. https://mcp.example.com/mcp, which
// metadata and token audiences use), and starts its background work (the
// change-feed watcher and the audit writer). opts may be nil.
func New(store mcpgate.Store, publicURL string, opts *Options) (*Gateway, error) {
	if store == nil {
		return nil, errors.New("gateway: a store is required")
	}
	public, err := ParsePublicURL(publicURL)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	if err := pipeline.ValidateOrigins(o.CORSOrigins); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{store: store, opts: o, public: public, logger: o.Logger}
	g.keys = authn.NewKeyVerifier(store, &authn.KeyVerifierOptions{Now: o.Now, Logger: o.Logger,
		OnRevokedUse: func(_ context.Context, k *mcpgate.APIKey) {
			g.opts.Alerts(alert.Alert{Kind: alert.KindRevokedKeyUsed, Time: o.Now(),
				Principal: (&mcpgate.Principal{Subject: k.Subject, Tenant: k.Tenant}).ID(),
				Detail:    map[string]any{"key_id": k.ID, "name": k.Name}})
		}})
	mux := http.NewServeMux()
	// mcpgate's own tokens are tried before those of other issuers.
	verifiers := o.Verifiers
	if o.AuthServer != nil {
		if err := g.setupOAuth(mux, o.AuthServer); err != nil {
			return nil, err
		}
		verifiers = append([]authn.Verifier{keyBound(g.oauth.Verifier(), g.keys)}, o.Verifiers...)
	}
	g.verify = authn.Chain(g.keys, verifiers...)

	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	var audits mcpgate.AuditStore = store
	if o.Observer != nil {
		audits = observedAudit{store, o.Observer}
	}
	g.audit = newAuditWriter(audits, o.Logger)
	if o.Observer != nil {
		o.Observer.AuditPending(g.audit.queued)
	}
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.audit.run(ctx) }()
	go func() {
		defer g.wg.Done()
		_ = authn.WatchChanges(ctx, store, o.ChangePoll, g.applyChange)
	}()

	if p, ok := store.(mcpgate.Pruner); ok {
		g.wg.Add(1)
		go func() { defer g.wg.Done(); g.prune(ctx, p, o.Retention, o.PruneInterval) }()
	}

	g.handler, err = g.routes(mux)
	if err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// keyBound wraps the embedded authorization server's verifier: an access
// token of a user who signed in with an API key (Principal.KeyID set) is
// accepted only while that key is valid, so revoking or expiring the key,
// or the end of a rotation's grace period, stops the app at once. The
// check reads the key cache, which the change feed keeps current.
func keyBound(v authn.Verifier, keys *authn.KeyVerifier) authn.Verifier {
	return authn.VerifierFunc(func(ctx context.Context, token string) (*mcpgate.Principal, error) {
		p, err := v.Verify(ctx, token)
		if err != nil || p.Method != mcpgate.MethodOAuth || p.KeyID == "" {
			return p, err
		}
		if err := keys.CheckKey(ctx, p.KeyID); err != nil {
			return nil, fmt.Errorf("token of API key %s: %w", p.KeyID, err)
		}
		return p, nil
	})
}

// ParsePublicURL checks a canonical MCP URL: absolute http(s), no query or
// fragment. Plain http is accepted for loopback development only by the
// caller's choice; the gateway does not refuse it here.
func ParsePublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("public URL %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("public URL %q: must be an absolute http or https URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("public URL %q: must not have a query, fragment or user info", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

func (g *Gateway) applyChange(c mcpgate.Change) {
	g.keys.Apply(c)
	if g.oauth != nil {
		g.oauth.ApplyChange(c)
	}
	if g.opts.OnChange != nil {
		g.opts.OnChange(c)
	}
	if g.opts.Observer != nil {
		g.opts.Observer.Change(c)
	}
}

// KeyVerifier returns the verifier the gateway checks API keys with, whose
// cache its change-feed watcher keeps current: the admin dashboard signs
// operators in with it, so that a revoked key ends their session as soon
// as it stops working on the MCP endpoint.
func (g *Gateway) KeyVerifier() *authn.KeyVerifier { return g.keys }

// Handler returns the gateway's root handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close stops background work and flushes pending audit events.
func (g *Gateway) Close() error {
	g.cancel()
	g.wg.Wait()
	g.keys.Close()
	return nil
}

func resourceOf(public *url.URL) string {
	return strings.TrimSuffix(public.String(), "/")
}
