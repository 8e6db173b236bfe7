package idp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/oidcprovider"
)

// startOIDCProvider starts interop/oidc-idp.mjs (oidc-provider, a
// certified OpenID provider nobody here wrote) and returns its issuer. It
// fails when Node or the package is missing, unless MCPGATE_SKIP_NODE=1.
func startOIDCProvider(t *testing.T) string {
	t.Helper()
	node, err := filepath.Abs(filepath.Join("..", "interop", "node_modules", ".bin", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(node); err != nil {
		if os.Getenv("MCPGATE_SKIP_NODE") == "1" {
			t.Skip("node not installed and MCPGATE_SKIP_NODE=1")
		}
		t.Fatal("node is not installed: run `npm ci` in interop/ (scripts/test.sh does)")
	}
	return oidcprovider.Start(t, node, filepath.Join("..", "interop"))
}

// clientCredentials gets an access token for resource from the provider.
func clientCredentials(t *testing.T, issuer, client, secret, resource string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {"docs:read notes:write"}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	var body struct {
		AccessToken string `json:"access_token"`
	}
	idpCall(t, req, &body)
	return body.AccessToken
}

func idpCall(t *testing.T, req *http.Request, into any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", req.Method, req.URL, resp.Status, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: %v: %s", req.URL, err, b)
		}
	}
}

func jwksFetches(t *testing.T, issuer string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, issuer+"/admin/stats", nil)
	var s struct{ JWKS int }
	idpCall(t, req, &s)
	return s.JWKS
}

// TestOIDCProvider checks the verifier against oidc-provider: its JWT
// access tokens for the MCP resource (RS256 and ES256) are accepted, one
// for another resource is not, a key rotation is picked up with one JWKS
// fetch, its opaque tokens are introspected, and one revoked at the
// provider is refused once the cache bound has passed.
func TestOIDCProvider(t *testing.T) {
	iss := startOIDCProvider(t)
	const cacheTTL = time.Second
	v := mustVerifier(t, []Issuer{{Issuer: iss, Audience: testAudience, TokenType: "at+jwt"}},
		&Introspection{URL: iss + "/token/introspection", ClientID: "mcpgate", ClientSecret: "introspect-secret",
			Issuer: iss, Audience: testAudience, CacheTTL: cacheTTL}, nil)

	t.Run("JWT", func(t *testing.T) {
		for _, c := range [][2]string{{"mcp-jwt", "jwt-secret"}, {"mcp-jwt-es", "jwt-es-secret"}} {
			p := mustAccept(t, v, clientCredentials(t, iss, c[0], c[1], testAudience))
			if p.Issuer != iss || p.Subject != c[0] || p.ClientID != c[0] || !p.HasScope("docs:read") || p.TokenID == "" {
				t.Errorf("%s: principal = %+v", c[0], *p)
			}
		}
		mustRefuse(t, v, clientCredentials(t, iss, "mcp-jwt", "jwt-secret", "https://other.example.com/mcp"))
	})

	t.Run("key rotation", func(t *testing.T) {
		before := jwksFetches(t, iss)
		req, _ := http.NewRequest(http.MethodPost, iss+"/admin/rotate", nil)
		idpCall(t, req, nil)
		tok := clientCredentials(t, iss, "mcp-jwt", "jwt-secret", testAudience)
		mustAccept(t, v, tok)
		if got := jwksFetches(t, iss) - before; got != 1 {
			t.Errorf("rotation picked up with %d JWKS fetches, want 1", got)
		}
	})

	t.Run("introspection", func(t *testing.T) {
		tok := clientCredentials(t, iss, "mcp-opaque", "opaque-secret", testAudience)
		if strings.Count(tok, ".") == 2 {
			t.Fatalf("expected an opaque token, got a JWT")
		}
		p := mustAccept(t, v, tok)
		if p.Issuer != iss || p.Subject != "mcp-opaque" || p.Method != "introspection" || !p.HasScope("notes:write") {
			t.Errorf("principal = %+v", *p)
		}
		// Revoked at the provider: refused once the cache bound passes.
		form := url.Values{"token": {tok}}
		req, _ := http.NewRequest(http.MethodPost, iss+"/token/revocation", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("mcp-opaque", "opaque-secret")
		idpCall(t, req, nil)
		revoked := time.Now()
		for {
			_, err := v.Verify(context.Background(), tok)
			if err != nil {
				break
			}
			if time.Since(revoked) > cacheTTL+time.Second {
				t.Fatalf("token revoked at the provider still accepted after %v", time.Since(revoked))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("token revoked at the provider refused after %v (cache_ttl %v)", time.Since(revoked).Round(time.Millisecond), cacheTTL)
	})
}
