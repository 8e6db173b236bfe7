package idp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/sqlite"
)

// TestGatewayRefusals puts the verifier in a gateway in front of an MCP
// server that counts what reaches it: every refused token gets the same
// 401 with the resource metadata challenge, and nothing reaches the
// server.
func TestGatewayRefusals(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	f := newFakeIdP(t, rs)
	var reached atomic.Int32
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})
	store, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	srv := httptest.NewUnstartedServer(nil)
	public := "http://" + srv.Listener.Addr().String() + "/mcp"
	v := mustVerifier(t, []Issuer{{Issuer: f.issuer, Audience: public}}, nil, &Options{Timeout: time.Second})
	gw, err := gateway.New(store, public, &gateway.Options{
		Verifiers: []authn.Verifier{v},
		OnChange:  v.Apply,
		Upstreams: []gateway.Upstream{{Name: "counted", Path: "/mcp", Handler: upstream}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv.Config.Handler = gw.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	post := func(token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, public, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	now := time.Now()
	with := func(edit func(c map[string]any)) map[string]any {
		c := f.claims(public, now)
		edit(c)
		return c
	}
	valid := sign(t, rs, f.claims(public, now), nil)
	if resp := post(valid); resp.StatusCode != http.StatusOK || reached.Load() != 1 {
		t.Fatalf("valid token: status %d, %d requests reached the server", resp.StatusCode, reached.Load())
	}
	reached.Store(0)
	for _, tc := range []struct{ name, token string }{
		{"wrong issuer", sign(t, rs, with(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil)},
		{"wrong audience", sign(t, rs, with(func(c map[string]any) { c["aud"] = "https://other.example.com/mcp" }), nil)},
		{"audience of another resource only", sign(t, rs, with(func(c map[string]any) { c["aud"] = public + "/other" }), nil)},
		{"expired", sign(t, rs, with(func(c map[string]any) { c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix() }), nil)},
		{"not yet valid", sign(t, rs, with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), nil)},
		{"alg none", sign(t, rs, f.claims(public, now), func(h map[string]any) { h["alg"] = "none" })},
		{"RS256/HS256 confusion", signHS256(rs, f.claims(public, now), rs.rsa.N.Bytes())},
		{"JWK alg differs", sign(t, &fakeKey{kid: "rs-1", alg: "ES256", ec: newECKey(t, "x").ec}, f.claims(public, now), nil)},
		{"edited claims", editClaims(valid, with(func(c map[string]any) { c["scope"] = "mcpgate:admin" }))},
		{"larger than 16 KiB", sign(t, rs, with(func(c map[string]any) { c["pad"] = strings.Repeat("x", 17<<10) }), nil)},
		{"unknown kid", sign(t, &fakeKey{kid: "nope", alg: "RS256", rsa: rs.rsa}, f.claims(public, now), nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(tc.token)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, "resource_metadata=") || !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if n := reached.Load(); n != 0 {
				t.Errorf("%d requests reached the MCP server", n)
			}
		})
	}

	// Revoked through the store's change feed, as `tokens revoke` does.
	jti := f.claims(public, now)["jti"].(string)
	tok := sign(t, rs, with(func(c map[string]any) { c["jti"] = jti }), nil)
	if resp := post(tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d before revocation", resp.StatusCode)
	}
	start := time.Now()
	if _, err := store.PublishChange(context.Background(), mcpgate.ChangeToken, mcpgate.IssuerChangeID(f.issuer, jti)); err != nil {
		t.Fatal(err)
	}
	for post(tok).StatusCode != http.StatusUnauthorized {
		if time.Since(start) > time.Second {
			t.Fatal("revoked token still accepted after 1s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revoked token refused %v after the change was published", time.Since(start).Round(time.Millisecond))
}

// TestGatewayAudiencePerEndpoint: with no audience configured, a token of
// the identity provider opens the MCP endpoint its aud names, and no
// other: the built-in server at /mcp and an upstream at /mcp/jira are
// resources of their own. An audience configured for the provider (what
// --jwt-audience sets) opens every endpoint instead.
func TestGatewayAudiencePerEndpoint(t *testing.T) {
	rs := newRSAKey(t, "rs-1", 0)
	f := newFakeIdP(t, rs)
	store, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})

	srv := httptest.NewUnstartedServer(nil)
	builtin := "http://" + srv.Listener.Addr().String() + "/mcp"
	jira := builtin + "/jira"
	perEndpoint := mustVerifier(t, []Issuer{{Issuer: f.issuer}}, nil, &Options{Timeout: time.Second})
	other := newFakeIdP(t, rs)
	fixed := mustVerifier(t, []Issuer{{Issuer: other.issuer, Audience: "api://mcpgate"}}, nil, &Options{Timeout: time.Second})
	gw, err := gateway.New(store, builtin, &gateway.Options{
		Verifiers: []authn.Verifier{perEndpoint, fixed},
		Upstreams: []gateway.Upstream{
			{Name: "default", Path: "/mcp", Handler: answer},
			{Name: "jira", Path: "/mcp/jira", Handler: answer},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv.Config.Handler = gw.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	post := func(endpoint, token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	forBuiltin := sign(t, rs, f.claims(builtin, now), nil)
	forJira := sign(t, rs, f.claims(jira, now), nil)
	everywhere := sign(t, rs, other.claims("api://mcpgate", now), nil)
	for _, tc := range []struct {
		name, token, endpoint string
		want                  int
	}{
		{"token for /mcp at /mcp", forBuiltin, builtin, 200},
		{"token for /mcp at /mcp/jira", forBuiltin, jira, 401},
		{"token for /mcp/jira at /mcp/jira", forJira, jira, 200},
		{"token for /mcp/jira at /mcp", forJira, builtin, 401},
		{"token for the configured audience at /mcp", everywhere, builtin, 200},
		{"token for the configured audience at /mcp/jira", everywhere, jira, 200},
	} {
		if got := post(tc.endpoint, tc.token); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		evs, err := store.ListAudit(context.Background(), now.Add(-time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Reason == mcpgate.ReasonWrongAudience {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audit events with reason %s, want 2", n, mcpgate.ReasonWrongAudience)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
