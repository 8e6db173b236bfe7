package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/refusal"
)

// HTTP is an http.Handler that forwards Streamable HTTP to one upstream MCP
// server. Create it with NewHTTP.
type HTTP struct {
	target   *url.URL
	opts     Options
	sessions *sessions
	signer   *signer
}

// NewHTTP returns a handler that forwards every request to the MCP endpoint
// at target (an http or https URL), whatever the path it was mounted at.
func NewHTTP(target string, opts *Options) (*HTTP, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("proxy: upstream url %q: want http://host/path or https://host/path", target)
	}
	if u.User != nil {
		return nil, fmt.Errorf("proxy: upstream url must not carry credentials")
	}
	o := opts.withDefaults()
	h := &HTTP{
		target:   u,
		opts:     o,
		sessions: newSessions(o.SessionTTL, o.MaxSessions),
	}
	if o.Identity.Sign != nil {
		aud := o.Identity.Audience
		if aud == "" {
			aud = u.String()
		}
		h.signer = &signer{opts: o.Identity, audience: aud, now: o.Now}
	}
	return h, nil
}

// Sessions returns the number of MCP sessions the handler remembers.
func (h *HTTP) Sessions() int { return h.sessions.len() }

// ServeHTTP implements http.Handler. It forwards one exchange in named
// steps: take the admitted request, check its session, forward it, keep
// the session table current, and answer with the upstream's response.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, r, rf := h.request(w, r)
	if rf != nil {
		refusal.Write(w, rf)
		return
	}
	x := &exchange{
		req:   req,
		owner: req.Principal.ID(),
		now:   h.opts.Now(),
		sid:   r.Header.Get("Mcp-Session-Id"),
	}
	if h.opts.Policy != nil {
		x.calls = listCallsOf(req.Calls)
	}
	if rf := h.checkSession(r, x); rf != nil {
		refusal.Write(w, rf)
		return
	}
	resp, rf := h.forward(r, x)
	if resp == nil {
		if rf != nil {
			req.Reason = auditReason(rf)
			refusal.Write(w, rf)
		}
		return // nil and nil: the client went away, nobody to answer
	}
	defer resp.Body.Close()
	h.trackSession(r, x, resp)
	h.respond(w, r, x, resp)
}

// exchange is one request and what the proxy learned about it.
type exchange struct {
	req   *pipeline.Request
	owner string // req.Principal.ID()
	now   time.Time
	sid   string     // the request's Mcp-Session-Id
	calls []listCall // the calls whose answers the list filter must see
}

// request returns what the pipeline admitted, or, for a request that
// reached the proxy without a pipeline in front, reads and parses the body
// here the same way (and returns r carrying the result).
func (h *HTTP) request(w http.ResponseWriter, r *http.Request) (*pipeline.Request, *http.Request, *refusal.Refusal) {
	if req := pipeline.FromContext(r.Context()); req != nil {
		return req, r, nil
	}
	req, rf := pipeline.Read(w, r, h.opts.MaxBodyBytes, pipeline.DefaultMaxBatch)
	if rf != nil {
		return nil, r, rf
	}
	return req, r.WithContext(pipeline.WithRequest(r.Context(), req)), nil
}

// checkSession admits a request that names a session only if the session
// exists and belongs to the caller: unknown, expired and another
// principal's sessions all look the same (404), and the request is never
// forwarded. A resumed GET stream learns the session's recent list calls,
// so that the list answers replayed on it are filtered too.
func (h *HTTP) checkSession(r *http.Request, x *exchange) *refusal.Refusal {
	if x.sid == "" {
		return nil
	}
	recent, ok := h.sessions.use(x.sid, x.owner, x.now, x.calls)
	if !ok {
		return &refusal.Refusal{Kind: refusal.SessionNotFound}
	}
	if r.Method == http.MethodGet {
		x.calls = recent
	}
	return nil
}

// forward sends the request upstream. It returns neither a response nor a
// refusal when the client went away and there is nobody to answer.
func (h *HTTP) forward(r *http.Request, x *exchange) (*http.Response, *refusal.Refusal) {
	out, err := h.outgoing(r, x.req, h.opts.Policy != nil && hasListCall(x.calls))
	if err != nil {
		h.opts.Logger.Error("proxy: identity token", "err", err)
		return nil, &refusal.Refusal{Kind: refusal.Internal, ID: x.req.SingleID(), Err: err}
	}
	if rf := h.credential(out, x); rf != nil {
		return nil, rf
	}
	resp, err := h.opts.Transport.RoundTrip(out)
	if err != nil {
		if r.Context().Err() != nil {
			return nil, nil
		}
		h.opts.Logger.Warn("proxy: upstream unavailable", "upstream", h.target.Host, "err", err)
		return nil, &refusal.Refusal{Kind: refusal.UpstreamUnavailable, ID: x.req.SingleID(), Err: err}
	}
	return resp, nil
}

