package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/proxy"
)

// TestMain doubles as the stdio MCP server the stdio tests start, when
// MCPGATE_PROXY_TEST_CHILD says so.
func TestMain(m *testing.M) {
	if mode := os.Getenv("MCPGATE_PROXY_TEST_CHILD"); mode != "" {
		runChild(mode)
		return
	}
	os.Exit(m.Run())
}

type echoArgs struct {
	Text string `json:"text"`
}

// runChild serves tools pid, echo and crash over stdio. In mode
// "stubborn" it ignores SIGTERM and outlives its stdin.
func runChild(mode string) {
	if mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
	}
	fmt.Fprintln(os.Stderr, "test child starting, token=should-be-redacted-by-the-gateway")
	server := mcp.NewServer(&mcp.Implementation{Name: "test-child", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "pid"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(os.Getpid())}}}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "big"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", 12<<20)}}}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		var who []string
		for _, k := range []string{"MCPGATE_SUBJECT", "MCPGATE_TENANT", "MCPGATE_CLIENT", "MCPGATE_SCOPES"} {
			who = append(who, k+"="+os.Getenv(k))
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(who, "\n")}}}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "crash"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		os.Exit(3)
		return nil, nil, nil
	})
	_ = server.Run(context.Background(), &mcp.StdioTransport{})
	if mode == "stubborn" {
		time.Sleep(time.Hour)
	}
	os.Exit(0)
}

func testChild(t *testing.T, mode string) proxy.Command {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return proxy.Command{Path: exe, Env: map[string]string{"MCPGATE_PROXY_TEST_CHILD": mode}}
}

func serveStdio(t *testing.T, s *proxy.Stdio) string {
	t.Helper()
	gw := httptest.NewServer(authenticate(s))
	t.Cleanup(gw.Close)
	t.Cleanup(func() { s.Close() })
	return gw.URL
}

