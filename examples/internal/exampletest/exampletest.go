// Package exampletest runs an example server of mcpgate in a test and
// calls it over HTTP with the go-sdk client, as an MCP client would.
package exampletest

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A Run function is an example's main without the process: it serves until
// ctx is done, writing what it tells its user to out.
type Run func(ctx context.Context, args []string, out io.Writer) error

// Server is a running example.
type Server struct {
	// Endpoint is the URL of its MCP endpoint.
	Endpoint string

	mu    sync.Mutex
	lines []string
}

// Start runs run with args in the background until the test ends, and
// waits for it to print the line "MCP endpoint: URL".
func Start(t *testing.T, run Run, args ...string) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("example: %v", err)
		}
	})

	s := &Server{}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.lines = append(s.lines, line)
			s.mu.Unlock()
			if u, ok := strings.CutPrefix(line, "MCP endpoint: "); ok {
				ready <- u
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case s.Endpoint = <-ready:
	case err := <-done:
		done <- err
		t.Fatalf("example exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("example did not start serving within 30s")
	}
	return s
}

// Value returns what the example printed after prefix on the first line
// that starts with it, or "".
func (s *Server) Value(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Refusal is the last error answer a Client received.
type Refusal struct {
	Status          int
	WWWAuthenticate string
}

// Client is an MCP client session with the bearer token it was given, and
// the last refusal its HTTP requests received.
type Client struct {
	*mcp.ClientSession
	t *recorder
}

// LastRefusal returns the status and WWW-Authenticate of the last response
// with a status of 400 or more.
func (c *Client) LastRefusal() Refusal {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	return c.t.last
}

// Connect opens an MCP session at endpoint with token as the bearer
// credential ("" sends none). The session is closed when the test ends.
func Connect(t *testing.T, endpoint, token string) (*Client, error) {
	t.Helper()
	rec := &recorder{token: token}
	tr := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: rec}, MaxRetries: -1}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "exampletest"}, nil).Connect(t.Context(), tr, nil)
	c := &Client{ClientSession: cs, t: rec}
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return c, err
}

// recorder adds the bearer credential and remembers the last refusal.
type recorder struct {
	token string
	mu    sync.Mutex
	last  Refusal
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && resp.StatusCode >= 400 {
		r.mu.Lock()
		r.last = Refusal{Status: resp.StatusCode, WWWAuthenticate: resp.Header.Get("WWW-Authenticate")}
		r.mu.Unlock()
	}
	return resp, err
}

// Tool calls the tool name with args and returns its structured output;
// the test fails if the call or the tool does.
func (c *Client) Tool(t *testing.T, name string, args map[string]any) map[string]any {
	t.Helper()
	res, err := c.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s: %v", name, res.Content)
	}
	out, _ := res.StructuredContent.(map[string]any)
	return out
}
