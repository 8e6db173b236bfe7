package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/jose"
)

// TestStdioUpstream fronts @modelcontextprotocol/server-everything (a stdio
// server nobody here wrote) with the real binary: one with --upstream-cmd at
// /mcp, one from the config file at /mcp/everything with a policy that hides
// and guards a tool.
func TestStdioUpstream(t *testing.T) {
	node := interopBin(t, "node")
	everything, err := filepath.Abs("../../interop/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "mcpgate.yaml")
	yaml := `upstreams:
  - name: everything
    command: [` + node + `, ` + everything + `, stdio]
    policy:
      tools:
        - match: "get-env"
          scopes: [admin]
        - match: "*"
          scopes: []
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := createKey(t, data, "--name", "user", "--scope", "docs:read")
	// A secret in mcpgate's own environment, which the child must not see.
	const probe = "MCPGATE_TEST_SECRET_PROBE=do-not-leak-7f3a"
	srv := startServerEnv(t, data, []string{probe}, "--config", cfg, "--upstream-cmd", node+" "+everything+" stdio")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, path := range []string{"/mcp", "/mcp/everything"} {
		s := connect(t, srv.base+path, key)
		tools, err := s.ListTools(ctx, nil)
		if err != nil {
			t.Fatalf("%s tools/list: %v", path, err)
		}
		var names []string
		for _, tl := range tools.Tools {
			names = append(names, tl.Name)
		}
		all := strings.Join(names, " ")
		if !strings.Contains(all, "echo") {
			t.Fatalf("%s tools/list lacks echo: %v", path, names)
		}
		if got := strings.Contains(all, "get-env"); got != (path == "/mcp") {
			t.Errorf("%s: get-env listed = %v; the policy should hide it only at /mcp/everything", path, got)
		}
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "through mcpgate"}})
		if err != nil || res.IsError || !strings.Contains(toolText(res), "through mcpgate") {
			t.Errorf("%s echo: %v %+v", path, err, res)
		}
	}

	// A guarded tool is refused with 403 and the scope named; the client's
	// key never reaches the child (it only sees mcpgate's environment).
	initResp, _ := rpc(t, srv.base+"/mcp/everything", key, initBody)
	sid := initResp.Header.Get("Mcp-Session-Id")
	req, _ := http.NewRequest(http.MethodPost, srv.base+"/mcp/everything",
		strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get-env","arguments":{}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="admin"`) {
		t.Errorf("get-env without admin: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// The unguarded get-env at /mcp shows the child's environment: no key.
	s := connect(t, srv.url, key)
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "get-env"})
	if err != nil {
		t.Fatal(err)
	}
	envText := toolText(res)
	if !strings.Contains(envText, "PATH") {
		t.Fatalf("get-env returned no environment: %s", envText)
	}
	if strings.Contains(envText, key[18:]) || strings.Contains(envText, "do-not-leak-7f3a") {
		t.Errorf("child environment leaks the key or mcpgate's environment")
	}
}

// TestHTTPUpstreamIdentity: an HTTP upstream behind the real binary never
// sees the client's credential; it learns the principal from headers
// mcpgate sets (client-sent copies are dropped) and from a signed identity
// assertion it can verify with mcpgate's JWKS.
func TestHTTPUpstreamIdentity(t *testing.T) {
	type seen struct{ header http.Header }
	got := make(chan seen, 8)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}`)
	}))
	defer upstream.Close()

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(cfg, []byte("upstreams:\n  - name: api\n    url: "+upstream.URL+"/mcp\n    identity_jwt: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := createKey(t, data, "--name", "svc", "--subject", "bob", "--tenant", "acme", "--scope", "docs:read")
	srv := startServer(t, data, "--config", cfg)

	req, _ := http.NewRequest(http.MethodPost, srv.base+"/mcp/api",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Mcpgate-Subject", "admin") // forged by the client
	req.Header.Set("Cookie", "session=secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var h http.Header
	select {
	case s := <-got:
		h = s.header
	case <-time.After(10 * time.Second):
		t.Fatal("upstream never called")
	}
	if a := h.Get("Authorization"); a != "" {
		t.Errorf("upstream received Authorization %q", a)
	}
	if c := h.Get("Cookie"); c != "" {
		t.Errorf("upstream received Cookie %q", c)
	}
	for k, v := range h {
		for _, x := range v {
			if strings.Contains(x, key[18:]) {
				t.Errorf("upstream header %s carries the key", k)
			}
		}
	}
	if s, tn := h.Get("X-Mcpgate-Subject"), h.Get("X-Mcpgate-Tenant"); s != "bob" || tn != "acme" {
		t.Errorf("identity headers subject=%q tenant=%q, want bob acme", s, tn)
	}
	jwksResp, err := http.Get(srv.base + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(jwksResp.Body)
	jwksResp.Body.Close()
	ks, err := jose.ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ks.Verify(h.Get("X-Mcpgate-Identity"), jose.VerifyOptions{Type: jose.TypeIdentity, Issuer: srv.base, Audience: upstream.URL + "/mcp"})
	if err != nil {
		t.Fatalf("identity assertion does not verify with mcpgate's JWKS: %v", err)
	}
	if c.Subject != "bob" || c.Tenant != "acme" || c.Scope != "docs:read" {
		t.Errorf("identity claims = %+v", c)
	}
}