// trackSession binds a session the upstream created to the caller, and
// forgets one it ended or no longer knows.
func (h *HTTP) trackSession(r *http.Request, x *exchange, resp *http.Response) {
	switch {
	case x.sid == "":
		if nsid := resp.Header.Get("Mcp-Session-Id"); nsid != "" && resp.StatusCode < 300 {
			h.sessions.bind(nsid, x.owner, x.req.Principal, x.now)
			if len(x.calls) > 0 {
				h.sessions.use(nsid, x.owner, x.now, x.calls)
			}
		}
	case resp.StatusCode == http.StatusNotFound, r.Method == http.MethodDelete && resp.StatusCode < 300:
		h.sessions.remove(x.sid)
	}
}

// respond copies the upstream's answer to the client: event streams as
// they come, list answers filtered for the caller, anything else as it is.
func (h *HTTP) respond(w http.ResponseWriter, r *http.Request, x *exchange, resp *http.Response) {
	f := listFilter{policy: h.opts.Policy, pr: x.req.Principal, calls: x.calls, strict: r.Method != http.MethodGet, logger: h.opts.Logger}
	id := x.req.SingleID()
	mediaType := baseMediaType(resp.Header.Get("Content-Type"))
	if f.active() {
		if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
			// An encoding the transport did not undo: the filter cannot
			// read it, and the answer must not pass unfiltered.
			h.opts.Logger.Warn("proxy: upstream list answer in an unreadable encoding", "upstream", h.target.Host, "encoding", ce)
			refusal.Write(w, &refusal.Refusal{Kind: refusal.UpstreamUnusable, ID: id})
			return
		}
		if mediaType != "text/event-stream" && mediaType != "application/json" && resp.StatusCode < 300 {
			// A list answer the filter cannot read must not pass
			// unfiltered: clients guess a type from the body or from a
			// Content-Type this proxy does not recognise.
			h.opts.Logger.Warn("proxy: upstream list answer of unknown type withheld", "upstream", h.target.Host, "content_type", resp.Header.Get("Content-Type"))
			refusal.Write(w, &refusal.Refusal{Kind: refusal.UpstreamUnusable, ID: id})
			return
		}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// The caller is signed in to mcpgate; the upstream refused what
		// mcpgate sent it (its identity header, a forwarded token). Its
		// challenge names its own authorization server, which the caller
		// must not be sent to, and a 401 would make the client sign in to
		// mcpgate again for nothing.
		h.opts.Logger.Warn("proxy: upstream refused the gateway's credentials", "upstream", h.target.Host, "www_authenticate", resp.Header.Get("WWW-Authenticate"))
		refusal.Write(w, &refusal.Refusal{Kind: refusal.UpstreamRejected, ID: id})
		return
	}
	copyResponseHeader(w.Header(), resp.Header)
	var err error
	switch {
	case mediaType == "text/event-stream":
		w.Header().Del("Content-Length")
		w.WriteHeader(resp.StatusCode)
		rc := http.NewResponseController(w)
		_ = rc.Flush() // the client learns the stream is open before the first event
		if f.active() {
			err = copySSE(w, rc, resp.Body, &f, h.opts.MaxResponseBytes)
		} else {
			err = copyFlushing(w, rc, resp.Body)
		}
	case f.active() && resp.StatusCode < 300:
		err = h.filterJSON(w, resp, &f, id)
	default:
		w.WriteHeader(resp.StatusCode)
		if resp.ContentLength < 0 {
			err = copyFlushing(w, http.NewResponseController(w), resp.Body)
		} else {
			bp := copyPool.Get().(*[]byte)
			_, err = io.CopyBuffer(w, resp.Body, *bp)
			copyPool.Put(bp)
		}
	}
	if err != nil && r.Context().Err() == nil {
		h.opts.Logger.Warn("proxy: response from upstream cut short", "upstream", h.target.Host, "err", err)
	}
}

// EndSession forgets session id and asks the upstream to end it, in the
// background. The pipeline calls it to make room for a principal's new
// session by ending its least recently used one.
func (h *HTTP) EndSession(id string) {
	pr, ok := h.sessions.remove(id)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := (&http.Request{Method: http.MethodDelete, URL: &url.URL{}, Header: http.Header{"Mcp-Session-Id": {id}}}).WithContext(ctx)
		out, err := h.outgoing(r, &pipeline.Request{Principal: pr}, false)
		if err != nil {
			return
		}
		if resp, err := h.opts.Transport.RoundTrip(out); err == nil {
			resp.Body.Close()
		}
	}()
}

// OpenSessions yields the sessions the handler holds.
func (h *HTTP) OpenSessions() iter.Seq[string] { return h.sessions.ids() }

// SessionTTL is how long an idle session stays bound to its principal.
func (h *HTTP) SessionTTL() time.Duration { return h.opts.SessionTTL }

