package proxy_test

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/internal/conformanceserver"
	"github.com/mcpgate/mcpgate/proxy"
)

// principals are the callers the test gateway knows, by bearer token.
var principals = map[string]*mcpgate.Principal{
	"tok-alice": {Subject: "alice", Tenant: "acme", ClientID: "cli-1", Scopes: []string{"tools:basic"}},
	"tok-bob":   {Subject: "bob", Tenant: "acme", Scopes: []string{"tools:basic", "admin"}},
}

// testPolicy lets holders of tools:basic see the simple text and image
// tools; everything else needs admin.
var testPolicy = &authz.Policy{
	Tools: []authz.Rule{
		{Match: "test_simple_text", Scopes: []string{"tools:basic"}},
		{Match: "test_image_*", Scopes: []string{"tools:basic"}},
	},
	Default: []string{"admin"},
}

// authenticate stands in for the gateway's authentication: it maps the
// bearer token to a principal and refuses anything else.
func authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		pr, ok := principals[tok]
		if !ok {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(mcpgate.WithPrincipal(r.Context(), pr)))
	})
}

// recorder keeps the headers of every request an upstream received.
type recorder struct {
	mu      sync.Mutex
	headers []http.Header
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.headers = append(rec.headers, r.Header.Clone())
		rec.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (rec *recorder) all() []http.Header {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.headers)
}

// bearer adds a token and extra headers to every request.
type bearer struct {
	token string
	extra map[string]string
	base  http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	for k, v := range b.extra {
		r.Header.Set(k, v)
	}
	return b.base.RoundTrip(r)
}

type fixture struct {
	upstream *httptest.Server
	gateway  *httptest.Server
	proxy    *proxy.HTTP
	rec      *recorder
}

// newFixture runs the conformance server behind the proxy behind the test
// authentication.
func newFixture(t *testing.T, jsonResponse bool, opts *proxy.Options) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	server := conformanceserver.New(ctx)
	up := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{JSONResponse: jsonResponse})
	rec := &recorder{}
	upstream := httptest.NewServer(rec.wrap(up))
	t.Cleanup(upstream.Close)
	p, err := proxy.NewHTTP(upstream.URL+"/mcp", opts)
	if err != nil {
		t.Fatal(err)
	}
	gateway := httptest.NewServer(authenticate(p))
	t.Cleanup(gateway.Close)
	return &fixture{upstream: upstream, gateway: gateway, proxy: p, rec: rec}
}

