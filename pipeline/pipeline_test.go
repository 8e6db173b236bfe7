package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/pipeline"
)

var principals = map[string]*mcpgate.Principal{
	"tok-alice": {Subject: "alice", Scopes: []string{"docs:read"}},
	"tok-bob":   {Subject: "bob", Scopes: []string{"docs:read", "admin"}},
	"tok-carol": {Subject: "carol", Scopes: []string{"docs:read"}},
}

func testAuth() *authn.Authenticator {
	return authn.New(authn.VerifierFunc(func(_ context.Context, tok string) (*mcpgate.Principal, error) {
		if p, ok := principals[tok]; ok {
			return p, nil
		}
		return nil, fmt.Errorf("%w: unknown test token", mcpgate.ErrUnauthenticated)
	}), &authn.Options{ResourceMetadataURL: "http://127.0.0.1/.well-known/oauth-protected-resource/mcp"})
}

var policy = &authz.Policy{
	Tools:   []authz.Rule{{Match: "read_*", Scopes: []string{"docs:read"}}},
	Default: []string{"admin"},
}

// audits collects audit events.
type audits struct {
	mu     sync.Mutex
	events []mcpgate.AuditEvent
}

func (a *audits) record(ev *mcpgate.AuditEvent) {
	a.mu.Lock()
	a.events = append(a.events, *ev)
	a.mu.Unlock()
}

func (a *audits) all() []mcpgate.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

// spy is an MCP handler that remembers what reached it.
type spy struct {
	mu    sync.Mutex
	got   []*pipeline.Request
	bodys []string
}

func (s *spy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got = append(s.got, pipeline.FromContext(r.Context()))
	s.bodys = append(s.bodys, string(b))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
}

func (s *spy) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func newPipeline(t *testing.T, opts *pipeline.Options, next http.Handler) (*httptest.Server, *audits) {
	t.Helper()
	a := &audits{}
	o := *opts
	o.Audit = a.record
	srv := httptest.NewServer(pipeline.New(testAuth(), &o).Handler(next))
	t.Cleanup(srv.Close)
	return srv, a
}

