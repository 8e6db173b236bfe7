package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/proxy"
)

// carol is a third caller, for the bound on sessions in all.
var carol = &mcpgate.Principal{Subject: "carol", Tenant: "acme", Scopes: []string{"tools:basic"}}

// pipelineAuth authenticates the bearer tokens of principals, and
// tok-carol, as the gateway's authenticator would.
func pipelineAuth() *authn.Authenticator {
	return authn.New(authn.VerifierFunc(func(_ context.Context, tok string) (*mcpgate.Principal, error) {
		if tok == "tok-carol" {
			return carol, nil
		}
		if pr, ok := principals[tok]; ok {
			return pr, nil
		}
		return nil, fmt.Errorf("%w: unknown test token", mcpgate.ErrUnauthenticated)
	}), &authn.Options{Logger: slog.New(slog.DiscardHandler)})
}

// cappedServer is an upstream of one kind behind a pipeline.
type cappedServer struct {
	url string
	// tool is called to use a session; its text answer identifies what
	// serves the session (the process, for stdio).
	tool string
	args map[string]any
	// held reports whether the upstream still holds session sid, whose
	// use answered out.
	held func(sid, out string) bool
	// sessions is the number of sessions the upstream holds.
	sessions func() int
}

// cappedKinds are the kinds of upstream, each started behind a pipeline
// with opts.
var cappedKinds = []struct {
	name  string
	start func(t *testing.T, opts *pipeline.Options) *cappedServer
}{
	{"http", startCappedHTTP},
	{"stdio", startCappedStdio},
}

