package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sizeUpstream is an HTTP MCP server (the go-sdk's, stateful, answering
// in JSON) with a tool "size" that returns the length of its argument. It
// accepts bodies up to 16 MiB and remembers the length of every body it
// receives.
type sizeUpstream struct {
	*httptest.Server
	calls atomic.Int32

	mu     sync.Mutex
	bodies []int64
}

func startSizeUpstream(t *testing.T) *sizeUpstream {
	t.Helper()
	u := &sizeUpstream{}
	server := mcp.NewServer(&mcp.Implementation{Name: "size", Version: "1"}, nil)
	type sizeArgs struct {
		Data string `json:"data"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "size"}, func(ctx context.Context, req *mcp.CallToolRequest, in sizeArgs) (*mcp.CallToolResult, any, error) {
		u.calls.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(len(in.Data))}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{JSONResponse: true, MaxRequestBodyBytes: 16 << 20})
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.bodies = append(u.bodies, r.ContentLength)
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// largest returns the length of the largest body the upstream received.
func (u *sizeUpstream) largest() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n int64
	for _, b := range u.bodies {
		n = max(n, b)
	}
	return n
}

// postSession posts body with key on session sid ("" for none).
func postSession(t *testing.T, url, key, sid, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+key)
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the answer: %v", url, err)
	}
	return resp, string(b)
}

// initSession opens an MCP session at url the way a client does:
// initialize, then notifications/initialized.
func initSession(t *testing.T, url, key string) string {
	t.Helper()
	resp, body := postSession(t, url, key, "", initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: status %d, session %q: %s", resp.StatusCode, sid, body)
	}
	if resp, body := postSession(t, url, key, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: status %d: %s", resp.StatusCode, body)
	}
	return sid
}

// TestMaxBodyReachesHTTPUpstream: a tools/call of 6 MiB, over the 4 MiB
// default, reaches an HTTP upstream through a gateway started with
// --max-body 8 MiB, and is refused with 413 by one started without it,
// before the upstream sees it.
func TestMaxBodyReachesHTTPUpstream(t *testing.T) {
	const n = 6 << 20
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"size","arguments":{"data":"` + strings.Repeat("a", n) + `"}}}`

	t.Run("raised", func(t *testing.T) {
		up := startSizeUpstream(t)
		data := filepath.Join(t.TempDir(), "data")
		key, _ := createKey(t, data, "--name", "big")
		srv := startServer(t, data, "--upstream", up.URL+"/mcp", "--max-body", strconv.Itoa(8<<20))
		sid := initSession(t, srv.url, key)

		resp, body := postSession(t, srv.url, key, sid, call)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a %d-byte tools/call with --max-body 8 MiB: status %d: %.300s", len(call), resp.StatusCode, body)
		}
		var answer struct {
			Result mcp.CallToolResult `json:"result"`
		}
		if err := json.Unmarshal([]byte(body), &answer); err != nil {
			t.Fatalf("answer %.300s: %v", body, err)
		}
		if got := toolText(&answer.Result); got != strconv.Itoa(n) {
			t.Errorf("the upstream measured %q, want %d", got, n)
		}
		if got := up.calls.Load(); got != 1 {
			t.Errorf("the upstream ran %d calls, want 1", got)
		}
	})

	t.Run("default", func(t *testing.T) {
		up := startSizeUpstream(t)
		data := filepath.Join(t.TempDir(), "data")
		key, _ := createKey(t, data, "--name", "small")
		srv := startServer(t, data, "--upstream", up.URL+"/mcp")
		sid := initSession(t, srv.url, key)

		resp, body := postSession(t, srv.url, key, sid, call)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("a %d-byte tools/call with the default --max-body: status %d, want 413: %.300s", len(call), resp.StatusCode, body)
		}
		if got := up.calls.Load(); got != 0 {
			t.Errorf("the upstream ran %d calls, want none", got)
		}
		if got := up.largest(); got >= 4<<20 {
			t.Errorf("the upstream received a %d-byte body", got)
		}
	})
}

