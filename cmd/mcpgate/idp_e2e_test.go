package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/oidcprovider"
)

// startOIDCProvider starts interop/oidc-idp.mjs, a real OpenID provider,
// and returns its issuer URL.
func startOIDCProvider(t *testing.T) string {
	t.Helper()
	node := interopBin(t, "node")
	return oidcprovider.Start(t, node, filepath.Join("..", "..", "interop"))
}

func idpToken(t *testing.T, issuer, client, secret, resource string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {"docs:read"}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token from %s: %s: %v", issuer, resp.Status, err)
	}
	return body.AccessToken
}

func jwtClaim(t *testing.T, token, name string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(b, &c)
	s, _ := c[name].(string)
	return s
}

// TestIdentityProvider runs the real binary trusting oidc-provider's JWTs
// (--jwt-issuer) and its opaque tokens (--introspection-*, the secret read
// from the environment): both are accepted on /mcp, a token for another
// resource is not, and `tokens revoke --jti` against the running server
// has the token refused within a second.
func TestIdentityProvider(t *testing.T) {
	iss := startOIDCProvider(t)
	data := t.TempDir()
	s := startServerEnv(t, data, []string{"IDP_SECRET=introspect-secret"},
		"--jwt-issuer", iss,
		"--introspection-url", iss+"/token/introspection",
		"--introspection-client-id", "mcpgate",
		"--introspection-client-secret", "env:IDP_SECRET")

	status := func(token string) int {
		resp, _ := rpc(t, s.url, token, initBody)
		return resp.StatusCode
	}
	jwt := idpToken(t, iss, "mcp-jwt", "jwt-secret", s.url)
	if got := status(jwt); got != http.StatusOK {
		t.Fatalf("oidc-provider JWT: status %d, want 200", got)
	}
	if got := status(idpToken(t, iss, "mcp-opaque", "opaque-secret", s.url)); got != http.StatusOK {
		t.Fatalf("oidc-provider opaque token: status %d, want 200", got)
	}
	if got := status(idpToken(t, iss, "mcp-jwt", "jwt-secret", "https://other.example.com/mcp")); got != http.StatusUnauthorized {
		t.Errorf("token for another resource: status %d, want 401", got)
	}

	jti := jwtClaim(t, jwt, "jti")
	start := time.Now()
	res := mcpgateCLI(t, data, "tokens", "revoke", "--jti="+jti, "--issuer", iss)
	if res.code != 0 {
		t.Fatalf("tokens revoke: exit %d: %s", res.code, res.stderr)
	}
	revoked := time.Now()
	for status(jwt) != http.StatusUnauthorized {
		if time.Since(revoked) > time.Second {
			t.Fatalf("revoked token still accepted %v after tokens revoke returned", time.Since(revoked))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("tokens revoke --jti: the command took %v; the running server refused the token %v after it returned",
		revoked.Sub(start).Round(time.Millisecond), time.Since(revoked).Round(time.Millisecond))

	res = mcpgateCLI(t, data, "tokens", "revocations", "--json")
	var list []struct {
		Issuer, Kind, Value string
		Until               time.Time
	}
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("tokens revocations --json: %v: %s", err, res.stdout)
	}
	if r := list[0]; r.Issuer != iss || r.Kind != "token" || r.Value != jti || r.Until.Before(time.Now().Add(time.Hour)) {
		t.Errorf("revocation listed as %+v", r)
	}
	if res := mcpgateCLI(t, data, "tokens", "revoke", "--jti", "x", "--subject", "y"); res.code != exitUsage {
		t.Errorf("tokens revoke --jti --subject: exit %d, want %d", res.code, exitUsage)
	}
}
