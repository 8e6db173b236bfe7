package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The end-to-end tests build the real binary once and drive it as a user
// would: CLI commands against a data directory, `serve` as a child process,
// MCP clients over HTTP.

var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "^$" {
		// Fuzzing and benchmarks only: no binary needed.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "mcpgate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "mcpgate")
	// The mcpgate_testhooks tag adds what a test cannot reach from
	// outside (testhook_on.go), inert unless a test turns it on.
	args := []string{"build", "-tags", "mcpgate_testhooks", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mcpgate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is what one CLI invocation produced.
type cliResult struct {
	stdout, stderr string
	code           int
}

func mcpgateCLI(t *testing.T, data string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"--data", data}, args...)...)
	cmd.Env = cleanEnv()
	return runCmd(t, cmd)
}

// runCmd runs cmd to its end and returns its output and exit code; a
// command that cannot be run at all fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	return cliResult{out.String(), errb.String(), code}
}

// cleanEnv drops MCPGATE_* variables of the developer's shell so tests see
// only what they set.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

var keyRe = regexp.MustCompile(`mcpg_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}`)

// migrate runs `mcpgate migrate` on data (or on the --store among args), as
// a user following the quick start does before creating the first key or
// user: commands other than serve and migrate refuse to create a store.
// On an existing store it changes nothing.
func migrate(t *testing.T, data string, args ...string) {
	t.Helper()
	margs := []string{"migrate"}
	if i := slices.Index(args, "--store"); i >= 0 && i+1 < len(args) {
		margs = append(margs, args[i:i+2]...)
	}
	if res := mcpgateCLI(t, data, margs...); res.code != 0 {
		t.Fatalf("migrate: exit %d: %s", res.code, res.stderr)
	}
}

// createKey creates a key with `keys create`, in a store migrated first.
func createKey(t *testing.T, data string, args ...string) (key, id string) {
	t.Helper()
	migrate(t, data, args...)
	res := mcpgateCLI(t, data, append([]string{"keys", "create"}, args...)...)
	if res.code != 0 {
		t.Fatalf("keys create %v: exit %d: %s", args, res.code, res.stderr)
	}
	key = keyRe.FindString(res.stdout)
	if key == "" {
		t.Fatalf("keys create printed no key:\n%s", res.stdout)
	}
	return key, key[5:17]
}

// server is a running `mcpgate serve`.
type server struct {
	cmd    *exec.Cmd
	url    string // MCP endpoint
	base   string // scheme://host
	logs   *syncBuffer
	exited chan error
}

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

var listenRe = regexp.MustCompile(`mcpgate serving MCP at (\S+)`)

func startServer(t *testing.T, data string, args ...string) *server {
	t.Helper()
	return startServerEnv(t, data, nil, args...)
}

// startServerEnv starts `mcpgate serve` with extra environment variables.
func startServerEnv(t *testing.T, data string, extraEnv []string, args ...string) *server {
	t.Helper()
	return startRaw(t, extraEnv, append([]string{"--data", data, "--listen", "127.0.0.1:0", "serve"}, args...)...)
}

// startRaw starts mcpgate with exactly args (global flags, serve and its
// flags) and extra environment variables.
func startRaw(t *testing.T, extraEnv []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(cleanEnv(), extraEnv...)
	s := &server{cmd: cmd, logs: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = s.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	go func() { s.exited <- cmd.Wait() }()
	select {
	case s.url = <-urlc:
	case err := <-s.exited:
		t.Fatalf("mcpgate serve exited early: %v\n%s", err, s.logs.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("mcpgate serve did not start:\n%s", s.logs.String())
	}
	s.base = strings.TrimSuffix(s.url, "/mcp")
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	return s
}

// stop sends SIGTERM and returns the exit error.
func (s *server) stop(t *testing.T) error {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		return err
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		t.Fatal("mcpgate serve did not stop on SIGTERM")
		return nil
	}
}

type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.base.RoundTrip(r)
}

