package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/examples/internal/exampletest"
	"github.com/mcpgate/mcpgate/sqlite"
)

func TestOIDC(t *testing.T) {
	issuer := exampletest.NewIssuer(t)
	data := t.TempDir()
	store, err := sqlite.Open(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	carol, err := authn.CreateKey(t.Context(), store, mcpgate.APIKey{Name: "ci", Subject: "carol", Scopes: []string{"clock:read"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := exampletest.Start(t, run, "-addr", "127.0.0.1:0", "-issuer", issuer.URL, "-data", data)

	t.Run("no token", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, "")
		if err == nil {
			t.Fatal("connected without a token")
		}
		got := c.LastRefusal()
		if got.Status != http.StatusUnauthorized || !strings.Contains(got.WWWAuthenticate, "resource_metadata=") {
			t.Fatalf("refusal = %+v, want 401 naming the resource metadata", got)
		}
		// The metadata names the provider, where a client gets a token.
		md := getJSON(t, strings.TrimSuffix(srv.Endpoint, "/mcp")+"/.well-known/oauth-protected-resource/mcp")
		if md["resource"] != srv.Endpoint || !slices.Contains(md["authorization_servers"].([]any), any(issuer.URL)) {
			t.Errorf("metadata = %v, want resource %s and authorization server %s", md, srv.Endpoint, issuer.URL)
		}
	})

	t.Run("token of another audience", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, issuer.Token(t, "alice", "https://other.example/mcp", "clock:read"))
		if err == nil || c.LastRefusal().Status != http.StatusUnauthorized {
			t.Fatalf("connect = %v, refusal %+v; want 401", err, c.LastRefusal())
		}
	})

	t.Run("alice", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, issuer.Token(t, "alice", srv.Endpoint, "clock:read"))
		if err != nil {
			t.Fatal(err)
		}
		who := c.Tool(t, "whoami", nil)
		if who["subject"] != "alice" || who["issuer"] != issuer.URL || who["method"] != mcpgate.MethodJWT {
			t.Errorf("whoami = %v, want alice from %s by jwt", who, issuer.URL)
		}
		if now := c.Tool(t, "clock", nil); now["now"] == nil {
			t.Errorf("clock = %v, want the time", now)
		}
	})

	t.Run("missing scope", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, issuer.Token(t, "bob", srv.Endpoint, "profile"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CallTool(t.Context(), &mcp.CallToolParams{Name: "clock"}); err == nil {
			t.Fatal("bob called clock without clock:read")
		}
		got := c.LastRefusal()
		if got.Status != http.StatusForbidden || !strings.Contains(got.WWWAuthenticate, `error="insufficient_scope", scope="clock:read"`) {
			t.Errorf("refusal = %+v, want 403 insufficient_scope naming clock:read", got)
		}
	})

	t.Run("api key too", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, carol)
		if err != nil {
			t.Fatal(err)
		}
		if who := c.Tool(t, "whoami", nil); who["subject"] != "carol" || who["method"] != mcpgate.MethodAPIKey {
			t.Errorf("whoami = %v, want carol by api_key", who)
		}
	})
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}
