package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// everythingPolicy fronts server-everything at /mcp/everything with
// scopes of its own, described for the consent page.
func everythingConfig(t *testing.T, node string) string {
	t.Helper()
	everything, err := filepath.Abs("../../interop/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "mcpgate.yaml")
	yaml := `upstreams:
  - name: everything
    command: [` + node + `, ` + everything + `, stdio]
    policy:
      tools:
        - match: echo
          scopes: [everything:echo]
        - match: get-env
          scopes: [everything:admin]
        - match: "*"
          scopes: []
      scope_descriptions:
        everything:echo: Have messages echoed back
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTypeScriptOAuthUpstream: the official TypeScript SDK client runs the
// whole OAuth flow against an upstream at /mcp/everything, through the
// real binary and its sign-in and consent pages, and calls the upstream's
// tool before and after a refresh. The upstream is a resource of its own:
// its metadata and challenge name it, the consent page asks for its
// scopes in its words (not the built-in server's notes), and the token
// it gets opens /mcp/everything only: the built-in server at /mcp refuses
// it with 401, with the reason in the audit trail.
func TestTypeScriptOAuthUpstream(t *testing.T) {
	node := interopBin(t, "node")
	script, err := filepath.Abs("../../interop/oauth-flow.mjs")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	addUser(t, data, "alice", alicePassword)
	srv := startServer(t, data, "--config", everythingConfig(t, node))
	upstream := srv.base + "/mcp/everything"

	// Discovery as a client does it: the 401 points at the upstream's own
	// metadata, which names the upstream as the resource, with its scopes.
	resp, _ := rpc(t, upstream, "", initBody)
	challenge := resp.Header.Get("WWW-Authenticate")
	prm := srv.base + "/.well-known/oauth-protected-resource/mcp/everything"
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(challenge, `resource_metadata="`+prm+`"`) ||
		!strings.Contains(challenge, `scope="everything:echo everything:admin"`) {
		t.Fatalf("401 at the upstream: %d %q", resp.StatusCode, challenge)
	}
	var md struct {
		Resource        string   `json:"resource"`
		ScopesSupported []string `json:"scopes_supported"`
	}
	getJSON(t, prm, &md)
	if md.Resource != upstream || !slices.Equal(md.ScopesSupported, []string{"everything:echo", "everything:admin"}) {
		t.Fatalf("metadata of the upstream: %+v", md)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(cleanEnv(), "MCP_URL="+upstream, "USERNAME=alice", "PASSWORD="+alicePassword,
		"REDIRECT_URL=http://127.0.0.1:47103/callback",
		"TOOL=echo", `TOOL_ARGS={"message":"hello through mcpgate"}`, "OTHER_URL="+srv.url)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("node: %v\n%s\n%s", err, out, ee.Stderr)
		}
		t.Fatalf("node: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res struct {
		Tools                   []string `json:"tools"`
		First, Listed           string
		Refreshed               bool   `json:"refreshed"`
		Scope                   string `json:"scope"`
		OtherStatus             int    `json:"otherStatus"`
		OtherStatusAfterRefresh int    `json:"otherStatusAfterRefresh"`
		Consent                 []struct{ Scope, Text string }
		Pages                   []string `json:"pages"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("node output %s: %v", out, err)
	}
	t.Logf("consent page offered %+v; token scope %q", res.Consent, res.Scope)

	if !slices.Contains(res.Tools, "echo") || slices.Contains(res.Tools, "notes_create") {
		t.Errorf("tools/list at the upstream: %v", res.Tools)
	}
	for _, r := range []string{res.First, res.Listed} {
		if !strings.Contains(r, "hello through mcpgate") {
			t.Errorf("echo through the upstream: %s", r)
		}
	}
	if !res.Refreshed {
		t.Error("the client did not refresh")
	}
	// The consent page asked for the upstream's scopes, described as its
	// policy describes them, or by name.
	want := map[string]string{"everything:echo": "Have messages echoed back", "everything:admin": "Use the everything:admin permission"}
	if len(res.Consent) != len(want) {
		t.Errorf("consent offered %+v, want %v", res.Consent, want)
	}
	for _, c := range res.Consent {
		if want[c.Scope] != c.Text {
			t.Errorf("consent: %s shown as %q, want %q", c.Scope, c.Text, want[c.Scope])
		}
	}
	if got := strings.Fields(res.Scope); !slices.Contains(got, "everything:echo") || slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "notes") }) {
		t.Errorf("token scope %q", res.Scope)
	}
	// The token, and the one its refresh gave, are the upstream's only.
	if res.OtherStatus != http.StatusUnauthorized || res.OtherStatusAfterRefresh != http.StatusUnauthorized {
		t.Errorf("token for the upstream at the built-in server: %d, after refresh %d; want 401", res.OtherStatus, res.OtherStatusAfterRefresh)
	}
	eventually(t, 5*time.Second, func() error {
		a := mcpgateCLI(t, data, "audit", "--json", "--since", "5m")
		if !strings.Contains(a.stdout, `"reason":"wrong_audience"`) {
			return errors.New("the audit trail has no wrong_audience refusal:\n" + a.stdout)
		}
		return nil
	})
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}