// startCappedHTTP runs a stateful go-sdk server behind proxy.NewHTTP
// behind a pipeline.
func startCappedHTTP(t *testing.T, opts *pipeline.Options) *cappedServer {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "capped", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	upstream := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(upstream.Close)
	p, err := proxy.NewHTTP(upstream.URL+"/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(pipeline.New(pipelineAuth(), opts).Handler(p))
	t.Cleanup(gw.Close)
	count := func(sid string) (n int, found bool) {
		for ss := range server.Sessions() {
			n++
			found = found || ss.ID() == sid
		}
		return n, found
	}
	return &cappedServer{
		url:      gw.URL,
		tool:     "echo",
		args:     map[string]any{"text": "hi"},
		held:     func(sid, _ string) bool { _, ok := count(sid); return ok },
		sessions: func() int { n, _ := count(""); return n },
	}
}

// startCappedStdio runs the test child per session behind proxy.NewStdio
// behind a pipeline.
func startCappedStdio(t *testing.T, opts *pipeline.Options) *cappedServer {
	t.Helper()
	s, err := proxy.NewStdio(testChild(t, "plain"), &proxy.StdioOptions{TerminateGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(pipeline.New(pipelineAuth(), opts).Handler(s))
	t.Cleanup(gw.Close)
	t.Cleanup(func() { s.Close() })
	return &cappedServer{
		url:  gw.URL,
		tool: "pid",
		held: func(_, out string) bool {
			var pid int
			if _, err := fmt.Sscan(out, &pid); err != nil || pid <= 0 {
				return false
			}
			return alive(pid) // exited and reaped: no zombie left behind
		},
		sessions: s.Sessions,
	}
}

// openSession connects a client at protocol revision 2025-11-25, which has
// sessions. It opens no standalone event stream, whose GET would count as a
// use of the session at a moment the test does not choose.
func openSession(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "sessioncap-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           bearerClient(token),
		MaxRetries:           -1,
		DisableStandaloneSSE: true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("%s connects: %v", token, err)
	}
	t.Cleanup(func() { cs.Close() })
	if cs.ID() == "" {
		t.Fatalf("%s: no session id", token)
	}
	return cs
}

const pingBody = `{"jsonrpc":"2.0","id":99,"method":"ping"}`

// waitStatus posts a ping on session sid until it is answered with want,
// for up to 10 s, and returns the last status.
func waitStatus(t *testing.T, url, token, sid string, want int) int {
	t.Helper()
	status := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp := post(t, url, token, sid, pingBody)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		if status == want || time.Now().After(deadline) {
			return status
		}
	}
}

// waitFor polls cond every 20 ms for up to 10 s.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// A principal opening a session beyond its bound ends its own least
// recently used one, not another principal's that has been idle longer,
// nor its own oldest: on an HTTP upstream the upstream session is ended
// too, on a stdio upstream its process exits.
func TestSessionCapEvictsOwnLeastRecentlyUsed(t *testing.T) {
	for _, kind := range cappedKinds {
		t.Run(kind.name, func(t *testing.T) {
			srv := kind.start(t, &pipeline.Options{MaxSessionsPerPrincipal: 2})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			use := func(who string, cs *mcp.ClientSession) string {
				t.Helper()
				out, err := callText(ctx, cs, srv.tool, srv.args)
				if err != nil {
					t.Fatalf("%s uses session %s: %v", who, cs.ID(), err)
				}
				return out
			}

			// Bob's session is the least recently used of all when alice
			// goes over her bound.
			b1 := openSession(t, srv.url, "tok-bob")
			outB1 := use("bob", b1)
			a1 := openSession(t, srv.url, "tok-alice")
			a2 := openSession(t, srv.url, "tok-alice")
			outA2 := use("alice", a2)
			outA1 := use("alice", a1) // a1, the oldest, is now more recent than a2
			a3 := openSession(t, srv.url, "tok-alice")
			outA3 := use("alice", a3)

			if got := waitStatus(t, srv.url, "tok-alice", a2.ID(), http.StatusNotFound); got != http.StatusNotFound {
				t.Errorf("alice's least recently used session %s: status %d, want 404", a2.ID(), got)
			}
			if _, err := callText(ctx, a2, srv.tool, srv.args); err == nil {
				t.Errorf("a call on alice's evicted session %s succeeded", a2.ID())
			}
			if !waitFor(func() bool { return !srv.held(a2.ID(), outA2) }) {
				t.Errorf("the upstream still holds alice's evicted session %s (%s)", a2.ID(), outA2)
			}

			for _, s := range []struct {
				who, token string
				cs         *mcp.ClientSession
				out        string
			}{
				{"alice's first", "tok-alice", a1, outA1},
				{"alice's third", "tok-alice", a3, outA3},
				{"bob's", "tok-bob", b1, outB1},
			} {
				if resp := post(t, srv.url, s.token, s.cs.ID(), pingBody); resp.StatusCode != http.StatusOK {
					t.Errorf("%s session %s: status %d, want 200", s.who, s.cs.ID(), resp.StatusCode)
				}
				if out, err := callText(ctx, s.cs, srv.tool, srv.args); err != nil || out != s.out {
					t.Errorf("%s session %s: %q, %v; want %q", s.who, s.cs.ID(), out, err, s.out)
				}
				if !srv.held(s.cs.ID(), s.out) {
					t.Errorf("the upstream no longer holds %s session %s", s.who, s.cs.ID())
				}
			}
			if n := srv.sessions(); n != 3 {
				t.Errorf("the upstream holds %d sessions, want 3", n)
			}
		})
	}
}

// With as many sessions as MaxSessions, a principal with none gets 503 for
// its initialize, which never reaches the upstream; a principal at its own
// bound still opens one in place of its least recently used.
func TestSessionCapFullServerRefusesNewPrincipal(t *testing.T) {
	for _, kind := range cappedKinds {
		t.Run(kind.name, func(t *testing.T) {
			srv := kind.start(t, &pipeline.Options{MaxSessions: 3, MaxSessionsPerPrincipal: 2})
			a1 := openSession(t, srv.url, "tok-alice")
			openSession(t, srv.url, "tok-alice")
			openSession(t, srv.url, "tok-bob")

			resp := post(t, srv.url, "tok-carol", "", initBody)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("carol's initialize on a full server: status %d, want 503: %s", resp.StatusCode, body)
			}
			var rpcErr struct {
				ID    json.RawMessage `json:"id"`
				Error struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &rpcErr); err != nil || string(rpcErr.ID) != "1" || rpcErr.Error.Code != -32000 {
				t.Errorf("503 body %s, want a JSON-RPC error -32000 answering id 1", body)
			}
			if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
				t.Errorf("the 503 carries session id %q", sid)
			}
			if n := srv.sessions(); n != 3 {
				t.Errorf("the upstream holds %d sessions after the refusal, want 3", n)
			}

			// Alice at her bound replaces her least recently used session.
			openSession(t, srv.url, "tok-alice")
			if got := waitStatus(t, srv.url, "tok-alice", a1.ID(), http.StatusNotFound); got != http.StatusNotFound {
				t.Errorf("alice's replaced session: status %d, want 404", got)
			}
			if !waitFor(func() bool { return srv.sessions() == 3 }) {
				t.Errorf("the upstream holds %d sessions, want 3", srv.sessions())
			}
			if resp := post(t, srv.url, "tok-carol", "", initBody); resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("carol's initialize, still full: status %d, want 503", resp.StatusCode)
			}
		})
	}
}