// filterJSON answers with the upstream's JSON body after filtering it, or
// with a JSON-RPC error for id if it cannot.
func (h *HTTP) filterJSON(w http.ResponseWriter, resp *http.Response, f *listFilter, id json.RawMessage) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, int64(h.opts.MaxResponseBytes)+1))
	if err != nil || n > int64(h.opts.MaxResponseBytes) {
		if err == nil {
			err = errEventTooLarge
		}
		refusal.Write(w, &refusal.Refusal{Kind: refusal.UpstreamUnusable, ID: id})
		return err
	}
	out, err := f.message(buf.Bytes())
	if err != nil {
		h.opts.Logger.Warn("proxy: upstream list answer withheld", "upstream", h.target.Host, "err", err)
		refusal.Write(w, &refusal.Refusal{Kind: refusal.UpstreamUnusable, ID: id})
		return nil
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(resp.StatusCode)
	_, err = w.Write(out)
	return err
}

// outgoing builds the upstream request: same method, body and MCP headers,
// none of the client's credentials, and mcpgate's identity headers.
//
// When the answer must be filtered, the client's Accept-Encoding is dropped:
// the transport then asks for gzip itself and decompresses, so the filter
// reads plain JSON.
func (h *HTTP) outgoing(r *http.Request, req *pipeline.Request, filtering bool) (*http.Request, error) {
	pr := req.Principal
	u := *h.target
	if r.URL.RawQuery != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&" + r.URL.RawQuery
		} else {
			u.RawQuery = r.URL.RawQuery
		}
	}
	hdr := make(http.Header, len(r.Header)+5)
	var dropped []string
	if _, ok := r.Header["Connection"]; ok {
		dropped = connectionTokens(r.Header)
	}
	for k, vv := range r.Header {
		if isHopByHop(k) || isClientOnly(k) || containsString(dropped, k) || filtering && k == "Accept-Encoding" {
			continue
		}
		hdr[k] = vv
	}
	if te := r.Header["Te"]; len(te) > 0 && strings.EqualFold(strings.TrimSpace(te[0]), "trailers") {
		hdr["Te"] = []string{"trailers"}
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr["User-Agent"] = []string{""} // do not let net/http add its own
	}
	if pr != nil {
		hdr[HeaderSubject] = []string{headerValue(pr.Subject)}
		if pr.Tenant != "" {
			hdr[HeaderTenant] = []string{headerValue(pr.Tenant)}
		}
		if pr.ClientID != "" {
			hdr[HeaderClient] = []string{headerValue(pr.ClientID)}
		}
		hdr[HeaderScopes] = []string{headerValue(strings.Join(pr.Scopes, " "))}
		if h.signer != nil {
			tok, err := h.signer.token(pr)
			if err != nil {
				return nil, err
			}
			hdr[HeaderIdentity] = []string{tok}
		}
	}
	out := &http.Request{
		Method:     r.Method,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Host:       u.Host,
	}
	if req.Body != nil {
		out.ContentLength = int64(len(req.Body))
		out.Body = req.NewBody()
		// GetBody lets the transport resend the body when a pooled
		// connection turns out to be closed before anything was written.
		out.GetBody = func() (io.ReadCloser, error) { return req.NewBody(), nil }
	}
	return out.WithContext(r.Context()), nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// copyResponseHeader copies upstream response headers but the hop-by-hop
// ones, those mcpgate already set (its request id, security and rate-limit
// headers win), and those that would let an upstream act for mcpgate's
// origin: cookies (the sign-in pages' session lives on this origin), CORS
// grants (mcpgate's policy decides which pages may call), and
// authentication challenges (they would send the caller to the upstream's
// authorization server).
func copyResponseHeader(dst, src http.Header) {
	var dropped []string
	if _, ok := src["Connection"]; ok {
		dropped = connectionTokens(src)
	}
	for k, vv := range src {
		if isHopByHop(k) || containsString(dropped, k) || upstreamMayNotSet(k) {
			continue
		}
		if _, set := dst[k]; set {
			if k == "Vary" { // both lists hold: mcpgate's Origin and the upstream's own
				dst[k] = append(dst[k], vv...)
			}
			continue
		}
		dst[k] = vv
	}
}

// upstreamMayNotSet reports whether the canonical header k is one an
// upstream's answer may not carry to the client.
func upstreamMayNotSet(k string) bool {
	switch k {
	case "Set-Cookie", "Set-Cookie2", "Www-Authenticate", "Clear-Site-Data", "Refresh":
		return true
	}
	return strings.HasPrefix(k, "Access-Control-")
}

// baseMediaType returns the media type of a Content-Type value, lower-case
// and without parameters. Parameters are not parsed: a client reading a
// body by its type ignores malformed or repeated ones too.
func baseMediaType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// copyFlushing copies a body of unknown length, flushing after each read so
// that nothing waits in a buffer (httputil.ReverseProxy's FlushInterval -1).
func copyFlushing(w io.Writer, rc *http.ResponseController, r io.Reader) error {
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
