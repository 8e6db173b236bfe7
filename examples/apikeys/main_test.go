package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/examples/internal/exampletest"
	"github.com/mcpgate/mcpgate/sqlite"
)

func TestAPIKeys(t *testing.T) {
	data := t.TempDir()
	srv := exampletest.Start(t, run, "-addr", "127.0.0.1:0", "-data", data)
	alice := srv.Value("API key of alice:")
	if alice == "" {
		t.Fatal("no key printed for alice")
	}
	// A second handle on the data directory, as the mcpgate CLI would
	// open it, issues a key without the scope clock:read.
	store, err := sqlite.Open(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bob, err := authn.CreateKey(t.Context(), store, mcpgate.APIKey{Name: "bob", Subject: "bob"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no key", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, "")
		if err == nil {
			t.Fatal("connected without a key")
		}
		if got := c.LastRefusal(); got.Status != http.StatusUnauthorized || !strings.HasPrefix(got.WWWAuthenticate, "Bearer") {
			t.Errorf("refusal = %+v, want 401 with a Bearer challenge", got)
		}
	})

	t.Run("alice", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, alice)
		if err != nil {
			t.Fatal(err)
		}
		who := c.Tool(t, "whoami", nil)
		if who["subject"] != "alice" || who["method"] != mcpgate.MethodAPIKey {
			t.Errorf("whoami = %v, want alice by api_key", who)
		}
		if now := c.Tool(t, "clock", nil); now["now"] == nil {
			t.Errorf("clock = %v, want the time", now)
		}
	})

	t.Run("missing scope", func(t *testing.T) {
		c, err := exampletest.Connect(t, srv.Endpoint, bob)
		if err != nil {
			t.Fatal(err)
		}
		if who := c.Tool(t, "whoami", nil); who["subject"] != "bob" {
			t.Errorf("whoami = %v, want bob", who)
		}
		_, err = c.CallTool(t.Context(), &mcp.CallToolParams{Name: "clock"})
		if err == nil {
			t.Fatal("bob called clock without clock:read")
		}
		got := c.LastRefusal()
		if got.Status != http.StatusForbidden || !strings.Contains(got.WWWAuthenticate, `scope="clock:read"`) {
			t.Errorf("refusal = %+v, want 403 naming clock:read", got)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		id, _, err := apikey.Parse(bob)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.RevokeKey(t.Context(), id, time.Now()); err != nil {
			t.Fatal(err)
		}
		// The server learns of it from the change feed.
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := exampletest.Connect(t, srv.Endpoint, bob)
			if err != nil && c.LastRefusal().Status == http.StatusUnauthorized {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("revoked key still accepted after 5s (err %v)", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
