package oauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
	"github.com/mcpgate/mcpgate/sqlite"
)

func TestSignIdentity(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv, err := New(store, &Options{Resource: "http://127.0.0.1:8080/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const upstream = "http://127.0.0.1:9000/mcp"
	tok, err := srv.SignIdentity(map[string]any{
		"sub": "alice", "aud": upstream, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"scope": "docs:read", "tenant": "acme", "client_id": "c1",
	})
	if err != nil {
		t.Fatal(err)
	}
	// An upstream verifies it with the published JWKS.
	ks, err := jose.ParseJWKS(srv.keySet().JWKS())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ks.Verify(tok, jose.VerifyOptions{Type: jose.TypeIdentity, Issuer: srv.Issuer(), Audience: upstream})
	if err != nil {
		t.Fatalf("upstream verification: %v", err)
	}
	if c.Subject != "alice" || c.Tenant != "acme" || c.Scope != "docs:read" || c.ClientID != "c1" {
		t.Errorf("claims = %+v", c)
	}
	// It is not an access token: mcpgate itself refuses it.
	if _, err := srv.Verifier().Verify(ctx, tok); !errors.Is(err, mcpgate.ErrUnauthenticated) {
		t.Errorf("identity assertion accepted as an access token: %v", err)
	}
	// Nor is it valid for another audience.
	if _, err := ks.Verify(tok, jose.VerifyOptions{Type: jose.TypeIdentity, Issuer: srv.Issuer(), Audience: "http://other/mcp"}); err == nil {
		t.Error("identity assertion valid for another audience")
	}
	if _, err := srv.SignIdentity(map[string]any{"sub": "x"}); err == nil {
		t.Error("assertion without aud and exp signed")
	}
}

func TestParseJWKSRefusesEmpty(t *testing.T) {
	for _, in := range []string{`{`, `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"AAAA"}]}`} {
		if _, err := jose.ParseJWKS([]byte(in)); err == nil {
			t.Errorf("ParseJWKS(%s) accepted", in)
		}
	}
}
