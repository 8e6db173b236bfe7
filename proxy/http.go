package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/mcpgate/mcpgate"
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

// ServeHTTP implements http.Handler.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pr := mcpgate.PrincipalFromContext(r.Context())
	owner := pr.ID()
	now := h.opts.Now()

	// Read the body, so that the list calls in it are known before the
	// response arrives. The buffer goes back to the pool once both this
	// handler and the transport are done with it.
	var body *requestBody
	var calls []listCall
	if r.Body != nil && r.Body != http.NoBody && r.Method != http.MethodGet {
		body = newRequestBody()
		defer body.release()
		n, err := body.buf.ReadFrom(io.LimitReader(r.Body, h.opts.MaxBodyBytes+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, nil, codeInvalidRequest, "cannot read request body")
			return
		}
		if n > h.opts.MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, nil, codeInvalidRequest, "request body too large")
			return
		}
		if h.opts.Policy != nil {
			calls = listCalls(body.buf.Bytes())
		}
	}

	sid := r.Header.Get("Mcp-Session-Id")
	if sid != "" {
		recent, ok := h.sessions.use(sid, owner, now, calls)
		if !ok {
			// Unknown, expired, or another principal's: all look the same.
			writeError(w, http.StatusNotFound, nil, codeSessionNotFound, "session not found")
			return
		}
		if r.Method == http.MethodGet {
			calls = recent
		}
	}

	filtering := h.opts.Policy != nil && hasListCall(calls)
	out, err := h.outgoing(r, pr, body, filtering)
	if err != nil {
		h.opts.Logger.Error("proxy: identity token", "err", err)
		writeError(w, http.StatusInternalServerError, h.errID(body), codeInternalError, "internal error")
		return
	}
	resp, err := h.opts.Transport.RoundTrip(out)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away; nobody to answer
		}
		h.opts.Logger.Warn("proxy: upstream unavailable", "upstream", h.target.Host, "err", err)
		writeError(w, http.StatusBadGateway, h.errID(body), codeInternalError, "upstream unavailable")
		return
	}
	defer resp.Body.Close()

	if sid == "" {
		if nsid := resp.Header.Get("Mcp-Session-Id"); nsid != "" && resp.StatusCode < 300 {
			h.sessions.bind(nsid, owner, now)
			if len(calls) > 0 {
				h.sessions.use(nsid, owner, now, calls)
			}
		}
	} else if resp.StatusCode == http.StatusNotFound ||
		r.Method == http.MethodDelete && resp.StatusCode < 300 {
		h.sessions.remove(sid)
	}

	f := listFilter{policy: h.opts.Policy, pr: pr, calls: calls, strict: r.Method != http.MethodGet, logger: h.opts.Logger}
	if ce := resp.Header.Get("Content-Encoding"); filtering && ce != "" && ce != "identity" {
		// An encoding the transport did not undo: the filter cannot read it,
		// and the answer must not pass unfiltered.
		h.opts.Logger.Warn("proxy: upstream list answer in an unreadable encoding", "upstream", h.target.Host, "encoding", ce)
		writeError(w, http.StatusBadGateway, h.errID(body), codeInternalError, "upstream response unusable")
		return
	}
	copyResponseHeader(w.Header(), resp.Header)
	mediaType := baseMediaType(resp.Header.Get("Content-Type"))
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
	case f.active() && mediaType == "application/json" && resp.StatusCode < 300:
		err = h.filterJSON(w, resp, &f, h.errID(body))
	case f.active() && resp.StatusCode < 300:
		// A list answer the filter cannot read must not pass unfiltered:
		// clients guess a type from the body or from a Content-Type this
		// proxy does not recognise.
		h.opts.Logger.Warn("proxy: upstream list answer of unknown type withheld", "upstream", h.target.Host, "content_type", resp.Header.Get("Content-Type"))
		for k := range w.Header() {
			delete(w.Header(), k)
		}
		writeError(w, http.StatusBadGateway, h.errID(body), codeInternalError, "upstream response unusable")
		return
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

// errID returns the id to put in an error answering the request body.
func (h *HTTP) errID(body *requestBody) []byte {
	if body == nil {
		return nil
	}
	return requestID(body.buf.Bytes())
}

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
		writeError(w, http.StatusBadGateway, id, codeInternalError, "upstream response unusable")
		return err
	}
	out, err := f.message(buf.Bytes())
	if err != nil {
		h.opts.Logger.Warn("proxy: upstream list answer withheld", "upstream", h.target.Host, "err", err)
		writeError(w, http.StatusBadGateway, id, codeInternalError, "upstream response unusable")
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
func (h *HTTP) outgoing(r *http.Request, pr *mcpgate.Principal, body *requestBody, filtering bool) (*http.Request, error) {
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
	if body != nil {
		out.ContentLength = int64(body.buf.Len())
		if out.ContentLength > 0 {
			body.acquire()
			body.first.b = body
			body.first.r.Reset(body.buf.Bytes())
			out.Body = &body.first
			// GetBody lets the transport resend the body when a pooled
			// connection turns out to be closed before anything was written.
			out.GetBody = func() (io.ReadCloser, error) {
				if !body.tryAcquire() {
					return nil, errBodyReleased
				}
				br := &bodyReader{b: body}
				br.r.Reset(body.buf.Bytes())
				return br, nil
			}
		} else {
			out.Body = http.NoBody
		}
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
// ones.
func copyResponseHeader(dst, src http.Header) {
	var dropped []string
	if _, ok := src["Connection"]; ok {
		dropped = connectionTokens(src)
	}
	for k, vv := range src {
		if isHopByHop(k) || containsString(dropped, k) {
			continue
		}
		dst[k] = vv
	}
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

// requestBody is a pooled request body shared by the handler and the
// transport, which may close its copy after RoundTrip has returned.
type requestBody struct {
	buf   *bytes.Buffer
	refs  atomic.Int32
	first bodyReader // the upstream request's Body, allocated with the rest
}

func newRequestBody() *requestBody {
	b := &requestBody{buf: bufPool.Get().(*bytes.Buffer)}
	b.buf.Reset()
	b.refs.Store(1)
	return b
}

func (b *requestBody) acquire() { b.refs.Add(1) }

// tryAcquire takes a reference unless the buffer has gone back to the pool.
func (b *requestBody) tryAcquire() bool {
	for {
		n := b.refs.Load()
		if n <= 0 {
			return false
		}
		if b.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

var errBodyReleased = errors.New("proxy: request body already released")

func (b *requestBody) release() {
	if b.refs.Add(-1) == 0 {
		if b.buf.Cap() <= 1<<20 {
			bufPool.Put(b.buf)
		}
		b.buf = nil
	}
}

// bodyReader is the upstream request's body.
type bodyReader struct {
	b      *requestBody
	r      bytes.Reader
	closed atomic.Bool
}

func (br *bodyReader) Read(p []byte) (int, error) { return br.r.Read(p) }

func (br *bodyReader) Close() error {
	if br.closed.CompareAndSwap(false, true) {
		br.b.release()
	}
	return nil
}
