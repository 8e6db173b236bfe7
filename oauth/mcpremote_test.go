package oauth

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// TestMCPRemote: mcp-remote (npm, pinned in interop/package.json), the
// stdio bridge Claude Desktop uses for remote servers, registers with DCR,
// runs the flow through its loopback callback and calls a tool.
func TestMCPRemote(t *testing.T) {
	interop, _ := filepath.Abs("../interop")
	proxy := filepath.Join(interop, "node_modules", "mcp-remote", "dist", "proxy.js")
	if _, err := os.Stat(proxy); err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			t.Skip("interop packages not installed (MCPGATE_SKIP_SERVICES=1)")
		}
		t.Fatalf("mcp-remote is not installed: run npm ci in %s (or set MCPGATE_SKIP_SERVICES=1): %v", interop, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v", err)
	}
	se := newSDKEnv(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, proxy, se.srv.Resource(), fmt.Sprint(port), "--host", "127.0.0.1")
	cmd.Dir = interop
	cmd.Env = append(os.Environ(), "MCP_REMOTE_CONFIG_DIR="+t.TempDir(), "BROWSER=true")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()

	// The "browser": take the URL mcp-remote prints, approve, and send the
	// redirect to its callback listener.
	var log syncLog
	authURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		next := false
		for sc.Scan() {
			line := sc.Text()
			log.add(line)
			if next && strings.HasPrefix(strings.TrimSpace(line), "http") {
				authURL <- strings.TrimSpace(line)
				next = false
			}
			if strings.Contains(line, "Please authorize this client by visiting") {
				next = true
			}
		}
	}()
	var u string
	select {
	case u = <-authURL:
	case <-ctx.Done():
		t.Fatalf("mcp-remote printed no authorization URL:\n%s", log.String())
	}
	res, err := se.browser(ctx, &auth.AuthorizationArgs{URL: u})
	if err != nil {
		t.Fatalf("authorize %s: %v", u, err)
	}
	au, _ := url.Parse(u)
	cb, _ := url.Parse(au.Query().Get("redirect_uri"))
	if cb.Hostname() != "127.0.0.1" && cb.Hostname() != "localhost" {
		t.Fatalf("redirect_uri %s is not loopback", cb)
	}
	q := url.Values{"code": {res.Code}, "state": {res.State}, "iss": {res.Iss}}
	cb.RawQuery = q.Encode()
	resp, err := http.Get(cb.String())
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// Then speak MCP over its stdio.
	send := func(v string) {
		if _, err := io.WriteString(stdin, v+"\n"); err != nil {
			t.Fatalf("write: %v\n%s", err, log.String())
		}
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcpgate-test","version":"1"}}}`)
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	wait := func(id int) map[string]any {
		for lines.Scan() {
			var m map[string]any
			if json.Unmarshal(lines.Bytes(), &m) == nil && m["id"] == float64(id) {
				return m
			}
		}
		t.Fatalf("no response %d from mcp-remote:\n%s", id, log.String())
		return nil
	}
	if m := wait(1); m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	m := wait(2)
	b, _ := json.Marshal(m["result"])
	if !strings.Contains(string(b), "acme/alice") {
		t.Errorf("tools/call result %s, want acme/alice", b)
	}
	clients, _ := se.srv.ListClients(t.Context())
	if len(clients) != 1 || clients[0].Source != SourceDCR {
		t.Errorf("clients = %+v, want one registered by DCR", clients)
	}
}

// syncLog collects a child's stderr for failure messages.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) add(line string) {
	l.mu.Lock()
	l.b.WriteString(line + "\n")
	l.mu.Unlock()
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