func connect(t *testing.T, url, key string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   url,
		HTTPClient: &http.Client{Transport: bearer{key, http.DefaultTransport}},
		MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func callTool(t *testing.T, s *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return res
}

func toolText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.StructuredContent != nil {
		j, _ := json.Marshal(res.StructuredContent)
		b.Write(j)
	}
	return b.String()
}

// rpc posts one JSON-RPC message with key (may be "") and returns the response.
func rpc(t *testing.T, url, key, body string) (*http.Response, string) {
	t.Helper()
	resp, b, err := doRPC(url, key, body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp, b
}

func doRPC(url, key, body string) (*http.Response, string, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// eventually retries f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	alice, _ := createKey(t, data, "--name", "alice", "--scope", "docs:read", "--scope", "notes:read", "--scope", "notes:write")
	bob, bobID := createKey(t, data, "--name", "bob", "--scope", "notes:read", "--scope", "notes:write")
	reader, _ := createKey(t, data, "--name", "reader", "--scope", "notes:read", "--scope", "docs:read")
	brief, _ := createKey(t, data, "--name", "brief", "--expires", "3s")
	rot, rotID := createKey(t, data, "--name", "rotating")
	created := time.Now()

	srv := startServer(t, data)

	t.Run("notes are private to their owner", func(t *testing.T) {
		a := connect(t, srv.url, alice)
		tools, err := a.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range tools.Tools {
			names = append(names, tl.Name)
		}
		for _, want := range []string{"search_docs", "notes_create", "notes_list"} {
			if !strings.Contains(strings.Join(names, " "), want) {
				t.Errorf("tools/list = %v, missing %s", names, want)
			}
		}
		res := callTool(t, a, "notes_create", map[string]any{"title": "roadmap", "body": "launch in May"})
		if res.IsError {
			t.Fatalf("notes_create failed: %s", toolText(res))
		}
		if got := toolText(callTool(t, a, "notes_list", nil)); !strings.Contains(got, "roadmap") {
			t.Errorf("alice's notes_list = %s, want her note", got)
		}
		uri := regexp.MustCompile(`notes://[A-Za-z0-9_-]+`).FindString(toolText(res))
		if uri == "" {
			t.Fatalf("notes_create result names no notes:// uri: %s", toolText(res))
		}
		if _, err := a.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uri}); err != nil {
			t.Errorf("alice reading her own %s: %v", uri, err)
		}

		b := connect(t, srv.url, bob)
		if got := toolText(callTool(t, b, "notes_list", nil)); strings.Contains(got, "roadmap") {
			t.Errorf("bob's notes_list shows alice's note: %s", got)
		}
		if _, err := b.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uri}); err == nil {
			t.Errorf("bob read alice's note %s", uri)
		}
	})

	t.Run("missing or wrong credentials get 401", func(t *testing.T) {
		wrong := alice[:len(alice)-10] + "AAAAAAAAAA"
		for name, key := range map[string]string{"missing": "", "wrong": wrong, "garbage": "not-a-key", "jwt-shaped": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."} {
			resp, body := rpc(t, srv.url, key, initBody)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
				continue
			}
			wa := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, "Bearer") || !strings.Contains(wa, `resource_metadata="`+srv.base+`/.well-known/oauth-protected-resource/mcp"`) {
				t.Errorf("%s: WWW-Authenticate = %q", name, wa)
			}
			if !json.Valid([]byte(body)) {
				t.Errorf("%s: body is not JSON: %s", name, body)
			}
		}
		// Every failure looks the same, so a client learns nothing about which part was wrong.
		_, b1 := rpc(t, srv.url, wrong, initBody)
		_, b2 := rpc(t, srv.url, "mcpg_AAAAAAAAAAAA_"+strings.Repeat("A", 49), initBody)
		if b1 != b2 {
			t.Errorf("error bodies differ: %q vs %q", b1, b2)
		}
	})

	t.Run("missing scope gets 403 insufficient_scope", func(t *testing.T) {
		s := connect(t, srv.url, reader)
		ctx := context.Background()
		_, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "notes_create", Arguments: map[string]any{"title": "x", "body": "y"}})
		if err == nil {
			t.Fatal("notes_create without notes:write succeeded")
		}
		resp, _ := rpc(t, srv.url, reader, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"notes_create","arguments":{"title":"x","body":"y"}}}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
		wa := resp.Header.Get("WWW-Authenticate")
		if !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="notes:write"`) {
			t.Errorf("WWW-Authenticate = %q", wa)
		}
	})

	t.Run("bad input gets clear errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			status     int
		}{
			{"not json", `{"jsonrpc":`, http.StatusBadRequest},
			{"not jsonrpc", `{"hello":"world"}`, http.StatusBadRequest},
			{"too large", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("a", 5<<20) + `"}}`, http.StatusRequestEntityTooLarge},
		} {
			resp, body := rpc(t, srv.url, alice, tc.body)
			if resp.StatusCode != tc.status {
				t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.StatusCode, tc.status, body)
			}
		}
		s := connect(t, srv.url, alice)
		if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "no_such_tool"}); err == nil {
			t.Error("unknown tool: no error")
		}
		// Only POST carries messages: a body on another method would reach
		// the server unchecked, so it is refused.
		for _, tc := range []struct {
			method string
			status int
		}{{http.MethodPut, http.StatusMethodNotAllowed}, {http.MethodPatch, http.StatusMethodNotAllowed}, {http.MethodGet, http.StatusBadRequest}, {http.MethodDelete, http.StatusBadRequest}} {
			req, _ := http.NewRequest(tc.method, srv.url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes_create"}}`))
			req.Header.Set("Authorization", "Bearer "+reader)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s with a body: status %d, want %d", tc.method, resp.StatusCode, tc.status)
			}
		}
		// Every call of a batch is audited, not only the first.
		rpc(t, srv.url, alice, `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"batch-marker"}}}]`)
	})

	t.Run("revoked key stops working within a second", func(t *testing.T) {
		if resp, _ := rpc(t, srv.url, bob, initBody); resp.StatusCode != http.StatusOK {
			t.Fatalf("bob before revoke: %d", resp.StatusCode)
		}
		if res := mcpgateCLI(t, data, "keys", "revoke", bobID); res.code != 0 {
			t.Fatalf("keys revoke: %d %s", res.code, res.stderr)
		}
		revoked := time.Now()
		eventually(t, 2*time.Second, func() error {
			if resp, _ := rpc(t, srv.url, bob, initBody); resp.StatusCode != http.StatusUnauthorized {
				return fmt.Errorf("revoked key still gets %d", resp.StatusCode)
			}
			return nil
		})
		if d := time.Since(revoked); d > time.Second {
			t.Errorf("revocation took %v, want under 1s", d)
		}
	})

	t.Run("rotation keeps the old key for the grace period", func(t *testing.T) {
		res := mcpgateCLI(t, data, "keys", "rotate", rotID, "--grace", "2s")
		if res.code != 0 {
			t.Fatalf("keys rotate: %d %s", res.code, res.stderr)
		}
		next := keyRe.FindString(res.stdout)
		if next == "" || next == rot {
			t.Fatalf("rotate printed no new key: %s", res.stdout)
		}
		for name, key := range map[string]string{"old": rot, "new": next} {
			if resp, _ := rpc(t, srv.url, key, initBody); resp.StatusCode != http.StatusOK {
				t.Errorf("%s key during grace: %d", name, resp.StatusCode)
			}
		}
		eventually(t, 5*time.Second, func() error {
			if resp, _ := rpc(t, srv.url, rot, initBody); resp.StatusCode != http.StatusUnauthorized {
				return fmt.Errorf("old key after grace: %d", resp.StatusCode)
			}
			return nil
		})
		if resp, _ := rpc(t, srv.url, next, initBody); resp.StatusCode != http.StatusOK {
			t.Errorf("new key after grace: %d", resp.StatusCode)
		}
	})

	t.Run("expired key gets 401", func(t *testing.T) {
		time.Sleep(time.Until(created.Add(3500 * time.Millisecond)))
		if resp, _ := rpc(t, srv.url, brief, initBody); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("expired key: status %d, want 401", resp.StatusCode)
		}
	})

	t.Run("DNS rebinding and cross-origin requests are refused", func(t *testing.T) {
		for name, set := range map[string]func(*http.Request){
			"foreign host":   func(r *http.Request) { r.Host = "evil.example" },
			"foreign origin": func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
		} {
			req, _ := http.NewRequest(http.MethodPost, srv.url, strings.NewReader(initBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+alice)
			set(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", name, resp.StatusCode)
			}
		}
	})

	t.Run("shutdown closes open event streams", func(t *testing.T) {
		// A session with its standalone event stream open must not hold
		// the server for its whole 30s grace period.
		connect(t, srv.url, alice)
		start := time.Now()
		if err := srv.stop(t); err != nil {
			t.Errorf("serve exit: %v\n%s", err, srv.logs.String())
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("shutdown took %v with an open stream", d)
		}
	})

	t.Run("audit shows the requests", func(t *testing.T) {
		res := mcpgateCLI(t, data, "audit", "--since", "10m", "--json", "--limit", "0", "--reverse")
		if res.code != 0 {
			t.Fatalf("audit: %d %s", res.code, res.stderr)
		}
		var allow, deny, unauth int
		byRequest := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("audit line %q: %v", line, err)
			}
			rid, _ := ev["request_id"].(string)
			byRequest[rid] = append(byRequest[rid], fmt.Sprint(ev["method"], " ", ev["target"]))
			switch ev["decision"] {
			case "allow":
				allow++
			case "deny":
				deny++
			case "unauthenticated":
				unauth++
			}
		}
		if allow == 0 || deny == 0 || unauth == 0 {
			t.Errorf("audit decisions allow=%d deny=%d unauthenticated=%d, want all > 0", allow, deny, unauth)
		}
		batched := false
		for _, calls := range byRequest {
			if len(calls) == 2 && calls[0] == "ping " && calls[1] == "tools/call search_docs" {
				batched = true
			}
		}
		if !batched {
			t.Error("the batch [ping, tools/call search_docs] was not audited as two events of one request")
		}
		if res := mcpgateCLI(t, data, "audit", "--limit", "0"); res.code != 0 || !strings.Contains(res.stdout, "notes_create") {
			t.Errorf("audit table: %d %s", res.code, res.stdout)
		}
	})

	t.Run("no key secret in the store files or the logs", func(t *testing.T) {
		secrets := map[string]string{"alice": alice, "bob": bob, "reader": reader, "brief": brief, "rotating": rot}
		files, _ := filepath.Glob(filepath.Join(data, "*"))
		if len(files) == 0 {
			t.Fatal("data dir is empty")
		}
		blobs := map[string][]byte{"server log": []byte(srv.logs.String())}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			blobs[f] = b
		}
		for where, b := range blobs {
			for who, key := range secrets {
				secret := key[18:] // the part after mcpg_<keyid>_
				if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(secret[:20])) {
					t.Errorf("%s's key secret found in %s", who, where)
				}
			}
		}
	})
}

