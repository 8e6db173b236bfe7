package main

import (
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

func TestPerUser(t *testing.T) {
	data := t.TempDir()
	srv := exampletest.Start(t, run, "-addr", "127.0.0.1:0", "-data", data)
	alice, err := exampletest.Connect(t, srv.Endpoint, srv.Value("API key of alice:"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := exampletest.Connect(t, srv.Endpoint, srv.Value("API key of bob:"))
	if err != nil {
		t.Fatal(err)
	}

	alice.Tool(t, "todo_add", map[string]any{"item": "renew the certificate"})
	bob.Tool(t, "todo_add", map[string]any{"item": "water the plants"})
	alice.Tool(t, "todo_add", map[string]any{"item": "rotate the API keys"})

	for _, tt := range []struct {
		name   string
		client *exampletest.Client
		want   []string
	}{
		{"alice", alice, []string{"renew the certificate", "rotate the API keys"}},
		{"bob", bob, []string{"water the plants"}},
	} {
		got := tt.client.Tool(t, "todo_list", nil)
		var items []string
		for _, it := range got["items"].([]any) {
			items = append(items, it.(string))
		}
		if got["owner"] != tt.name || !slices.Equal(items, tt.want) {
			t.Errorf("%s's todo_list = %v, want owner %s and %q", tt.name, got, tt.name, tt.want)
		}
	}

	t.Run("no key", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, "")
		if err == nil || c.LastRefusal().Status != http.StatusUnauthorized {
			t.Fatalf("connect = %v, refusal %+v; want 401", err, c.LastRefusal())
		}
	})

	t.Run("read-only key", func(t *testing.T) {
		store, err := sqlite.Open(t.Context(), data)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		key, err := authn.CreateKey(t.Context(), store, mcpgate.APIKey{Name: "viewer", Subject: "alice", Scopes: []string{"todo:read"}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := exampletest.Connect(t, srv.Endpoint, key)
		if err != nil {
			t.Fatal(err)
		}
		// The same subject: alice's list, through another key.
		if got := c.Tool(t, "todo_list", nil); len(got["items"].([]any)) != 2 {
			t.Errorf("todo_list with alice's read-only key = %v, want her two items", got)
		}
		_, err = c.CallTool(t.Context(), &mcp.CallToolParams{Name: "todo_add", Arguments: map[string]any{"item": "x"}})
		got := c.LastRefusal()
		if err == nil || got.Status != http.StatusForbidden || !strings.Contains(got.WWWAuthenticate, `scope="todo:write"`) {
			t.Errorf("todo_add with a read-only key: err %v, refusal %+v; want 403 naming todo:write", err, got)
		}
	})
}
