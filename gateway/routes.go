package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"

	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/login"
	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/redact"
)

func (g *Gateway) routes(mux *http.ServeMux) (http.Handler, error) {
	o := g.opts

	base := g.basePath()
	var eps []endpoint
	servedBase := false
	var servers []login.Server
	for _, u := range o.Upstreams {
		if !validPath(u.Path) {
			return nil, fmt.Errorf("upstream %q: path %q must start with / and hold only letters, digits and . _ ~ - /", u.Name, u.Path)
		}
		ep := g.upstreamEndpoint(u)
		if err := handle(mux, u.Path, g.mcpHandler(&ep)); err != nil {
			return nil, fmt.Errorf("upstream %q: %w", u.Name, err)
		}
		eps = append(eps, ep)
		servedBase = servedBase || u.Path == base
		s := login.Server{Name: u.Name, URL: g.origin() + u.Path}
		if u.Path == base {
			servers = append([]login.Server{s}, servers...) // the public URL comes first
		} else {
			servers = append(servers, s)
		}
	}
	if !servedBase {
		ep := g.endpointAt(base)
		ep.scopes, ep.policy, ep.handler = o.ScopesSupported, demo.Policy(), g.builtin()
		mux.Handle(base, g.mcpHandler(&ep))
		eps = append(eps, ep)
		servers = append([]login.Server{{Name: "Built-in server", URL: g.origin() + base}}, servers...)
	}
	// The front page tells people what the server is and how to connect;
	// without the authorization server the login pages are not mounted,
	// so the stylesheet is served on its own.
	mux.Handle("GET /{$}", login.FrontPage(login.FrontOptions{Servers: servers, SignIn: g.oauth != nil, Logger: g.logger}))
	if g.oauth == nil {
		mux.Handle("GET "+login.StylesheetPath, login.Stylesheet)
	}
	// Each endpoint is a resource of the authorization server: tokens are
	// issued for one of them, with its scopes, and accepted there only.
	if g.oauth != nil {
		for _, ep := range eps {
			if err := g.oauth.AddResource(ep.oauthResource()); err != nil {
				return nil, err
			}
		}
	}
	prm := g.metadataHandler(eps)
	mux.Handle("GET "+prmPath, prm)
	mux.Handle("GET "+prmPath+"/{path...}", prm)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return g.common(mux), nil
}

// origin is the scheme and host of the public URL.
func (g *Gateway) origin() string { return g.public.Scheme + "://" + g.public.Host }

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

// requestID returns the id common gave the request, from the response
// header it set: no context value, so no copy of the request.
func requestID(w http.ResponseWriter, _ *http.Request) string {
	if v := w.Header()["X-Request-Id"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// common wraps every route: panic recovery (logged through the redacting
// logger), a request id, baseline security headers, and the Host check that
// stops DNS rebinding.
func (g *Gateway) common(next http.Handler) http.Handler {
	checked := g.checkHost(next)
	return redact.Recover(g.logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		h := w.Header()
		h["X-Request-Id"] = []string{id}
		h["X-Content-Type-Options"] = nosniff
		checked.ServeHTTP(w, r)
	}))
}

// checkHost refuses requests whose Host header names neither the public
// host nor a loopback name, when they arrive on a loopback address: a DNS
// rebinding page reaches 127.0.0.1 with its own host name in Host.
func (g *Gateway) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r) {
			writeJSONError(w, http.StatusForbidden, "forbidden", "host not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) hostAllowed(r *http.Request) bool {
	host := r.Host
	if strings.EqualFold(host, g.public.Host) {
		return true
	}
	if pipeline.LoopbackHost(host) {
		return true
	}
	// A request that did not arrive on a loopback address came through the
	// network, where the public URL (behind a proxy or load balancer) is what
	// matters; only loopback listeners are exposed to rebinding.
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			return true
		}
	}
	return false
}

var nosniff = []string{"nosniff"}

// newRequestID returns a 16-character id for correlating logs and audit
// events. It needs to be unique, not secret, so it comes from the fast
// per-thread generator rather than a getrandom system call per request.
func newRequestID() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `","error_description":"` + desc + `"}` + "\n"))
}
