// Package pipeline is mcpgate's request path for MCP endpoints, as
// net/http middleware that works in front of any MCP handler: the built-in
// server, an upstream over HTTP or stdio, or a go-sdk server of your own.
//
// Every request goes through the same stages, in this order, each either
// admitting the request or returning a refusal:
//
//  1. method and origin: GET, POST or DELETE, from no foreign page;
//  2. authenticate: the bearer credential, from the headers alone, so an
//     anonymous client never makes the server read or parse a body (a
//     client address that keeps failing gets 429);
//  3. read the body once, within the size limit;
//  4. parse the JSON-RPC message or batch once, within the batch limit,
//     and check that the Mcp-Method and Mcp-Name headers, where sent,
//     name what the body does (SEP-2243);
//  5. rate limit: charge the calls to the principal's limits (429);
//  6. authorize every call against the scope policy;
//  7. session room: a new MCP session only while there is room for it;
//  8. dispatch to the MCP handler, with the principal, the body and the
//     parsed calls in the request context ([FromContext]);
//  9. audit: one event per call, filled in one place from the outcome,
//     its target masked as the log masks credentials.
//
// Refusals are written by package refusal, one table for every status.
//
//	p := pipeline.New(authenticator, &pipeline.Options{Policy: policy, Audit: sink})
//	http.Handle("/mcp", p.Handler(mcpHandler))
package pipeline

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/redact"
	"github.com/mcpgate/mcpgate/refusal"
)

// Defaults of [Options].
const (
	DefaultMaxBodyBytes            = 4 << 20
	DefaultMaxBatch                = 100
	DefaultBodyTimeout             = 30 * time.Second
	DefaultMaxSessions             = 100_000
	DefaultMaxSessionsPerPrincipal = 100
)

// Options configure a [Pipeline]. The zero value is valid.
type Options struct {
	// Policy decides which scopes each call needs; nil lets any
	// authenticated principal make every call.
	Policy *authz.Policy
	// ResourceMetadataURL is announced in 403 insufficient_scope
	// challenges (RFC 9728), as the authenticator does in its 401s.
	ResourceMetadataURL string
	// PublicURL is the canonical URL of the MCP endpoint. Browser requests
	// whose Origin is neither its origin nor one CORSOrigins admits are
	// refused (403), so that a page cannot drive a server it should not
	// reach (DNS rebinding).
	PublicURL *url.URL
	// CORSOrigins are the origins of the pages, besides the public URL's,
	// that may call the endpoint and read its answers (CORS): exact
	// origins (https://app.example.com), [LoopbackOrigins] or [AnyOrigin].
	// Nil means LoopbackOrigins. Entries [ValidateOrigins] refuses match
	// nothing.
	CORSOrigins []string
	// FrontPage, when set, is the URL of the page that tells people how
	// to connect: a browser that opens the MCP URL itself (a GET that
	// accepts HTML and not an event stream) gets the same 401 and
	// challenge as any client, with a short HTML body linking there
	// instead of the JSON one.
	FrontPage string
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BodyTimeout bounds how long reading a request body may take, so a
	// client that declares a body and sends it a byte at a time does not
	// hold a connection; 0 means DefaultBodyTimeout. The deadline is
	// lifted once the body is read: responses (event streams) may last.
	BodyTimeout time.Duration
	// MaxBatch bounds the messages of a JSON-RPC batch; 0 means
	// DefaultMaxBatch. A larger batch is refused before any call of it is
	// audited or forwarded.
	MaxBatch int
	// MaxSessions bounds the MCP sessions of the handler; a new session
	// beyond it is refused with 503. 0 means DefaultMaxSessions.
	MaxSessions int
	// MaxSessionsPerPrincipal bounds the sessions of one principal; a new
	// one beyond it ends that principal's least recently used session. 0
	// means DefaultMaxSessionsPerPrincipal.
	MaxSessionsPerPrincipal int
	// RateLimit charges each request to the caller's limits, and failed
	// authentications to the client's address; nil limits nothing.
	// *ratelimit.Limiter implements it.
	RateLimit RateLimiter
	// Audit receives one event per JSON-RPC call (one per request without
	// calls). Nil audits nothing.
	Audit func(*mcpgate.AuditEvent)
	// RequestID returns the id of the request, for audit events; nil
	// leaves it empty. It gets the response writer too, for ids set as a
	// response header by middleware in front.
	RequestID func(http.ResponseWriter, *http.Request) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, is told the outcome of every request once it is
	// audited, for metrics. It must be cheap and must not block.
	Observe func(*http.Request, Observation)
}

// Observation is the outcome of one request, as metrics count it.
type Observation struct {
	Decision    string        // an mcpgate.Decision* constant
	Refused     bool          // a stage refused it; the handler never saw it
	Status      int           // HTTP status returned
	Calls       int           // JSON-RPC calls in the request
	Latency     time.Duration // the whole request
	AuthLatency time.Duration // the authentication stage
}

