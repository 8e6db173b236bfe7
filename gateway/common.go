package gateway

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpgate/mcpgate/redact"
)

type requestIDKey struct{}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// common wraps every route: panic recovery (logged through the redacting
// logger), a request id, baseline security headers, and the Host check that
// stops DNS rebinding.
func (g *Gateway) common(next http.Handler) http.Handler {
	checked := g.checkHost(next)
	return redact.Recover(g.logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		checked.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	}))
}

// sameOrigin refuses browser requests from foreign origins on MCP
// endpoints: CrossOriginProtection for unsafe methods, and an Origin check
// for every method, since no MCP client needs a foreign origin. The OAuth
// endpoints are not wrapped: browser-based clients call them cross-origin,
// and the login pages carry their own CSRF protection.
func (g *Gateway) sameOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for _, o := range g.trustedOrigins() {
		// AddTrustedOrigin only fails on malformed origins, which
		// trustedOrigins never builds.
		_ = cop.AddTrustedOrigin(o)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && o != "null" && !g.originAllowed(o) {
			writeJSONError(w, http.StatusForbidden, "forbidden", "origin not allowed")
			return
		}
		next.ServeHTTP(w, r)
	}))
}

func (g *Gateway) trustedOrigins() []string {
	return []string{g.public.Scheme + "://" + g.public.Host}
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
	if isLoopbackHost(host) {
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

func (g *Gateway) originAllowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Scheme+"://"+u.Host, g.public.Scheme+"://"+g.public.Host) {
		return true
	}
	return isLoopbackHost(u.Host)
}

func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

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