func do(t *testing.T, method, u, token, body string, hdr map[string]string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func call(id int, tool string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q}}`, id, tool)
}

func batch(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = call(i+1, "read_doc")
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// The stages run in order: a request refused by an earlier stage never
// reaches a later one, so an anonymous client never makes the server read
// or parse a body.
func TestStagesInOrder(t *testing.T) {
	next := &spy{}
	srv, _ := newPipeline(t, &pipeline.Options{Policy: policy, MaxBodyBytes: 1024}, next)
	u := srv.URL + "/mcp"
	tests := []struct {
		name, method, token, body string
		hdr                       map[string]string
		want                      int
	}{
		{"PUT is not Streamable HTTP", http.MethodPut, "tok-alice", call(1, "read_doc"), nil, 405},
		{"foreign origin before credentials", http.MethodPost, "", call(1, "read_doc"), map[string]string{"Origin": "https://evil.example"}, 403},
		{"anonymous with a malformed body", http.MethodPost, "", `{"jsonrpc":`, nil, 401},
		{"anonymous with an oversized body", http.MethodPost, "", strings.Repeat("x", 4096), nil, 401},
		{"bad token with an oversized body", http.MethodPost, "tok-nobody", strings.Repeat("x", 4096), nil, 401},
		{"oversized body", http.MethodPost, "tok-alice", strings.Repeat("x", 4096), nil, 413},
		{"not JSON", http.MethodPost, "tok-alice", `{"jsonrpc":`, nil, 400},
		{"not JSON-RPC", http.MethodPost, "tok-alice", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, nil, 400},
		{"GET with a body", http.MethodGet, "tok-alice", "{}", nil, 400},
		{"missing scope", http.MethodPost, "tok-alice", call(1, "delete_all"), nil, 403},
		{"allowed", http.MethodPost, "tok-alice", call(1, "read_doc"), nil, 200},
		{"loopback origin, safe method", http.MethodGet, "tok-alice", "", map[string]string{"Origin": "http://localhost:3000"}, 200},
		{"loopback origin, unsafe method", http.MethodPost, "tok-alice", call(1, "read_doc"), map[string]string{"Origin": "http://localhost:3000"}, 200},
		{"opaque origin, cross-site", http.MethodPost, "tok-alice", call(1, "read_doc"), map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := next.count()
			resp := do(t, tc.method, u, tc.token, tc.body, tc.hdr)
			if resp.StatusCode != tc.want {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if reached := next.count() > before; reached != (tc.want == 200) {
				t.Errorf("reached the server: %v", reached)
			}
		})
	}
}

func TestRefusalsAnswerAsClientsExpect(t *testing.T) {
	srv, _ := newPipeline(t, &pipeline.Options{Policy: policy, ResourceMetadataURL: "http://127.0.0.1/.well-known/oauth-protected-resource/mcp"}, &spy{})
	u := srv.URL + "/mcp"

	resp := do(t, http.MethodPost, u, "", call(1, "read_doc"), nil)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp"`) {
		t.Errorf("401 challenge %q", got)
	}
	resp = do(t, http.MethodPost, u, "tok-alice", call(7, "delete_all"), nil)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="insufficient_scope", scope="admin", resource_metadata=`) {
		t.Errorf("403 challenge %q", got)
	}
	resp = do(t, http.MethodPut, u, "tok-alice", "", nil)
	if got := resp.Header.Get("Allow"); got != "GET, POST, DELETE" {
		t.Errorf("405 Allow %q", got)
	}
	resp = do(t, http.MethodPost, u, "tok-alice", `{"jsonrpc":"2.0","id":1,"method":7}`, nil)
	b, _ := io.ReadAll(resp.Body)
	if want := `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"\"method\" must be a string"}}`; strings.TrimSpace(string(b)) != want {
		t.Errorf("400 body %s, want %s", b, want)
	}
}

// A batch over the limit is refused before any of its calls is forwarded
// or audited: the refusal is one event with no call in it.
func TestBatchLimit(t *testing.T) {
	next := &spy{}
	srv, a := newPipeline(t, &pipeline.Options{Policy: policy, MaxBatch: 5}, next)
	u := srv.URL + "/mcp"

	resp := do(t, http.MethodPost, u, "tok-alice", batch(6), nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `"message":"batch too large"`) {
		t.Errorf("body %s", b)
	}
	if next.count() != 0 {
		t.Error("the batch reached the server")
	}
	evs := a.all()
	if len(evs) != 1 || evs[0].Target != "" || evs[0].Method != http.MethodPost || evs[0].Decision != mcpgate.DecisionTooLarge || evs[0].Subject != "alice" {
		t.Fatalf("audit events %+v, want one refusal with no call", evs)
	}

	resp = do(t, http.MethodPost, u, "tok-alice", batch(5), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a batch at the limit: status %d", resp.StatusCode)
	}
	if evs := a.all()[1:]; len(evs) != 5 || evs[4].Target != "read_doc" || evs[4].Decision != mcpgate.DecisionAllow {
		t.Errorf("audit events of the batch %+v, want one per call", evs)
	}
}

// The server behind gets the body, read once, both as the Request in its
// context and as its request body, and the parsed calls.
func TestHandsOnWhatItRead(t *testing.T) {
	next := &spy{}
	srv, a := newPipeline(t, &pipeline.Options{Policy: policy}, next)
	body := call(3, "read_doc")
	resp := do(t, http.MethodPost, srv.URL+"/mcp", "tok-alice", body, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	req := next.got[0]
	if req == nil || string(req.Body) != body || next.bodys[0] != body {
		t.Fatalf("handed on %+v and body %q", req, next.bodys[0])
	}
	if req.Principal.Subject != "alice" || len(req.Calls) != 1 || req.Calls[0].Name != "read_doc" || string(req.SingleID()) != "3" {
		t.Errorf("request %+v", req)
	}
	if evs := a.all(); len(evs) != 1 || evs[0].Method != "tools/call" || evs[0].Target != "read_doc" || evs[0].Status != 200 {
		t.Errorf("audit %+v", evs)
	}
}

func TestOriginOfPublicURL(t *testing.T) {
	pub, _ := url.Parse("https://mcp.example.com/mcp")
	srv, _ := newPipeline(t, &pipeline.Options{PublicURL: pub}, &spy{})
	for origin, want := range map[string]int{
		"https://mcp.example.com":   200,
		"https://evil.example.com":  403,
		"http://mcp.example.com":    403,
		"http://127.0.0.1:6274":     200, // a loopback page, admitted by default
		"null":                      403,
		"https://mcp.example.com.x": 403,
	} {
		resp := do(t, http.MethodPost, srv.URL+"/mcp", "tok-alice", call(1, "read_doc"), map[string]string{"Origin": origin})
		if resp.StatusCode != want {
			t.Errorf("Origin %s: status %d, want %d", origin, resp.StatusCode, want)
		}
	}
}

// sessionServer opens a session for every initialize and remembers which
// sessions the pipeline ended.
type sessionServer struct {
	mu    sync.Mutex
	next  int
	live  map[string]bool
	ended []string
}

func (s *sessionServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sid := r.Header.Get("Mcp-Session-Id")
	switch {
	case sid == "" && pipeline.FromContext(r.Context()).Has("initialize"):
		s.next++
		sid = fmt.Sprintf("s%d", s.next)
		s.live[sid] = true
		w.Header().Set("Mcp-Session-Id", sid)
	case !s.live[sid]:
		w.WriteHeader(http.StatusNotFound)
		return
	case r.Method == http.MethodDelete:
		delete(s.live, sid)
	}
	_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
}

func (s *sessionServer) EndSession(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, id)
	s.ended = append(s.ended, id)
}

// waitEnded waits up to 5 s for n sessions to have been ended.
func (s *sessionServer) waitEnded(n int) []string {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		ended := slices.Clone(s.ended)
		s.mu.Unlock()
		if len(ended) >= n {
			return ended
		}
	}
	return nil
}

func (s *sessionServer) SessionTTL() time.Duration { return time.Hour }

func (s *sessionServer) OpenSessions() iter.Seq[string] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Values(slices.Collect(maps.Keys(s.live)))
}

// drop ends a session the way a server may on its own.
func (s *sessionServer) drop(id string) {
	s.mu.Lock()
	delete(s.live, id)
	s.mu.Unlock()
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`

