// Package proxy fronts upstream MCP servers: HTTP servers speaking
// Streamable HTTP (NewHTTP) and stdio programs (NewStdio). Both are
// http.Handlers that the gateway mounts behind its authentication; they
// take the caller from mcpgate.PrincipalFromContext.
//
// The proxy is transparent for MCP: requests, responses, notifications,
// server-to-client requests, SSE streams and resumption pass through
// unchanged, with three exceptions that are the point of a gateway:
//
//   - the client's credentials (Authorization, Cookie) and any X-Mcpgate-*
//     header never reach the upstream; mcpgate sets its own identity headers
//     instead (see IdentityOptions);
//   - tools/list, resources/list, resources/templates/list and prompts/list
//     results are filtered by the Policy for the caller, in JSON bodies and
//     inside SSE events;
//   - an MCP session belongs to the principal that created it: another
//     principal presenting its Mcp-Session-Id gets 404, as for an unknown
//     session, and the request is never forwarded.
package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Filter removes from a list result what a principal may not use.
// *authz.Policy implements it.
type Filter interface {
	// FilterResponse returns msg, one JSON-RPC response to a request of the
	// given method (tools/list, resources/list, resources/templates/list or
	// prompts/list), with the entries pr may not use removed. An error
	// means msg could not be filtered; the proxy then withholds it.
	FilterResponse(pr *mcpgate.Principal, method string, msg []byte) ([]byte, error)
}

// Options configure NewHTTP. The zero value is valid.
type Options struct {
	// Policy filters list results; nil means no filtering.
	Policy Filter
	// Transport sends requests upstream; nil means NewTransport().
	Transport http.RoundTripper
	// Identity says how the principal is told to the upstream.
	Identity IdentityOptions
	// Credential, when set, gives the Authorization header sent to an
	// HTTP upstream for the principal: mcpgate's own credential for that
	// user, such as the token their identity provider issued to mcpgate
	// (federation.Federation.Authorization); the client's credentials are
	// never passed on. An error refuses the request: a *refusal.Refusal
	// as it is, anything else as an internal error.
	Credential func(ctx context.Context, pr *mcpgate.Principal) (string, error)
	// Logger receives upstream errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds a request body; 0 means 4 MiB, as the MCP Go SDK.
	MaxBodyBytes int64
	// MaxResponseBytes bounds a JSON list response or one SSE event that
	// must be filtered; 0 means 16 MiB. Other responses are streamed and not
	// bounded.
	MaxResponseBytes int
	// SessionTTL is how long an idle session stays bound to its principal;
	// 0 means 24 hours. After that its id is unknown to the proxy (404) and
	// the client starts a new session.
	SessionTTL time.Duration
	// MaxSessions bounds the sessions remembered; 0 means 100000. When
	// full, the least recently used session is forgotten.
	MaxSessions int
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	r.Policy = nilIfTypedNil(r.Policy)
	if r.Transport == nil {
		r.Transport = NewTransport()
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.MaxBodyBytes <= 0 {
		r.MaxBodyBytes = 4 << 20
	}
	if r.MaxResponseBytes <= 0 {
		r.MaxResponseBytes = 16 << 20
	}
	if r.SessionTTL <= 0 {
		r.SessionTTL = 24 * time.Hour
	}
	if r.MaxSessions <= 0 {
		r.MaxSessions = 100000
	}
	if r.Identity.TTL <= 0 {
		r.Identity.TTL = 5 * time.Minute
	}
	return r
}

// NewTransport returns the transport NewHTTP uses by default: keep-alives
// with up to 256 idle connections per upstream, and timeouts for dialing,
// the TLS handshake and the response header, but none for the whole
// exchange, since SSE streams live as long as the session.
//
// The response header timeout is long (5 minutes) because an upstream that
// answers a POST with application/json sends its headers only once the
// tool call is done.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // an upstream is local infrastructure; never via HTTP_PROXY
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
}

// nilIfTypedNil turns a nil pointer in the interface (a nil *authz.Policy,
// which allows everything) into no filter at all, so that it costs nothing.
func nilIfTypedNil(f Filter) Filter {
	if v := reflect.ValueOf(f); f != nil && v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return f
}

// bufPool holds the buffers list answers are read into for filtering.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// copyPool holds the buffers response bodies are copied through.
var copyPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