// A RateLimiter charges requests to limits.
type RateLimiter interface {
	// Limit charges the calls of an authenticated request (none for GET
	// and DELETE), whose scopes policy requires, and adds the RateLimit
	// fields to h; a refusal when a limit is exceeded.
	Limit(ctx context.Context, pr *mcpgate.Principal, calls []authz.Call, policy *authz.Policy, h http.Header) *refusal.Refusal
	// AuthFailed charges a failed authentication to the client of r; a
	// refusal when its address is over its limit.
	AuthFailed(r *http.Request) *refusal.Refusal
}

// Pipeline is the request path in front of one MCP handler. Create it with
// New and mount Handler.
type Pipeline struct {
	auth    *authn.Authenticator
	opts    Options
	origins origins
	cop     *http.CrossOriginProtection
}

// New returns a pipeline that authenticates with auth. opts may be nil.
func New(auth *authn.Authenticator, opts *Options) *Pipeline {
	p := &Pipeline{auth: auth}
	if opts != nil {
		p.opts = *opts
	}
	o := &p.opts
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.MaxSessionsPerPrincipal <= 0 {
		o.MaxSessionsPerPrincipal = DefaultMaxSessionsPerPrincipal
	}
	if o.Audit == nil {
		o.Audit = func(*mcpgate.AuditEvent) {}
	}
	if o.RequestID == nil {
		o.RequestID = func(http.ResponseWriter, *http.Request) string { return "" }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	list := o.CORSOrigins
	if list == nil {
		list = []string{LoopbackOrigins}
	}
	p.origins, _ = parseOrigins(list)
	if pu := o.PublicURL; pu != nil {
		p.origins.exact[strings.ToLower(pu.Scheme+"://"+pu.Host)] = true
	}
	// It judges only the requests whose origin is absent or opaque: an
	// allowed origin is admitted and any other refused before it.
	p.cop = http.NewCrossOriginProtection()
	return p
}

// Handler returns next behind the pipeline. If next implements
// [SessionServer], its MCP sessions are bounded as Options say.
func (p *Pipeline) Handler(next http.Handler) http.Handler {
	var sessions *sessionTable
	if ss, ok := next.(SessionServer); ok {
		sessions = newSessionTable(ss, p.opts.MaxSessions, p.opts.MaxSessionsPerPrincipal)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{start: p.opts.Now()}
		x.rec.ResponseWriter = w
		x.req.ID = p.opts.RequestID(w, r)
		defer p.auditPanic(x, r)

		// Answers depend on the Origin header: shared caches must not serve
		// one page's answer to another.
		w.Header()["Vary"] = []string{"Origin"}
		if origin := r.Header.Get("Origin"); origin != "" && p.origins.allows(origin) {
			grantCORS(w.Header(), origin)
			if isPreflight(r) {
				// Not audited: a preflight carries no credential and no call.
				answerPreflight(w)
				return
			}
		}
		rf := p.admit(w, r, x, sessions)
		if rf != nil {
			if rf.Kind == refusal.Unauthenticated && p.opts.FrontPage != "" && browserNavigation(r) {
				rf.Page = p.opts.FrontPage
			}
			refusal.Write(&x.rec, rf)
		} else {
			p.dispatch(x, r, next, sessions)
		}
		p.audit(x, r, rf)
		if p.opts.Observe != nil {
			p.observe(x, r, rf)
		}
	})
}

// auditPanic records a request whose handling panicked, which the audit
// at the end of Handler never sees, and panics again for the recovering
// middleware outside (redact.Recover) to log and answer. A handler that
// aborts its response (http.ErrAbortHandler) is recorded with the status it
// sent; any other panic as an internal error.
func (p *Pipeline) auditPanic(x *exchange, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	var rf *refusal.Refusal
	if v != http.ErrAbortHandler {
		rf = refusal.New(refusal.Internal)
		if x.rec.code == 0 {
			x.rec.code = http.StatusInternalServerError
		}
	}
	p.audit(x, r, rf)
	panic(v)
}

// exchange is one request on its way through the pipeline.
type exchange struct {
	start time.Time
	req   Request
	rec   recorder
	auth  time.Duration // spent authenticating, measured only when observed
}

// observe tells Options.Observe the outcome of x.
func (p *Pipeline) observe(x *exchange, r *http.Request, rf *refusal.Refusal) {
	o := Observation{Refused: rf != nil, Status: x.rec.status(), Calls: len(x.req.Calls),
		Latency: p.opts.Now().Sub(x.start), AuthLatency: x.auth}
	if rf != nil {
		o.Decision = rf.Kind.Decision()
	} else {
		o.Decision = decisionFor(o.Status)
	}
	p.opts.Observe(r, o)
}