func open(t *testing.T, u, token string) (string, int) {
	t.Helper()
	resp := do(t, http.MethodPost, u, token, initialize, nil)
	return resp.Header.Get("Mcp-Session-Id"), resp.StatusCode
}

// A principal over its bound ends its own least recently used session, not
// another principal's; beyond the bound in all, a new session gets 503.
func TestSessionBounds(t *testing.T) {
	ss := &sessionServer{live: map[string]bool{}}
	srv, _ := newPipeline(t, &pipeline.Options{MaxSessions: 4, MaxSessionsPerPrincipal: 2}, ss)
	u := srv.URL + "/mcp"
	ping := `{"jsonrpc":"2.0","id":2,"method":"ping"}`

	a1, _ := open(t, u, "tok-alice")
	b1, _ := open(t, u, "tok-bob")
	a2, _ := open(t, u, "tok-alice")
	do(t, http.MethodPost, u, "tok-alice", ping, map[string]string{"Mcp-Session-Id": a1}) // a1 is now more recent than a2
	a3, _ := open(t, u, "tok-alice")
	if ended := ss.waitEnded(1); !slices.Equal(ended, []string{a2}) {
		t.Fatalf("ended %v, want alice's least recently used %s", ended, a2)
	}
	for _, sid := range []string{a1, a3} {
		if resp := do(t, http.MethodPost, u, "tok-alice", ping, map[string]string{"Mcp-Session-Id": sid}); resp.StatusCode != 200 {
			t.Errorf("alice's session %s: %d", sid, resp.StatusCode)
		}
	}
	if resp := do(t, http.MethodPost, u, "tok-bob", ping, map[string]string{"Mcp-Session-Id": b1}); resp.StatusCode != 200 {
		t.Errorf("bob's session: %d", resp.StatusCode)
	}

	// 3 sessions; bob opens a 4th, then the table is full.
	open(t, u, "tok-bob")
	if _, status := open(t, u, "tok-carol"); status != http.StatusServiceUnavailable {
		t.Errorf("a new principal's session on a full server: %d, want 503", status)
	}
	// A principal at its own bound still replaces its own oldest.
	if _, status := open(t, u, "tok-alice"); status != 200 {
		t.Errorf("alice at her bound on a full server: %d, want 200", status)
	}
	// A DELETE frees room.
	do(t, http.MethodDelete, u, "tok-bob", "", map[string]string{"Mcp-Session-Id": b1})
	if _, status := open(t, u, "tok-carol"); status != 200 {
		t.Errorf("after a DELETE: %d, want 200", status)
	}
}