// TestUnauthenticatedBodyGets401: without a valid credential, a body that
// is not JSON or is over --max-body is answered 401 with a challenge, on
// the built-in server and on an HTTP upstream alike: mcpgate looks at the
// credential before the body, so an anonymous client learns nothing from
// it and costs nothing to parse. The same bodies with a valid key get 400
// and 413.
func TestUnauthenticatedBodyGets401(t *testing.T) {
	var reached atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer upstream.Close()

	const maxBody = 64 << 10
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(cfg, []byte("upstreams:\n  - name: api\n    url: "+upstream.URL+"/mcp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := createKey(t, data, "--name", "alice", "--scope", "docs:read")
	wrong := key[:len(key)-10] + "AAAAAAAAAA"
	srv := startServer(t, data, "--config", cfg, "--max-body", strconv.Itoa(maxBody))

	// Twice the limit, and under the 256 KiB that net/http drains of an
	// unread body, so that the answer is read rather than a reset.
	oversized := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"` + strings.Repeat("q", 2*maxBody) + `"}}}`
	bodies := []struct {
		name    string
		body    string
		chunked bool // no Content-Length: the limit is found only by reading
		status  int  // with a valid key
	}{
		{"not JSON", `{"jsonrpc":`, false, http.StatusBadRequest},
		{"binary", "\x00\xff\xfe garbage \x01", false, http.StatusBadRequest},
		{"over --max-body", oversized, false, http.StatusRequestEntityTooLarge},
		{"over --max-body, chunked", oversized, true, http.StatusRequestEntityTooLarge},
	}
	send := func(t *testing.T, url, key, body string, chunked bool) (*http.Response, string) {
		t.Helper()
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length, so the request is chunked
		}
		req, err := http.NewRequest(http.MethodPost, url, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if chunked != (req.ContentLength == 0) {
			t.Fatalf("Content-Length %d for a chunked=%v request", req.ContentLength, chunked)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, path := range []string{"/mcp", "/mcp/api"} {
		for _, b := range bodies {
			for _, cred := range []struct{ name, key string }{{"no credential", ""}, {"wrong key", wrong}} {
				t.Run(path+"/"+b.name+"/"+cred.name, func(t *testing.T) {
					resp, body := send(t, srv.base+path, cred.key, b.body, b.chunked)
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401: %.200s", resp.StatusCode, body)
					}
					wa := resp.Header.Get("WWW-Authenticate")
					// Each path is a protected resource of its own.
					if !strings.HasPrefix(wa, "Bearer") || !strings.Contains(wa, `resource_metadata="`+srv.base+`/.well-known/oauth-protected-resource`+path+`"`) {
						t.Errorf("WWW-Authenticate %q", wa)
					}
				})
			}
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d unauthenticated requests reached the upstream", n)
	}

	// The bodies are what their names say: with a valid key they are
	// refused for what they are.
	for _, path := range []string{"/mcp", "/mcp/api"} {
		for _, b := range bodies {
			if resp, body := send(t, srv.base+path, key, b.body, b.chunked); resp.StatusCode != b.status {
				t.Errorf("%s %s with a valid key: status %d, want %d: %.200s", path, b.name, resp.StatusCode, b.status, body)
			}
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d refused requests reached the upstream", n)
	}
}

// TestMaxBatch: with --max-batch 3, a batch of 4 tools/call is refused
// with 400 before any of it reaches the upstream, and audited as one
// event with no call in it; a batch of 3 goes through, one event per call.
func TestMaxBatch(t *testing.T) {
	var mu sync.Mutex
	var received []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, string(body))
		mu.Unlock()
		var batch []struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, "want a batch", http.StatusBadRequest)
			return
		}
		answers := make([]string, len(batch))
		for i, m := range batch {
			answers[i] = `{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"content":[{"type":"text","text":"ok"}]}}`
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "["+strings.Join(answers, ",")+"]")
	}))
	defer upstream.Close()
	upstreamRequests := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(received)
	}

	data := filepath.Join(t.TempDir(), "data")
	key, _ := createKey(t, data, "--name", "batcher")
	srv := startServer(t, data, "--upstream", upstream.URL+"/mcp", "--max-batch", "3")
	batch := func(n int) string {
		calls := make([]string, n)
		for i := range calls {
			calls[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"batch_probe","arguments":{"n":%d}}}`, i+1, i)
		}
		return "[" + strings.Join(calls, ",") + "]"
	}

	refused, body := rpc(t, srv.url, key, batch(4))
	if refused.StatusCode != http.StatusBadRequest || !strings.Contains(body, "batch too large") {
		t.Fatalf("a batch of 4 with --max-batch 3: status %d: %s", refused.StatusCode, body)
	}
	if n := upstreamRequests(); n != 0 {
		t.Fatalf("the refused batch reached the upstream (%d requests)", n)
	}
	allowed, body := rpc(t, srv.url, key, batch(3))
	if allowed.StatusCode != http.StatusOK || strings.Count(body, `"result"`) != 3 {
		t.Fatalf("a batch of 3: status %d: %s", allowed.StatusCode, body)
	}
	if n := upstreamRequests(); n != 1 {
		t.Errorf("the upstream received %d requests, want the batch of 3 only", n)
	}
	refusedID, allowedID := refused.Header.Get("X-Request-Id"), allowed.Header.Get("X-Request-Id")
	if refusedID == "" || allowedID == "" || refusedID == allowedID {
		t.Fatalf("request ids %q and %q", refusedID, allowedID)
	}

	// Stopping the server writes out every pending audit event.
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	res := mcpgateCLI(t, data, "audit", "--since", "10m", "--json", "--limit", "0", "--reverse")
	if res.code != 0 {
		t.Fatalf("audit: exit %d: %s", res.code, res.stderr)
	}
	type event struct {
		RequestID string `json:"request_id"`
		Subject   string `json:"subject"`
		Method    string `json:"method"`
		Target    string `json:"target"`
		Decision  string `json:"decision"`
		Status    int    `json:"status"`
	}
	var ofRefused, ofAllowed, probes []event
	for line := range strings.SplitSeq(strings.TrimSpace(res.stdout), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		switch ev.RequestID {
		case refusedID:
			ofRefused = append(ofRefused, ev)
		case allowedID:
			ofAllowed = append(ofAllowed, ev)
		}
		if ev.Target == "batch_probe" {
			probes = append(probes, ev)
		}
	}
	if want := (event{RequestID: refusedID, Subject: "batcher", Method: http.MethodPost, Decision: "too_large", Status: http.StatusBadRequest}); len(ofRefused) != 1 || ofRefused[0] != want {
		t.Errorf("audit of the refused batch: %+v, want one event %+v", ofRefused, want)
	}
	if len(ofAllowed) != 3 || len(probes) != 3 {
		t.Errorf("audit: %d events of the allowed batch and %d of batch_probe in all, want 3 and 3: %+v", len(ofAllowed), len(probes), probes)
	}
	for _, ev := range probes {
		if ev.RequestID != allowedID || ev.Method != "tools/call" || ev.Decision != "allow" || ev.Status != http.StatusOK {
			t.Errorf("audit event %+v, want a call of the allowed batch", ev)
		}
	}
}