func TestKeysList(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key, id := createKey(t, data, "--name", "ci", "--scope", "docs:read", "--expires", "90d")
	res := mcpgateCLI(t, data, "keys", "list")
	if res.code != 0 || !strings.Contains(res.stdout, id) || !strings.Contains(res.stdout, "active") {
		t.Fatalf("keys list: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, key[18:]) {
		t.Fatal("keys list shows the secret")
	}
	res = mcpgateCLI(t, data, "keys", "list", "--json")
	var views []keyView
	if err := json.Unmarshal([]byte(res.stdout), &views); err != nil || len(views) != 1 {
		t.Fatalf("keys list --json: %v\n%s", err, res.stdout)
	}
	if got := views[0]; got.ID != id || got.Status != "active" || got.Expires == nil || got.RotationDue {
		t.Errorf("keys list --json = %+v", got)
	}
}

func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	garbage := filepath.Join(dir, "garbage")
	if err := os.MkdirAll(garbage, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(garbage, "mcpgate.db"), bytes.Repeat([]byte("not a database "), 400), 0o600); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("listen: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("lisen: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badUpstream := filepath.Join(dir, "upstream.yaml")
	if err := os.WriteFile(badUpstream, []byte("upstreams:\n  - name: x\n    url: http://127.0.0.1:1/mcp\n    command: [node]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clashing := filepath.Join(dir, "clash.yaml")
	if err := os.WriteFile(clashing, []byte("upstreams:\n  - name: x\n    url: http://127.0.0.1:1/mcp\n    path: /token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	migrate(t, data)
	for _, tc := range []struct {
		name string
		data string
		args []string
		code int
		want string
	}{
		{"upstream with url and command", data, []string{"--config", badUpstream, "serve"}, exitUsage, "both url and command"},
		{"upstream on an OAuth path", data, []string{"--config", clashing, "serve", "--listen", "127.0.0.1:0"}, exitError, "already served"},
		{"unterminated upstream command", data, []string{"serve", "--upstream-cmd", "node 'x"}, exitUsage, "unterminated"},
		{"both upstream flags", data, []string{"serve", "--upstream", "http://x", "--upstream-cmd", "y"}, exitUsage, "--upstream"},
		{"unknown command", data, []string{"frobnicate"}, exitUsage, "unexpected argument"},
		{"create without name", data, []string{"keys", "create"}, exitUsage, "--name"},
		{"bad expiry", data, []string{"keys", "create", "--name", "x", "--expires", "soon"}, exitUsage, "--expires"},
		{"bad scope", data, []string{"keys", "create", "--name", "x", "--scope", "a\"b"}, exitUsage, "scope"},
		{"revoke unknown", data, []string{"keys", "revoke", "nope"}, exitError, "no key"},
		{"rotate unknown", data, []string{"keys", "rotate", "nope"}, exitError, "no key"},
		{"corrupt database", garbage, []string{"keys", "list"}, exitError, "mcpgate.db"},
		{"bad log level", data, []string{"--log-level", "loud", "keys", "list"}, exitUsage, "--log-level"},
		{"bad config", data, []string{"--config", badConfig, "keys", "list"}, exitUsage, "bad.yaml"},
		{"unknown config key", data, []string{"--config", unknownKey, "keys", "list"}, exitUsage, "lisen"},
		{"bad public url", data, []string{"--public-url", "ftp://x", "serve"}, exitUsage, "public URL"},
		{"bad audit since", data, []string{"audit", "--since", "-1h"}, exitUsage, "--since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mcpgateCLI(t, tc.data, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr %q should mention %q", res.code, tc.code, res.stderr, tc.want)
			}
			if strings.Contains(res.stderr, "panic") || strings.Contains(res.stderr, "goroutine ") {
				t.Errorf("panic output: %s", res.stderr)
			}
		})
	}
	// The corrupt file is reported, never replaced.
	b, _ := os.ReadFile(filepath.Join(garbage, "mcpgate.db"))
	if !bytes.HasPrefix(b, []byte("not a database")) {
		t.Error("corrupt database file was modified")
	}
}

// TestGracefulShutdown sends SIGTERM while a call is in flight to a slow
// upstream: the call completes with its result, then the server exits 0.
func TestGracefulShutdown(t *testing.T) {
	const delay = 1500 * time.Millisecond
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(body, &msg)
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"finished"}]}}`, msg.ID)
	}))
	defer upstream.Close()

	data := filepath.Join(t.TempDir(), "data")
	key, _ := createKey(t, data, "--name", "slow")
	srv := startServer(t, data, "--upstream", upstream.URL+"/mcp")

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, body, err := doRPC(srv.url, key, `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"slow","arguments":{}}}`)
		if err != nil {
			got <- result{err: err}
			return
		}
		got <- result{resp.StatusCode, body, nil}
	}()
	time.Sleep(delay / 3)
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, "finished") {
			t.Errorf("in-flight call across shutdown: %v %d %s", r.err, r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight call never completed")
	}
}
