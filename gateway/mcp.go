package gateway

import (
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/pipeline"
)

// mcpHandler puts the request path (package pipeline) in front of the MCP
// server of ep, built-in or upstream: origin, authentication, body, parse,
// scopes, sessions, audit. Its authenticator accepts only tokens issued
// for ep's resource, and its challenges name ep's metadata and scopes.
func (g *Gateway) mcpHandler(ep *endpoint) http.Handler {
	o := g.opts
	var observe func(*http.Request, pipeline.Observation)
	if o.Observer != nil {
		observe = o.Observer.Request
	}
	auth := authn.New(g.verify, &authn.Options{
		ResourceMetadataURL: ep.prm,
		Scope:               strings.Join(ep.scopes, " "),
		Resource:            ep.resource,
		Logger:              o.Logger,
	})
	return pipeline.New(auth, &pipeline.Options{
		Observe:                 observe,
		Policy:                  ep.policy,
		ResourceMetadataURL:     ep.prm,
		PublicURL:               g.public,
		CORSOrigins:             o.CORSOrigins,
		FrontPage:               "/",
		MaxBodyBytes:            o.MaxBodyBytes,
		MaxBatch:                o.MaxBatch,
		MaxSessions:             o.MaxSessions,
		MaxSessionsPerPrincipal: o.MaxSessionsPerPrincipal,
		RateLimit:               o.RateLimit,
		Audit:                   g.audit.record,
		RequestID:               requestID,
		Now:                     o.Now,
	}).Handler(ep.handler)
}

// builtinSessionTTL is how long the built-in server keeps an idle session.
const builtinSessionTTL = 30 * time.Minute

// builtinServer serves the built-in MCP server over Streamable HTTP.
// Requests that announce protocol 2026-07-28 or later go to a stateless
// handler (the SDK serves that revision only statelessly); older ones get
// sessions, bound to the principal through TokenInfo.UserID.
type builtinServer struct {
	server    *mcp.Server
	stateful  http.Handler
	stateless http.Handler
}

func (g *Gateway) builtin() *builtinServer {
	server := demo.NewServer(&demo.Options{Docs: g.opts.Docs, Notes: g.store, Now: g.opts.Now, Logger: g.logger})
	getServer := func(*http.Request) *mcp.Server { return server }
	return &builtinServer{
		server: server,
		stateful: authn.SDKTokenInfo(mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
			Logger:              g.logger,
			SessionTimeout:      builtinSessionTTL,
			MaxRequestBodyBytes: g.opts.MaxBodyBytes,
		})),
		stateless: authn.SDKTokenInfo(mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
			Logger:              g.logger,
			Stateless:           true,
			MaxRequestBodyBytes: g.opts.MaxBodyBytes,
		})),
	}
}

func (b *builtinServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get("Mcp-Protocol-Version"); v >= "2026-07-28" {
		b.stateless.ServeHTTP(w, r)
		return
	}
	b.stateful.ServeHTTP(w, r)
}

// EndSession closes a session of the stateful handler, which then forgets
// it.
func (b *builtinServer) EndSession(id string) {
	for ss := range b.server.Sessions() {
		if ss.ID() == id {
			_ = ss.Close()
			return
		}
	}
}

// OpenSessions implements pipeline.SessionServer.
func (b *builtinServer) OpenSessions() iter.Seq[string] {
	return func(yield func(string) bool) {
		for ss := range b.server.Sessions() {
			if !yield(ss.ID()) {
				return
			}
		}
	}
}

// SessionTTL implements pipeline.SessionServer.
func (b *builtinServer) SessionTTL() time.Duration { return builtinSessionTTL }