func callText(ctx context.Context, cs *mcp.ClientSession, name string, args any) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", err
	}
	if res.IsError || len(res.Content) == 0 {
		return "", fmt.Errorf("tool %s: error result %v", name, res.Content)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		return "", fmt.Errorf("tool %s: content %T", name, res.Content[0])
	}
	return tc.Text, nil
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestStdioRestartsCrashedChild(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := proxy.NewStdio(testChild(t, "plain"), &proxy.StdioOptions{RestartBackoff: 50 * time.Millisecond, TerminateGrace: time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	cs := connect(t, url, "tok-alice", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	first, err := callText(ctx, cs, "pid", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "crash"})
	if err == nil || !strings.Contains(err.Error(), "upstream process exited") {
		t.Fatalf("call in flight when the child died: err = %v, want upstream process exited", err)
	}

	// The child comes back, initialized again, in the same MCP session.
	var second string
	for {
		second, err = callText(ctx, cs, "pid", nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("child never came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if second == first {
		t.Errorf("pid %s after the crash, want a new process", second)
	}
	if got, err := callText(ctx, cs, "echo", map[string]any{"text": "still here"}); err != nil || got != "still here" {
		t.Errorf("echo after restart = %q, %v", got, err)
	}

	var pid int
	fmt.Sscan(second, &pid)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("child %d alive after Close", pid)
	}
	out := logs.String()
	for _, want := range []string{"upstream stderr", "test child starting", "upstream process exited", "restart_in"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStdioKillsStubbornChild(t *testing.T) {
	grace := 200 * time.Millisecond
	s, err := proxy.NewStdio(testChild(t, "stubborn"), &proxy.StdioOptions{TerminateGrace: grace})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	cs := connect(t, url, "tok-alice", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := callText(ctx, cs, "pid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(out, &pid)
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 10*grace {
		t.Errorf("Close took %v with a %v grace", d, grace)
	}
	if alive(pid) {
		t.Errorf("child %d ignoring SIGTERM still alive after Close", pid)
	}
}

func TestStdioSharedChildMultiplexesSessions(t *testing.T) {
	s, err := proxy.NewStdio(testChild(t, "plain"), &proxy.StdioOptions{Mode: proxy.ModeShared})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Both clients number their requests from 1: the ids collide unless
	// the proxy rewrites them.
	var wg sync.WaitGroup
	pids := make([]string, 2)
	errs := make(chan error, 2)
	for i, tok := range []string{"tok-alice", "tok-bob"} {
		cs := connect(t, url, tok, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 20 {
				want := fmt.Sprintf("%s-%d", tok, n)
				got, err := callText(ctx, cs, "echo", map[string]any{"text": want})
				if err != nil || got != want {
					errs <- fmt.Errorf("%s call %d: got %q, %v", tok, n, got, err)
					return
				}
			}
			pids[i], _ = callText(ctx, cs, "pid", nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if pids[0] == "" || pids[0] != pids[1] {
		t.Errorf("pids %v, want one shared child", pids)
	}
}

func TestStdioRejectsBadCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec proxy.Command
		opts *proxy.StdioOptions
	}{
		{"empty", proxy.Command{}, nil},
		{"missing", proxy.Command{Path: "/nonexistent/mcp-server"}, nil},
		{"mode", proxy.Command{Path: "/bin/sh"}, &proxy.StdioOptions{Mode: "pooled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := proxy.NewStdio(tc.spec, tc.opts); err == nil {
				s.Close()
				t.Error("NewStdio succeeded")
			}
		})
	}
}

// everything returns the command of @modelcontextprotocol/server-everything.
func everything(t *testing.T) proxy.Command {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	interop := filepath.Join(filepath.Dir(file), "..", "interop")
	node := filepath.Join(interop, "node_modules", ".bin", "node")
	index := filepath.Join(interop, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
	for _, p := range []string{node, index} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("MCPGATE_SKIP_NODE") == "1" {
				t.Skipf("MCPGATE_SKIP_NODE=1 and %s is missing", p)
			}
			t.Fatalf("%s is missing: run 'npm ci' in %s (or set MCPGATE_SKIP_NODE=1 to skip)", p, interop)
		}
	}
	return proxy.Command{
		Path: node,
		Args: []string{index, "stdio"},
		Env:  map[string]string{"MCPGATE_STDIO_TEST": "from-config"},
		Dir:  interop,
	}
}

func TestStdioServerEverything(t *testing.T) {
	t.Setenv("MCPGATE_TEST_GATEWAY_SECRET", "must-not-reach-the-child")
	policy := &authz.Policy{
		Tools: []authz.Rule{
			{Match: "echo", Scopes: []string{"tools:basic"}},
			{Match: "get-*", Scopes: []string{"tools:basic"}},
			{Match: "trigger-long-running-operation", Scopes: []string{"tools:basic"}},
		},
		Default: []string{"admin"},
	}
	for _, mode := range []string{proxy.ModePerSession, proxy.ModeShared} {
		t.Run(mode, func(t *testing.T) {
			s, err := proxy.NewStdio(everything(t), &proxy.StdioOptions{Mode: mode, Policy: policy})
			if err != nil {
				t.Fatal(err)
			}
			url := serveStdio(t, s)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			var progress atomic.Int32
			client := mcp.NewClient(&mcp.Implementation{Name: "proxy-test", Version: "1"}, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
					if req.Params.ProgressToken == "op-1" {
						progress.Add(1)
					}
				},
			})
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: bearerClient("tok-alice")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()

			tools := toolNames(t, cs)
			for _, want := range []string{"echo", "get-sum", "get-env", "trigger-long-running-operation"} {
				if !slices.Contains(tools, want) {
					t.Errorf("tools/list lacks %s: %v", want, tools)
				}
			}
			for _, hidden := range tools {
				if hidden != "echo" && !strings.HasPrefix(hidden, "get-") && hidden != "trigger-long-running-operation" {
					t.Errorf("tools/list shows %s, which needs admin", hidden)
				}
			}
			all := toolNames(t, connect(t, url, "tok-bob", nil))
			if !slices.Contains(all, "toggle-simulated-logging") {
				t.Errorf("admin's tools/list lacks toggle-simulated-logging: %v", all)
			}

			if got, err := callText(ctx, cs, "echo", map[string]any{"message": "hello"}); err != nil || !strings.Contains(got, "hello") {
				t.Errorf("echo = %q, %v", got, err)
			}
			if got, err := callText(ctx, cs, "get-sum", map[string]any{"a": 2, "b": 3}); err != nil || !strings.Contains(got, "5") {
				t.Errorf("get-sum = %q, %v", got, err)
			}
			env, err := callText(ctx, cs, "get-env", map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(env, "from-config") || strings.Contains(env, "must-not-reach-the-child") {
				t.Errorf("child environment = %s", env)
			}

			res, err := cs.CallTool(ctx, &mcp.CallToolParams{
				Name:      "trigger-long-running-operation",
				Arguments: map[string]any{"duration": 1, "steps": 4},
				Meta:      mcp.Meta{"progressToken": "op-1"},
			})
			if err != nil || res.IsError {
				t.Fatalf("long-running operation: %v, %v", res, err)
			}
			// Progress travels on the session's GET stream; give the last one a moment.
			deadline := time.Now().Add(5 * time.Second)
			for progress.Load() < 4 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if got := progress.Load(); got != 4 {
				t.Errorf("received %d progress notifications, want 4", got)
			}
		})
	}
}

func bearerClient(token string) *http.Client {
	return &http.Client{Transport: &bearer{token: token, base: http.DefaultTransport}}
}

func TestStdioStartsNoProcessWithoutInitialize(t *testing.T) {
	s, err := proxy.NewStdio(testChild(t, "plain"), nil)
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	resp := post(t, url, "tok-alice", "", `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("tools/list without a session: status %d, want 400", resp.StatusCode)
	}
	if n := s.Sessions(); n != 0 {
		t.Errorf("%d sessions opened, want 0", n)
	}
}

func TestStdioSessionEndStopsItsChild(t *testing.T) {
	s, err := proxy.NewStdio(testChild(t, "plain"), &proxy.StdioOptions{TerminateGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	cs := connect(t, url, "tok-alice", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := callText(ctx, cs, "pid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(out, &pid)
	cs.Close() // DELETE ends the session
	for (s.Sessions() > 0 || alive(pid)) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if s.Sessions() != 0 || alive(pid) {
		t.Errorf("after the session ended: %d sessions, child %d alive %v", s.Sessions(), pid, alive(pid))
	}
}

// running reports whether process pid exists and is not a zombie waiting
// for a parent to reap it.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// A server started through a wrapper (sh -c, npx, uvx) is the wrapper's
// child: ending its session, or shutting down, must stop it too, even when
// it ignores SIGTERM and holds stderr open.
func TestStdioStopsServerStartedThroughWrapper(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, mode string
		end        func(s *proxy.Stdio, cs *mcp.ClientSession)
	}{
		{"session end", proxy.ModePerSession, func(_ *proxy.Stdio, cs *mcp.ClientSession) { cs.Close() }},
		{"shutdown", proxy.ModeShared, func(s *proxy.Stdio, _ *mcp.ClientSession) { s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grace := 200 * time.Millisecond
			cmd := proxy.Command{Path: "/bin/sh", Args: []string{"-c", exe + "; true"}, Env: map[string]string{"MCPGATE_PROXY_TEST_CHILD": "stubborn"}}
			s, err := proxy.NewStdio(cmd, &proxy.StdioOptions{Mode: tc.mode, TerminateGrace: grace})
			if err != nil {
				t.Fatal(err)
			}
			url := serveStdio(t, s)
			cs := connect(t, url, "tok-alice", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := callText(ctx, cs, "pid", nil)
			if err != nil {
				t.Fatal(err)
			}
			var pid int
			fmt.Sscan(out, &pid)
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			start := time.Now()
			tc.end(s, cs)
			for running(pid) && time.Since(start) < 10*grace {
				time.Sleep(20 * time.Millisecond)
			}
			if running(pid) {
				t.Errorf("server %d still running %v after the %s", pid, time.Since(start), tc.name)
			}
		})
	}
}

// A server that prints a banner on stdout before speaking JSON-RPC works:
// the banner is logged and skipped, not taken for a broken process.
func TestStdioSkipsNonJSONStdout(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cmd := proxy.Command{Path: "/bin/sh", Args: []string{"-c", "echo 'server ready on stdio'; exec " + exe}, Env: map[string]string{"MCPGATE_PROXY_TEST_CHILD": "plain"}}
	s, err := proxy.NewStdio(cmd, &proxy.StdioOptions{TerminateGrace: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs := connect(t, url, "tok-alice", nil)
	if got, err := callText(ctx, cs, "echo", map[string]any{"text": "hi"}); err != nil || got != "hi" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	out := logs.String()
	if !strings.Contains(out, "server ready on stdio") || strings.Contains(out, "upstream process exited") {
		t.Errorf("log:\n%s\nwant the banner skipped and no exit", out)
	}
}

// Sessions initializing a shared process at the same time all succeed: the
// process gets one initialize, and the others are answered with its result.
func TestStdioSharedConcurrentInitialize(t *testing.T) {
	for i := range 4 {
		s, err := proxy.NewStdio(testChild(t, "plain"), &proxy.StdioOptions{Mode: proxy.ModeShared, TerminateGrace: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		url := serveStdio(t, s)
		var wg sync.WaitGroup
		pids := make([]string, 4)
		for j, tok := range []string{"tok-alice", "tok-bob", "tok-alice", "tok-bob"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
				tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: bearerClient(tok)}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cs, err := client.Connect(ctx, tr, nil)
				if err != nil {
					t.Errorf("round %d session %d: connect: %v", i, j, err)
					return
				}
				defer cs.Close()
				if pids[j], err = callText(ctx, cs, "pid", nil); err != nil {
					t.Errorf("round %d session %d: call: %v", i, j, err)
				}
			}()
		}
		wg.Wait()
		for j := range pids {
			if pids[j] != "" && pids[j] != pids[0] {
				t.Errorf("round %d: session %d on process %s, session 0 on %s", i, j, pids[j], pids[0])
			}
		}
		s.Close()
	}
}

// A client that stops reading its answer holds up its own session only:
// another session of the same shared process is still served.
func TestStdioSharedSlowClientBlocksNoOne(t *testing.T) {
	s, err := proxy.NewStdio(testChild(t, "plain"), &proxy.StdioOptions{Mode: proxy.ModeShared, TerminateGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	resp := post(t, url, "tok-alice", "", initBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	post(t, url, "tok-alice", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`).Body.Close()

	// Alice asks for a 12 MiB answer on a connection with a small receive
	// buffer, and reads nothing of it but the status line.
	host := strings.TrimPrefix(url, "http://")
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"big","arguments":{}}}`
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer tok-alice\r\nContent-Type: application/json\r\n"+
		"Accept: application/json, text/event-stream\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: 2025-06-18\r\nContent-Length: %d\r\n\r\n%s",
		host, sid, len(body), body)
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the answer fills the socket buffers

	cs := connect(t, url, "tok-bob", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := callText(ctx, cs, "echo", map[string]any{"text": "hi"}); err != nil || got != "hi" {
		t.Errorf("bob's echo = %q, %v: held up by alice's unread answer", got, err)
	}
}

// A server that dies while something it started keeps its stdout open is
// still noticed, restarted, and what it left behind is stopped.
func TestStdioNoticesExitWhileStdoutHeldOpen(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := proxy.Command{Path: "/bin/sh", Args: []string{"-c", "sleep 60 & exec " + exe}, Env: map[string]string{"MCPGATE_PROXY_TEST_CHILD": "plain"}}
	s, err := proxy.NewStdio(cmd, &proxy.StdioOptions{RestartBackoff: 50 * time.Millisecond, TerminateGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	cs := connect(t, url, "tok-alice", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	first, err := callText(ctx, cs, "pid", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "crash"})
	if err == nil || !strings.Contains(err.Error(), "upstream process exited") {
		t.Errorf("call in flight when the server died: err = %v, want upstream process exited", err)
	}
	for {
		second, err := callText(ctx, cs, "pid", nil)
		if err == nil {
			if second == first {
				t.Errorf("pid %s after the crash, want a new process", second)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("server never came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A per-session child learns who is calling from its environment, as an
// HTTP upstream does from the X-Mcpgate-* headers: each session's child
// gets its own principal, and a child configured with identity variables
// of its own cannot pose as someone else.
func TestStdioChildLearnsWhoIsCalling(t *testing.T) {
	spec := testChild(t, "plain")
	spec.Env["MCPGATE_SUBJECT"] = "mallory"
	s, err := proxy.NewStdio(spec, &proxy.StdioOptions{TerminateGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	url := serveStdio(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct{ token, want string }{
		{"tok-alice", "MCPGATE_SUBJECT=alice\nMCPGATE_TENANT=acme\nMCPGATE_CLIENT=cli-1\nMCPGATE_SCOPES=tools:basic"},
		{"tok-bob", "MCPGATE_SUBJECT=bob\nMCPGATE_TENANT=acme\nMCPGATE_CLIENT=\nMCPGATE_SCOPES=tools:basic admin"},
	} {
		cs := connect(t, url, tt.token, nil)
		got, err := callText(ctx, cs, "whoami", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s: the child sees\n%s\nwant\n%s", tt.token, got, tt.want)
		}
	}
}