func connect(t *testing.T, url, token string, extra map[string]string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "proxy-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:   url,
		HTTPClient: &http.Client{Transport: &bearer{token: token, extra: extra, base: http.DefaultTransport}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func TestHTTPFiltersToolsList(t *testing.T) {
	for _, tc := range []struct {
		name string
		json bool
	}{
		{"sse", false},
		{"json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.json, &proxy.Options{Policy: testPolicy})

			got := toolNames(t, connect(t, f.gateway.URL, "tok-alice", nil))
			want := []string{"test_image_content", "test_simple_text"}
			if !slices.Equal(got, want) {
				t.Errorf("alice sees %v, want %v", got, want)
			}

			all := toolNames(t, connect(t, f.gateway.URL, "tok-bob", nil))
			if len(all) < 10 || !slices.Contains(all, "test_tool_with_progress") {
				t.Errorf("bob (admin) sees %d tools %v, want every tool", len(all), all)
			}

			// Calls still work through the proxy.
			cs := connect(t, f.gateway.URL, "tok-alice", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
			if err != nil || res.IsError || len(res.Content) == 0 {
				t.Fatalf("tools/call = %v, %v", res, err)
			}
		})
	}
}

func TestHTTPNeverForwardsClientCredentials(t *testing.T) {
	var signed []map[string]any
	var mu sync.Mutex
	opts := &proxy.Options{Identity: proxy.IdentityOptions{
		Sign: func(claims map[string]any) (string, error) {
			mu.Lock()
			signed = append(signed, claims)
			mu.Unlock()
			return "signed." + claims["sub"].(string), nil
		},
	}}
	f := newFixture(t, false, opts)
	forged := map[string]string{
		"Cookie":              "session=secret-cookie",
		"X-Mcpgate-Subject":   "root",
		"X-Mcpgate-Scopes":    "admin everything",
		"X-Mcpgate-Identity":  "forged",
		"X-Mcpgate-Something": "x",
		"Proxy-Authorization": "Basic c2VjcmV0",
		"X_Mcpgate_Tenant":    "forged-tenant", // read as X-Mcpgate-Tenant by CGI/WSGI servers
		"X_Forwarded_For":     "1.2.3.4",
	}
	cs := connect(t, f.gateway.URL, "tok-alice", forged)
	toolNames(t, cs)

	hs := f.rec.all()
	if len(hs) < 3 {
		t.Fatalf("upstream saw %d requests, want at least 3", len(hs))
	}
	for i, h := range hs {
		for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization", "X-Mcpgate-Something"} {
			if v := h.Values(k); len(v) > 0 {
				t.Errorf("request %d: upstream received %s: %q", i, k, v)
			}
		}
		for _, v := range h {
			for _, s := range v {
				if strings.Contains(s, "tok-alice") || strings.Contains(s, "secret") || strings.HasPrefix(s, "forged") || s == "root" || s == "1.2.3.4" {
					t.Errorf("request %d: upstream received client-supplied %q", i, s)
				}
			}
		}
		checks := []struct{ key, want string }{
			{proxy.HeaderSubject, "alice"},
			{proxy.HeaderTenant, "acme"},
			{proxy.HeaderClient, "cli-1"},
			{proxy.HeaderScopes, "tools:basic"},
			{proxy.HeaderIdentity, "signed.alice"},
		}
		for _, c := range checks {
			if got := h.Values(c.key); len(got) != 1 || got[0] != c.want {
				t.Errorf("request %d: %s = %q, want [%q]", i, c.key, got, c.want)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(signed) != 1 {
		t.Errorf("signed %d identity tokens for one principal, want 1 (cached)", len(signed))
	} else if c := signed[0]; c["tenant"] != "acme" || c["scope"] != "tools:basic" || c["client_id"] != "cli-1" || c["aud"] != f.upstream.URL+"/mcp" {
		t.Errorf("claims = %v", c)
	}
}

// post sends one JSON-RPC message as token, with an optional session.
func post(t *testing.T, url, token, session, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func TestHTTPSessionBoundToPrincipal(t *testing.T) {
	f := newFixture(t, true, nil)
	resp := post(t, f.gateway.URL, "tok-alice", "", initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: status %d, session %q", resp.StatusCode, sid)
	}
	io.Copy(io.Discard, resp.Body)
	post(t, f.gateway.URL, "tok-alice", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	before := len(f.rec.all())
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	stolen := post(t, f.gateway.URL, "tok-bob", sid, list)
	if stolen.StatusCode != http.StatusNotFound {
		t.Errorf("bob with alice's session: status %d, want 404", stolen.StatusCode)
	}
	unknown := post(t, f.gateway.URL, "tok-bob", "no-such-session", list)
	if unknown.StatusCode != http.StatusNotFound {
		t.Errorf("unknown session: status %d, want 404", unknown.StatusCode)
	}
	if after := len(f.rec.all()); after != before {
		t.Errorf("upstream received %d requests for refused sessions", after-before)
	}

	own := post(t, f.gateway.URL, "tok-alice", sid, list)
	if own.StatusCode != http.StatusOK {
		t.Errorf("alice with her session: status %d, want 200", own.StatusCode)
	}

	// DELETE ends the session for everyone.
	req, _ := http.NewRequest(http.MethodDelete, f.gateway.URL, nil)
	req.Header.Set("Authorization", "Bearer tok-alice")
	req.Header.Set("Mcp-Session-Id", sid)
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if del.StatusCode >= 300 {
		t.Fatalf("DELETE: status %d", del.StatusCode)
	}
	if n := f.proxy.Sessions(); n != 0 {
		t.Errorf("%d sessions remembered after DELETE, want 0", n)
	}
	if again := post(t, f.gateway.URL, "tok-alice", sid, list); again.StatusCode != http.StatusNotFound {
		t.Errorf("deleted session: status %d, want 404", again.StatusCode)
	}
}

func TestHTTPUpstreamDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	p, err := proxy.NewHTTP("http://"+addr+"/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(authenticate(p))
	defer gw.Close()

	for _, tc := range []struct {
		name, body, wantID string
	}{
		{"number id", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, "7"},
		{"string id", `{"jsonrpc":"2.0","id":"a-1","method":"ping"}`, `"a-1"`},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp := post(t, gw.URL, "tok-alice", "", tc.body)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d, want 502", resp.StatusCode)
			}
			var msg struct {
				JSONRPC string          `json:"jsonrpc"`
				ID      json.RawMessage `json:"id"`
				Error   struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
				t.Fatal(err)
			}
			if msg.JSONRPC != "2.0" || string(msg.ID) != tc.wantID || msg.Error.Code != -32603 || msg.Error.Message != "upstream unavailable" {
				t.Errorf("body = %+v (id %s)", msg, msg.ID)
			}
		})
	}
}

func TestHTTPClientCancelReachesUpstream(t *testing.T) {
	arrived := make(chan struct{})
	cancelled := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // net/http notices a closed connection only once the body is read
		close(arrived)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	}))
	defer upstream.Close()
	p, err := proxy.NewHTTP(upstream.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(authenticate(p))
	defer gw.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}`))
	req.Header.Set("Authorization", "Bearer tok-alice")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the upstream")
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("upstream did not see the client's cancellation")
	}
	if err := <-errc; err == nil {
		t.Error("client request succeeded after cancel")
	}
}

func TestHTTPStreamsSSEIncrementally(t *testing.T) {
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
			return
		}
		io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}\n\n")
	}))
	defer upstream.Close()
	for _, policy := range []proxy.Filter{nil, testPolicy} {
		p, err := proxy.NewHTTP(upstream.URL, &proxy.Options{Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		gw := httptest.NewServer(authenticate(p))
		// tools/list makes the filter parse events one by one.
		resp := post(t, gw.URL, "tok-alice", "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		br := bufio.NewReader(resp.Body)
		first := readEvent(t, br)
		if !strings.Contains(first, "notifications/progress") {
			t.Errorf("first event = %q", first)
		}
		release <- struct{}{}
		second := readEvent(t, br)
		if !strings.Contains(second, `"tools":[]`) {
			t.Errorf("second event = %q", second)
		}
		gw.Close()
	}
}

func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			ev.WriteString(line)
			if line == "\n" || err != nil {
				done <- ev.String()
				return
			}
		}
	}()
	select {
	case ev := <-done:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no SSE event within 5s: the proxy buffers the stream")
		return ""
	}
}

// sseEvents reads a whole SSE body into its events' id and data.
func sseEvents(t *testing.T, r io.Reader) (ids, data []string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			ids = append(ids, v)
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = append(data, v)
			for len(ids) < len(data) {
				ids = append(ids, "")
			}
		}
	}
	return ids, data
}

// A list response replayed on a resumed GET stream is filtered too.
func TestHTTPFiltersResumedStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := conformanceserver.New(ctx)
	up := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	p, err := proxy.NewHTTP(upstream.URL, &proxy.Options{Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(authenticate(p))
	defer gw.Close()

	init := post(t, gw.URL, "tok-alice", "", initBody)
	sid := init.Header.Get("Mcp-Session-Id")
	io.Copy(io.Discard, init.Body)
	post(t, gw.URL, "tok-alice", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	// Two list calls in one batch (allowed up to protocol 2025-03-26) put
	// a list answer at index 1 of the stream, which Last-Event-ID can replay.
	breq, _ := http.NewRequest(http.MethodPost, gw.URL, strings.NewReader(`[{"jsonrpc":"2.0","id":4,"method":"tools/list"},{"jsonrpc":"2.0","id":5,"method":"tools/list"}]`))
	breq.Header.Set("Authorization", "Bearer tok-alice")
	breq.Header.Set("Content-Type", "application/json")
	breq.Header.Set("Accept", "application/json, text/event-stream")
	breq.Header.Set("Mcp-Session-Id", sid)
	breq.Header.Set("Mcp-Protocol-Version", "2025-03-26")
	list, err := http.DefaultClient.Do(breq)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Body.Close()
	ids, data := sseEvents(t, list.Body)
	if len(data) != 2 || ids[0] == "" {
		t.Fatalf("status %d: want two events with ids, got ids %q data %q", list.StatusCode, ids, data)
	}
	for _, d := range data {
		if strings.Contains(d, "test_tool_with_progress") {
			t.Fatalf("POST stream not filtered: %s", d)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, gw.URL, nil)
	req.Header.Set("Authorization", "Bearer tok-alice")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	req.Header.Set("Last-Event-ID", ids[0])
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	resp, err := http.DefaultClient.Do(req.WithContext(rctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, replay := sseEvents(t, resp.Body) // ends when rctx expires
	found := false
	for _, d := range replay {
		if strings.Contains(d, `"tools"`) {
			found = true
			if strings.Contains(d, "test_tool_with_progress") || !strings.Contains(d, "test_simple_text") {
				t.Errorf("replayed tools/list not filtered: %s", d)
			}
		}
	}
	if !found {
		t.Fatalf("status %d: replay %q lacks the tools/list answer", resp.StatusCode, replay)
	}
}

// A client asking for gzip must not get an unfiltered, compressed list.
func TestHTTPFiltersCompressedLists(t *testing.T) {
	list := `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"test_simple_text","inputSchema":{"type":"object"}},{"name":"secret_admin_tool","inputSchema":{"type":"object"}}]}}`
	for _, tc := range []struct {
		name     string
		encoding string // what the upstream uses when the request accepts it
		status   int
	}{
		{"gzip", "gzip", http.StatusOK},
		{"unasked deflate", "deflate", http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tc.encoding == "gzip" && !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					io.WriteString(w, list)
					return
				}
				w.Header().Set("Content-Encoding", tc.encoding)
				var zw io.WriteCloser
				if tc.encoding == "gzip" {
					zw = gzip.NewWriter(w)
				} else {
					zw, _ = flate.NewWriter(w, flate.DefaultCompression)
				}
				io.WriteString(zw, list)
				zw.Close()
			}))
			defer upstream.Close()
			p, err := proxy.NewHTTP(upstream.URL, &proxy.Options{Policy: testPolicy})
			if err != nil {
				t.Fatal(err)
			}
			gw := httptest.NewServer(authenticate(p))
			defer gw.Close()
			req, _ := http.NewRequest(http.MethodPost, gw.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
			req.Header.Set("Authorization", "Bearer tok-alice")
			req.Header.Set("Accept-Encoding", "gzip, deflate")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var r io.Reader = resp.Body
			if resp.Header.Get("Content-Encoding") == "gzip" {
				if r, err = gzip.NewReader(resp.Body); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := io.ReadAll(r)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, got)
			}
			if strings.Contains(string(got), "secret_admin_tool") || tc.status == http.StatusOK && !strings.Contains(string(got), "test_simple_text") {
				t.Errorf("body = %s", got)
			}
		})
	}
}

// An id the upstream echoes in another spelling (-0 comes back as 0) must
// not get a list past the filter.
func TestHTTPFiltersListWhateverTheIDSpelling(t *testing.T) {
	for _, js := range []bool{false, true} {
		f := newFixture(t, js, &proxy.Options{Policy: testPolicy})
		resp := post(t, f.gateway.URL, "tok-alice", "", initBody)
		sid := resp.Header.Get("Mcp-Session-Id")
		io.Copy(io.Discard, resp.Body)
		post(t, f.gateway.URL, "tok-alice", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		for _, id := range []string{"2", "-0", "0.0", "0e0", "-0.0e-5", "3.0", "4e0", "50e-1"} {
			resp := post(t, f.gateway.URL, "tok-alice", sid, `{"jsonrpc":"2.0","id":`+id+`,"method":"tools/list"}`)
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), "test_simple_text") || strings.Contains(string(b), "test_tool_with_progress") {
				t.Errorf("json=%v id %s: status %d, body %.300s: want test_simple_text only", js, id, resp.StatusCode, b)
			}
		}
	}
}

// secretList is a tools/list result with a tool alice may not see.
const secretList = `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"test_simple_text","inputSchema":{"type":"object"}},{"name":"secret_admin_tool","inputSchema":{"type":"object"}}]}}`

// An answer to a list call that the filter cannot read is withheld, never
// passed on as it came.
func TestHTTPListFilterFailsClosed(t *testing.T) {
	otherID := strings.Replace(secretList, `"id":1`, `"id":7`, 1)
	tests := []struct {
		name, ct, body string
		status         int  // 0: any
		filtered       bool // the answer must hold the allowed tool
	}{
		{"sse lf", "text/event-stream", "event: message\ndata: " + secretList + "\n\n", 200, true},
		{"sse crlf", "text/event-stream", "event: message\r\ndata: " + secretList + "\r\n\r\n", 200, true},
		{"sse cr only", "text/event-stream", "event: message\rdata: " + secretList + "\r\r", 200, true},
		{"sse bom", "text/event-stream", "\ufeffdata: " + secretList + "\n\n", 200, true},
		{"sse repeated parameter", "text/event-stream; charset=utf-8; charset=utf-8", "data: " + secretList + "\n\n", 200, true},
		{"sse other id", "text/event-stream", "data: " + otherID + "\n\n", 200, false},
		{"sse data not json", "text/event-stream", "data: " + secretList + "}\n\n", 200, false},
		{"json", "application/json", secretList, 200, true},
		{"json repeated parameter", "application/json; charset=utf-8; charset=utf-8", secretList, 200, true},
		{"json other id", "application/json", otherID, 502, false},
		{"json not json", "application/json", secretList + "]", 502, false},
		{"json batch with other id", "application/json", "[" + otherID + "]", 502, false},
		{"no content type", "", secretList, 502, false},
		{"text/plain", "text/plain", secretList, 502, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.ct != "" {
					w.Header().Set("Content-Type", tc.ct)
				} else {
					w.Header()["Content-Type"] = nil // no sniffing
				}
				io.WriteString(w, tc.body)
			}))
			defer up.Close()
			p, err := proxy.NewHTTP(up.URL, &proxy.Options{Policy: testPolicy})
			if err != nil {
				t.Fatal(err)
			}
			gw := httptest.NewServer(authenticate(p))
			defer gw.Close()
			resp := post(t, gw.URL, "tok-alice", "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
			b, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(b), "secret_admin_tool") {
				t.Errorf("status %d, body %q: hidden tool passed", resp.StatusCode, b)
			}
			if tc.status != 0 && resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := strings.Contains(string(b), "test_simple_text"); got != tc.filtered {
				t.Errorf("body %q: allowed tool present = %v, want %v", b, got, tc.filtered)
			}
		})
	}
}

// TestHTTPUpstreamCannotActForGatewayOrigin: an upstream's answer cannot
// set cookies on mcpgate's origin (where the sign-in session lives), widen
// its CORS policy, replace its request id or security headers, or send the
// caller to another authorization server; its 401 becomes a 502 for the
// caller, who is signed in to mcpgate.
func TestHTTPUpstreamCannotActForGatewayOrigin(t *testing.T) {
	status := http.StatusOK
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Mcp-Session-Id", "up-session")
		h.Set("X-Upstream-Only", "kept")
		h.Add("Set-Cookie", "__Host-mcpgate_session=attacker; Path=/; Secure")
		h.Set("Access-Control-Allow-Origin", "https://evil.example")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("X-Request-Id", "upstream-id")
		h.Set("X-Content-Type-Options", "")
		h.Set("WWW-Authenticate", `Bearer resource_metadata="https://evil.example/.well-known/oauth-protected-resource"`)
		h.Set("Clear-Site-Data", `"cookies"`)
		h.Set("Vary", "Accept-Encoding")
		w.WriteHeader(status)
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer upstream.Close()
	p, err := proxy.NewHTTP(upstream.URL+"/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What the gateway's common wrapper sets before the proxy runs.
		w.Header().Set("X-Request-Id", "gateway-id")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Vary", "Origin")
		authenticate(p).ServeHTTP(w, r)
	}))
	defer gw.Close()

	resp := post(t, gw.URL, "tok-alice", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, k := range []string{"Set-Cookie", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Www-Authenticate", "Clear-Site-Data"} {
		if v := resp.Header.Values(k); len(v) > 0 {
			t.Errorf("the upstream's %s reached the client: %q", k, v)
		}
	}
	if got := resp.Header.Get("X-Request-Id"); got != "gateway-id" {
		t.Errorf("X-Request-Id = %q; the gateway's id must win", got)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	if got := resp.Header.Values("Vary"); !slices.Equal(got, []string{"Origin", "Accept-Encoding"}) {
		t.Errorf("Vary = %q; want mcpgate's and the upstream's", got)
	}
	if resp.Header.Get("Mcp-Session-Id") != "up-session" || resp.Header.Get("X-Upstream-Only") != "kept" {
		t.Errorf("the upstream's own headers were lost: %v", resp.Header)
	}

	status = http.StatusUnauthorized
	resp = post(t, gw.URL, "tok-alice", "", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("an upstream 401 reached the client as %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if !strings.Contains(string(body), `"id":2`) || !strings.Contains(string(body), "refused the gateway's credentials") || strings.Contains(string(body), "evil.example") {
		t.Errorf("body: %s", body)
	}
}