// Mcp-Method and Mcp-Name, where sent, must name what the body does: the
// policy and the audit read the body, a router may read the headers.
func TestStandardHeadersMatchTheBody(t *testing.T) {
	next := &spy{}
	srv, _ := newPipeline(t, &pipeline.Options{Policy: policy}, next)
	u := srv.URL + "/mcp"
	tests := []struct {
		name string
		hdr  map[string]string
		body string
		want int
	}{
		{"none", nil, call(1, "read_doc"), 200},
		{"both match", map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "read_doc"}, call(1, "read_doc"), 200},
		{"method differs", map[string]string{"Mcp-Method": "tools/list"}, call(1, "read_doc"), 400},
		{"name differs", map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "read_other"}, call(1, "read_doc"), 400},
		{"name of a method without one", map[string]string{"Mcp-Method": "ping", "Mcp-Name": "x"}, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 200},
		{"on a batch", map[string]string{"Mcp-Method": "tools/call"}, batch(2), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := next.count()
			resp := do(t, http.MethodPost, u, "tok-alice", tc.body, tc.hdr)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if tc.want == 400 && (!strings.Contains(string(b), `"code":-32020`) || next.count() != before) {
				t.Errorf("refusal %s; reached the server: %v", b, next.count() != before)
			}
		})
	}
}

// Sessions the server ended by itself (a failed initialize, an idle
// session) do not hold the table full.
func TestSessionsTheServerEndedFreeRoom(t *testing.T) {
	ss := &sessionServer{live: map[string]bool{}}
	srv, _ := newPipeline(t, &pipeline.Options{MaxSessions: 2, MaxSessionsPerPrincipal: 2}, ss)
	u := srv.URL + "/mcp"
	a1, _ := open(t, u, "tok-alice")
	a2, _ := open(t, u, "tok-alice")
	if _, status := open(t, u, "tok-bob"); status != http.StatusServiceUnavailable {
		t.Fatalf("full: %d, want 503", status)
	}
	ss.drop(a1)
	ss.drop(a2)
	time.Sleep(1100 * time.Millisecond) // the table asks the server at most once a second
	if _, status := open(t, u, "tok-bob"); status != 200 {
		t.Errorf("after the server ended both sessions: %d, want 200", status)
	}
}

// slowSessions opens a session for every initialize after a delay, so
// that many are in flight at once.
type slowSessions struct {
	sessionServer
}

func (s *slowSessions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(100 * time.Millisecond)
	s.sessionServer.ServeHTTP(w, r)
}

// Initializes in flight at once cannot open more sessions than the bound.
func TestSessionBoundHoldsForConcurrentInitializes(t *testing.T) {
	ss := &slowSessions{sessionServer{live: map[string]bool{}}}
	srv, _ := newPipeline(t, &pipeline.Options{MaxSessions: 2, MaxSessionsPerPrincipal: 100}, ss)
	var wg sync.WaitGroup
	for _, tok := range []string{"tok-alice", "tok-bob", "tok-carol"} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(initialize))
				req.Header.Set("Authorization", "Bearer "+tok)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // sessions over the bound are ended in the background
	if n := len(slices.Collect(ss.OpenSessions())); n > 2 {
		t.Errorf("%d sessions open, bound 2", n)
	}
}

// A 1xx is not the final status: the audit records the one that follows.
func TestInformationalStatusIsNotFinal(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusForbidden)
	})
	srv, a := newPipeline(t, &pipeline.Options{}, h)
	do(t, http.MethodPost, srv.URL+"/mcp", "tok-alice", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil)
	if ev := a.all(); len(ev) != 1 || ev[0].Status != 403 || ev[0].Decision != mcpgate.DecisionDeny {
		t.Errorf("audit %+v, want status 403, deny", ev)
	}
}

// A client that declares a large body and sends little holds little
// memory: the body grows with what arrives.
func TestDeclaredLengthDoesNotPinMemory(t *testing.T) {
	const max, conns = 4 << 20, 16
	srv, _ := newPipeline(t, &pipeline.Options{MaxBodyBytes: max}, &spy{})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok-alice\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", max)
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("heap grew by %d MiB for %d bytes received", grew>>20, conns)
	}
}

// A client that declares a body and sends it slowly does not hold the
// connection: reading the body has a deadline.
func TestSlowBodyTimesOut(t *testing.T) {
	srv, _ := newPipeline(t, &pipeline.Options{BodyTimeout: 200 * time.Millisecond}, &spy{})
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok-alice\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer within 5 s to a body that never arrives: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 400") {
		t.Errorf("answer %q, want 400", buf[:n])
	}
}
