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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/oauth"
)

// DefaultMaxBodyBytes bounds a JSON-RPC request body. MCP messages are small;
// a larger body is refused with 413 before anything parses it.
const DefaultMaxBodyBytes = 4 << 20

// Upstream is an MCP server the gateway fronts at Path.
type Upstream struct {
	Name    string
	Path    string       // e.g. /mcp/everything
	Handler http.Handler // proxy.HTTP or proxy.Stdio
	// Policy decides which scopes each call needs; nil lets any
	// authenticated principal use every tool, resource and prompt.
	Policy *authz.Policy
}

// Options configure a Gateway. Store and PublicURL are required.
type Options struct {
	Store mcpgate.Store
	// PublicURL is the canonical URL of the MCP endpoint, e.g.
	// https://mcp.example.com/mcp. Metadata and token audiences use it.
	PublicURL string
	// Logger receives request and audit logs. It should already redact
	// secrets (see package redact); nil discards.
	Logger *slog.Logger
	// Docs are the markdown documents the built-in server serves; nil uses
	// the embedded samples.
	Docs fs.FS
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Verifiers authenticate bearer credentials that are not API keys (for
	// example the embedded authorization server's access tokens).
	Verifiers []authn.Verifier
	// OnChange is called for every entry of the store's change feed, after
	// the gateway's own caches have applied it.
	OnChange func(mcpgate.Change)
	// OAuth, when set, runs the embedded authorization server; nil means
	// API keys (and Verifiers) only.
	OAuth *OAuthOptions
	// ScopesSupported is advertised in metadata and in 401 scope hints;
	// nil uses the built-in server's scopes.
	ScopesSupported []string
	// Upstreams are served at their paths. With no upstream at /mcp, the
	// built-in server is served there.
	Upstreams []Upstream
	// ChangePoll is how often the store's change feed is read (revocations
	// written by the CLI or another replica); 0 means 200ms.
	ChangePoll time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Gateway is a running mcpgate: create it with New, serve Handler, stop it
// with Close.
type Gateway struct {
	opts    Options
	public  *url.URL
	logger  *slog.Logger
	keys    *authn.KeyVerifier
	authn   *authn.Authenticator
	audit   *auditWriter
	handler http.Handler
	prmURL  string
	oauth   *oauth.Server // nil without OAuth

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a Gateway and starts its background work (the change-feed
// watcher and the audit writer).
func New(opts *Options) (*Gateway, error) {
	if opts == nil || opts.Store == nil {
		return nil, errors.New("gateway: a store is required")
	}
	o := *opts
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ChangePoll == 0 {
		o.ChangePoll = 200 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ScopesSupported == nil {
		o.ScopesSupported = demo.Scopes()
	}
	public, err := ParsePublicURL(o.PublicURL)
	if err != nil {
		return nil, err
	}

	g := &Gateway{opts: o, public: public, logger: o.Logger}
	g.prmURL = metadataURL(public)
	g.keys = authn.NewKeyVerifier(o.Store, &authn.KeyVerifierOptions{Now: o.Now, Logger: o.Logger})
	mux := http.NewServeMux()
	verifiers := o.Verifiers
	if o.OAuth != nil {
		if err := g.setupOAuth(mux); err != nil {
			return nil, err
		}
		verifiers = append(slices.Clip(verifiers), keyBound(g.oauth.Verifier(), g.keys))
	}
	g.authn = authn.New(authn.Chain(g.keys, verifiers...), &authn.Options{
		ResourceMetadataURL: g.prmURL,
		Scope:               strings.Join(o.ScopesSupported, " "),
		Logger:              o.Logger,
		OnFailure: func(r *http.Request, _ error) {
			auditFrom(r.Context()).Decision = mcpgate.DecisionUnauthenticated
		},
	})

	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.audit = newAuditWriter(o.Store, o.Logger)
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.audit.run(ctx) }()
	go func() {
		defer g.wg.Done()
		_ = authn.WatchChanges(ctx, o.Store, o.ChangePoll, g.applyChange)
	}()

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
}

// Handler returns the gateway's root handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close stops background work and flushes pending audit events.
func (g *Gateway) Close() error {
	g.cancel()
	g.wg.Wait()
	g.keys.Close()
	return nil
}

// resource is the canonical MCP URL, the audience of access tokens.
func (g *Gateway) resource() string {
	return strings.TrimSuffix(g.public.String(), "/")
}

func (g *Gateway) routes(mux *http.ServeMux) (http.Handler, error) {
	o := g.opts

	prm := g.metadataHandler()
	mux.Handle("GET /.well-known/oauth-protected-resource", prm)
	mux.Handle("GET /.well-known/oauth-protected-resource/{path...}", prm)

	base := strings.TrimSuffix(g.public.Path, "/")
	if base == "" {
		base = "/mcp"
	}
	servedBase := false
	for _, u := range o.Upstreams {
		if !validPath(u.Path) {
			return nil, fmt.Errorf("upstream %q: path %q must start with / and hold only letters, digits and . _ ~ - /", u.Name, u.Path)
		}
		if err := handle(mux, u.Path, g.sameOrigin(g.mcpHandler(u.Policy, u.Handler))); err != nil {
			return nil, fmt.Errorf("upstream %q: %w", u.Name, err)
		}
		if u.Path == base {
			servedBase = true
		}
	}
	if !servedBase {
		mux.Handle(base, g.sameOrigin(g.mcpHandler(demo.Policy(), g.builtin())))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return g.common(mux), nil
}

// validPath reports whether p is a plain URL path, usable as a mux pattern
// as it is (no method, host or wildcard syntax).
func validPath(p string) bool {
	if len(p) < 2 || p[0] != '/' {
		return false
	}
	for _, c := range p {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("._~-/", c):
		default:
			return false
		}
	}
	return true
}

// handle registers h at pattern, turning the mux's panic on a pattern that
// conflicts with another (an upstream at /token, two upstreams at one path)
// into an error.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("path %s is already served by mcpgate or another upstream", pattern)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// builtin serves the built-in MCP server over Streamable HTTP. Requests that
// announce protocol 2026-07-28 or later go to a stateless handler (the SDK
// serves that revision only statelessly); older ones get sessions, bound
// to the principal through TokenInfo.UserID.
func (g *Gateway) builtin() http.Handler {
	server := demo.NewServer(&demo.Options{Docs: g.opts.Docs, Notes: g.opts.Store, Now: g.opts.Now, Logger: g.logger})
	getServer := func(*http.Request) *mcp.Server { return server }
	stateful := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Logger:         g.logger,
		SessionTimeout: 30 * time.Minute,
	})
	stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Logger:    g.logger,
		Stateless: true,
	})
	return authn.SDKTokenInfo(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Mcp-Protocol-Version"); v >= "2026-07-28" {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	}))
}