// admit runs the stages before dispatch, in order, and returns the first
// refusal.
func (p *Pipeline) admit(w http.ResponseWriter, r *http.Request, x *exchange, sessions *sessionTable) *refusal.Refusal {
	req := &x.req
	if rf := p.checkMethodAndOrigin(r); rf != nil {
		return rf
	}
	var authStart time.Time
	if p.opts.Observe != nil {
		authStart = time.Now()
	}
	rf := p.authenticate(r, req)
	if p.opts.Observe != nil {
		x.auth = time.Since(authStart)
	}
	if rf != nil {
		return rf
	}
	if req.Body, rf = readBodyWithin(w, r, p.opts.MaxBodyBytes, p.opts.BodyTimeout); rf != nil {
		return rf
	}
	if req.Body != nil {
		if req.Calls, req.Batch, rf = parseCalls(req.Body, p.opts.MaxBatch); rf != nil {
			return rf
		}
		if rf := checkHeaders(r.Header, req); rf != nil {
			return rf
		}
	}
	// Limits come after the parse because a limit may be per tool; the
	// body read before is bounded, and only an authenticated caller's.
	if rl := p.opts.RateLimit; rl != nil {
		if rf := rl.Limit(r.Context(), req.Principal, req.Calls, p.opts.Policy, w.Header()); rf != nil {
			return rf
		}
	}
	if rf := p.authorize(req); rf != nil {
		return rf
	}
	if sessions != nil && r.Header.Get("Mcp-Session-Id") == "" && req.Has("initialize") {
		ok, reserved := sessions.room(req.Principal.ID(), p.opts.Now())
		if !ok {
			return &refusal.Refusal{Kind: refusal.TooManySessions, ID: req.SingleID()}
		}
		req.reserved = reserved
	}
	return nil
}

// browserNavigation reports whether r is a person's browser opening the
// URL: a GET that accepts HTML and not an event stream, which every MCP
// client's GET asks for.
func browserNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	accept := strings.Join(r.Header.Values("Accept"), ",")
	return strings.Contains(accept, "text/html") && !strings.Contains(accept, "text/event-stream")
}

// checkMethodAndOrigin refuses browser requests from origins that are not
// allowed, preflights included (the MCP transport requires a 403: a page
// must not drive a server it should not reach, DNS rebinding), then admits
// the three methods of Streamable HTTP.
//
// A page of an allowed origin may POST and DELETE across origins: the
// endpoint reads no cookie, only the bearer credential the page itself
// sends, so such a request carries no ambient authority to forge (CSRF).
// Requests whose origin is absent or opaque ("null": a sandboxed frame, a
// local file) are left to http.CrossOriginProtection, which refuses those
// a browser marks cross-site.
func (p *Pipeline) checkMethodAndOrigin(r *http.Request) *refusal.Refusal {
	switch o := r.Header.Get("Origin"); {
	case o != "" && p.origins.allows(o):
	case o != "" && (o != "null" || isPreflight(r)):
		return &refusal.Refusal{Kind: refusal.ForeignOrigin}
	default:
		if err := p.cop.Check(r); err != nil {
			return &refusal.Refusal{Kind: refusal.ForeignOrigin, Message: "cross-origin request refused", Err: err}
		}
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		return &refusal.Refusal{Kind: refusal.MethodNotAllowed, Header: allowHeader}
	}
	return nil
}

var allowHeader = http.Header{"Allow": {"GET, POST, DELETE"}}

