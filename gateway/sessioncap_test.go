package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/sqlite"
)

// serveCapped runs a gateway with the built-in server on a SQLite store in
// a temporary directory, with an API key for each of names, and returns
// the MCP endpoint and the keys by name.
func serveCapped(t *testing.T, opts *Options, names ...string) (string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys := make(map[string]string, len(names))
	for _, name := range names {
		key, id, hash, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		k := &mcpgate.APIKey{ID: id, Name: name, Subject: name, Scopes: []string{"docs:read"}, Hash: hash, CreatedAt: time.Now()}
		if err := store.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		keys[name] = key
	}
	front := httptest.NewUnstartedServer(nil)
	url := "http://" + front.Listener.Addr().String() + "/mcp"
	gw, err := New(store, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	front.Config.Handler = gw.Handler()
	front.Start()
	t.Cleanup(front.Close)
	return url, keys
}

type bearerTransport struct{ key string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// openBuiltinSession connects a client at protocol revision 2025-11-25:
// the built-in server keeps sessions for it (2026-07-28 is served
// statelessly). No standalone event stream is opened, whose GET would
// count as a use of the session at a moment the test does not choose.
func openBuiltinSession(t *testing.T, url, key string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "sessioncap-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: bearerTransport{key}},
		MaxRetries:           -1,
		DisableStandaloneSSE: true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	if cs.ID() == "" {
		t.Fatal("the built-in server opened no session")
	}
	return cs
}

// searchDocs uses session cs with a call of the built-in search_docs tool.
func searchDocs(ctx context.Context, cs *mcp.ClientSession) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "mcpgate"}})
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("search_docs: error result %v", res.Content)
	}
	return nil
}

// postPing posts a ping on session sid and returns the status.
func postPing(t *testing.T, url, key, sid string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":99,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// A principal opening a session beyond its bound on the built-in server
// ends its own least recently used one, not another principal's that has
// been idle longer, nor its own oldest.
func TestBuiltinSessionCapEvictsOwnLeastRecentlyUsed(t *testing.T) {
	url, keys := serveCapped(t, &Options{MaxSessionsPerPrincipal: 2}, "alice", "bob")
	alice, bob := keys["alice"], keys["bob"]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	use := func(who string, cs *mcp.ClientSession) {
		t.Helper()
		if err := searchDocs(ctx, cs); err != nil {
			t.Fatalf("%s uses session %s: %v", who, cs.ID(), err)
		}
	}

	// Bob's session is the least recently used of all when alice goes
	// over her bound.
	b1 := openBuiltinSession(t, url, bob)
	use("bob", b1)
	a1 := openBuiltinSession(t, url, alice)
	a2 := openBuiltinSession(t, url, alice)
	use("alice", a2)
	use("alice", a1) // a1, the oldest, is now more recent than a2
	a3 := openBuiltinSession(t, url, alice)
	use("alice", a3)

	// The session ends in the background: wait for the server to forget it.
	status := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if status = postPing(t, url, alice, a2.ID()); status == http.StatusNotFound {
			break
		}
	}
	if status != http.StatusNotFound {
		t.Errorf("alice's least recently used session %s: status %d, want 404", a2.ID(), status)
	}
	if err := searchDocs(ctx, a2); !errors.Is(err, mcp.ErrSessionMissing) {
		t.Errorf("a call on alice's evicted session: %v, want %v", err, mcp.ErrSessionMissing)
	}
	for _, s := range []struct {
		who, key string
		cs       *mcp.ClientSession
	}{
		{"alice's first", alice, a1},
		{"alice's third", alice, a3},
		{"bob's", bob, b1},
	} {
		if status := postPing(t, url, s.key, s.cs.ID()); status != http.StatusOK {
			t.Errorf("%s session %s: status %d, want 200", s.who, s.cs.ID(), status)
		}
		if err := searchDocs(ctx, s.cs); err != nil {
			t.Errorf("%s session %s: %v", s.who, s.cs.ID(), err)
		}
	}
}

// With MaxSessions sessions open on the built-in server, a principal with
// none gets 503 for its initialize.
func TestBuiltinSessionCapFullServerRefusesNewPrincipal(t *testing.T) {
	url, keys := serveCapped(t, &Options{MaxSessions: 2, MaxSessionsPerPrincipal: 2}, "alice", "bob")
	openBuiltinSession(t, url, keys["alice"])
	openBuiltinSession(t, url, keys["alice"])

	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+keys["bob"])
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Errorf("bob's initialize on a full server: status %d, session %q, want 503 and none: %s",
			resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), body)
	}
	// Alice at her bound still opens one, in place of her oldest.
	openBuiltinSession(t, url, keys["alice"])
}
