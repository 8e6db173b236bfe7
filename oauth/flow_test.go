package oauth

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/mcpgate/mcpgate"
)

func TestCodeFlow(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/callback")
	v := authorizeParams(c)
	id := e.login(v)

	pr, err := e.srv.PendingRequest(t.Context(), id, "")
	if err != nil {
		t.Fatalf("PendingRequest: %v", err)
	}
	if pr.ClientName != "Test App" || pr.Resource != e.srv.Resource() || !slices.Equal(pr.Scopes, []string{"notes:read", "notes:write"}) || pr.PriorApproval {
		t.Errorf("PendingRequest = %+v", pr)
	}
	to, err := e.srv.Approve(t.Context(), id, alice, []string{"notes:read", "notes:write"})
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	u, _ := url.Parse(to)
	q := u.Query()
	if got, want := q.Get("state"), v.Get("state"); got != want {
		t.Errorf("state = %q, want %q", got, want)
	}
	if got, want := q.Get("iss"), e.srv.Issuer(); got != want {
		t.Errorf("iss = %q, want %q", got, want)
	}
	if u.Scheme+"://"+u.Host+u.Path != c.RedirectURIs[0] {
		t.Errorf("redirect to %s, want %s", u, c.RedirectURIs[0])
	}
	tr := e.exchange(c, q.Get("code"), nil)
	if tr.status != http.StatusOK || tr.AccessToken == "" || tr.RefreshToken == "" {
		t.Fatalf("token: %d %s %s", tr.status, tr.Error, tr.Description)
	}
	if got := tr.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	p, err := e.verify(tr.AccessToken)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != "alice" || p.Tenant != "acme" || p.ClientID != c.ID || p.Method != mcpgate.MethodOAuth ||
		!slices.Equal(p.Scopes, []string{"notes:read", "notes:write"}) || !slices.Equal(p.Audience, []string{e.srv.Resource()}) || p.GrantID == "" || p.TokenID == "" {
		t.Errorf("principal = %+v", p)
	}

	// A second request of the same user and client is pre-approved.
	id2 := e.login(v)
	pr2, err := e.srv.PendingRequest(t.Context(), id2, "alice")
	if err != nil || !pr2.PriorApproval {
		t.Errorf("second PendingRequest = %+v, %v; want PriorApproval", pr2, err)
	}

	// Refresh rotates.
	r2 := e.refresh(c, tr.RefreshToken)
	if r2.status != http.StatusOK || r2.RefreshToken == "" || r2.RefreshToken == tr.RefreshToken {
		t.Fatalf("refresh: %d %s %s", r2.status, r2.Error, r2.Description)
	}
	if _, err := e.verify(r2.AccessToken); err != nil {
		t.Errorf("Verify refreshed token: %v", err)
	}
}

// TestEmptyScope: a request without scope (common among MCP clients) asks
// for what the client may have, rather than being refused.
func TestEmptyScope(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	v := authorizeParams(c)
	v.Del("scope")
	pr, err := e.srv.PendingRequest(t.Context(), e.login(v), "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pr.Scopes, testScopes) {
		t.Errorf("scopes = %v, want %v", pr.Scopes, testScopes)
	}
	v.Set("scope", "openid profile")
	pr, _ = e.srv.PendingRequest(t.Context(), e.login(v), "")
	if !slices.Equal(pr.Scopes, testScopes) {
		t.Errorf("only unsupported scopes: %v, want %v", pr.Scopes, testScopes)
	}
	v.Set("scope", "notes:read unknown:scope")
	pr, _ = e.srv.PendingRequest(t.Context(), e.login(v), "")
	if !slices.Equal(pr.Scopes, []string{"notes:read"}) {
		t.Errorf("scopes = %v, want [notes:read] (unsupported ones dropped)", pr.Scopes)
	}
}