// LoopbackHost reports whether hostport names a loopback address or
// localhost.
func LoopbackHost(hostport string) bool {
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

func (p *Pipeline) authenticate(r *http.Request, req *Request) *refusal.Refusal {
	pr, err := p.auth.Check(r)
	if err != nil {
		rf := p.auth.Refusal(r, err)
		if rl := p.opts.RateLimit; rl != nil && rf.Kind == refusal.Unauthenticated {
			if limited := rl.AuthFailed(r); limited != nil {
				return limited
			}
		}
		return rf
	}
	req.Principal = pr
	return nil
}

// checkHeaders refuses a message whose Mcp-Method or Mcp-Name header (the
// standard request headers of SEP-2243, which load balancers and gateways
// route by) names something other than its body: the policy and the audit
// read the body, so the two must agree. Headers not sent are not required
// here; the server behind may require them.
func checkHeaders(h http.Header, req *Request) *refusal.Refusal {
	method, name := h["Mcp-Method"], h["Mcp-Name"]
	if len(method) == 0 && len(name) == 0 {
		return nil
	}
	if req.Batch || len(req.Calls) != 1 || req.Calls[0].Method == "" {
		return &refusal.Refusal{Kind: refusal.HeaderMismatch, Message: "Mcp-Method and Mcp-Name apply to a single request"}
	}
	c := req.Calls[0]
	if len(method) > 0 && (len(method) > 1 || method[0] != c.Method) {
		return &refusal.Refusal{Kind: refusal.HeaderMismatch, ID: req.SingleID(), Message: "header mismatch: Mcp-Method does not match the body"}
	}
	if len(name) > 0 && hasName(c.Method) && (len(name) > 1 || name[0] != c.Name) {
		return &refusal.Refusal{Kind: refusal.HeaderMismatch, ID: req.SingleID(), Message: "header mismatch: Mcp-Name does not match the body"}
	}
	return nil
}

// hasName reports whether method's params name a tool, resource or prompt
// that Mcp-Name carries.
func hasName(method string) bool {
	switch method {
	case "tools/call", "resources/read", "prompts/get":
		return true
	}
	return false
}

func (p *Pipeline) authorize(req *Request) *refusal.Refusal {
	if missing, ok := p.opts.Policy.Check(req.Principal, req.Calls); !ok {
		return authn.InsufficientScope(p.opts.ResourceMetadataURL, missing...)
	}
	return nil
}

// dispatch hands the admitted request to next, with the principal and the
// Request in its context and its body readable again, and keeps the
// session table up to date with what next answers.
func (p *Pipeline) dispatch(x *exchange, r *http.Request, next http.Handler, sessions *sessionTable) {
	req := &x.req
	ctx := mcpgate.WithPrincipal(WithRequest(r.Context(), req), req.Principal)
	r = r.WithContext(ctx)
	if req.Body != nil {
		r.Body = req.NewBody()
		r.ContentLength = int64(len(req.Body))
	}
	sid := r.Header.Get("Mcp-Session-Id")
	if sessions != nil {
		x.rec.onHeader = func(status int, h http.Header) {
			if sessions.observe(req.Principal.ID(), r.Method, sid, status, h.Get("Mcp-Session-Id"), p.opts.Now(), req.reserved) {
				req.reserved = false
			}
		}
		defer func() {
			if req.reserved {
				sessions.release()
			}
		}()
	}
	next.ServeHTTP(&x.rec, r)
}

// audit records the outcome: one event per call of the request (a batch is
// several, so no call hides behind another), or one for a request without
// calls (GET, DELETE, a refused one).
func (p *Pipeline) audit(x *exchange, r *http.Request, rf *refusal.Refusal) {
	ev := mcpgate.AuditEvent{
		Time:      x.start.UTC(),
		RequestID: x.req.ID,
		Method:    r.Method,
		Remote:    r.RemoteAddr,
		Status:    x.rec.status(),
		Latency:   p.opts.Now().Sub(x.start),
	}
	if pr := x.req.Principal; pr != nil {
		ev.Subject, ev.Tenant, ev.KeyID, ev.ClientID = pr.Subject, pr.Tenant, pr.KeyID, pr.ClientID
	}
	if rf != nil {
		ev.Decision, ev.Reason = rf.Kind.Decision(), mcpgate.Reason(rf.Err)
		if ev.Reason == "" {
			ev.Reason = rf.Kind.Reason()
		}
		if ev.Reason == "" {
			// A verifier that names no reason.
			ev.Reason = mcpgate.DecisionUnauthenticated
		}
	} else {
		ev.Decision, ev.Reason = decisionFor(ev.Status), x.req.Reason
	}
	if len(x.req.Calls) == 0 {
		p.opts.Audit(&ev)
		return
	}
	for _, c := range x.req.Calls {
		e := ev
		// A resource URI may carry a credential (?access_token=, a key):
		// the audit table keeps what the log keeps, masked the same way.
		e.Method, e.Target = c.Method, redact.String(c.Name)
		if e.Method == "" {
			e.Method = "response"
		}
		p.opts.Audit(&e)
	}
}

// decisionFor names what the status of a request that no stage refused
// says happened: the server behind may still refuse (an SDK answers 403 to
// a session of another principal).
func decisionFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return mcpgate.DecisionUnauthenticated
	case status == http.StatusForbidden:
		return mcpgate.DecisionDeny
	case status >= 400:
		return mcpgate.DecisionError
	}
	return mcpgate.DecisionAllow
}

// recorder remembers the status written through it and tells onHeader
// when the header goes out. Unwrap lets http.ResponseController reach
// Flush and deadlines of the real writer, so SSE streams pass through
// unbuffered.
type recorder struct {
	http.ResponseWriter
	code     int
	onHeader func(status int, h http.Header)
}

func (w *recorder) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		// Informational (100 Continue, 103 Early Hints): the final
		// status is still to come.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.code == 0 {
		w.code = code
		if w.onHeader != nil {
			w.onHeader(code, w.Header())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Flush() {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recorder) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
