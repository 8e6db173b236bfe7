package oauth

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAuthorizeRefusals covers each rule of the authorization endpoint the
// library does not enforce on its own. A bad client or redirect_uri gets a
// 400 page; every other failure is redirected with error, state and iss.
func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("https://app.example.com/cb", "http://127.0.0.1:5000/callback")

	page := func(edit func(url.Values)) func(t *testing.T) {
		return func(t *testing.T) {
			v := authorizeParams(c)
			edit(v)
			resp := e.authorize(v)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d (Location %q), want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	}
	redirected := func(edit func(url.Values), wantErr string) func(t *testing.T) {
		return func(t *testing.T) {
			v := authorizeParams(c)
			edit(v)
			resp := e.authorize(v)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want 302", resp.StatusCode)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			q := loc.Query()
			if got := q.Get("error"); got != wantErr {
				t.Errorf("error = %q (%s), want %q", got, q.Get("error_description"), wantErr)
			}
			if got, want := q.Get("state"), v.Get("state"); got != want {
				t.Errorf("state = %q, want %q", got, want)
			}
			if got, want := q.Get("iss"), e.srv.Issuer(); got != want {
				t.Errorf("iss = %q, want %q", got, want)
			}
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != "https://app.example.com/cb" {
				t.Errorf("redirected to %s", got)
			}
		}
	}
	https := func(v url.Values) { v.Set("redirect_uri", "https://app.example.com/cb") }

	t.Run("unknown client", page(func(v url.Values) { v.Set("client_id", "mcpc_nope") }))
	t.Run("missing client", page(func(v url.Values) { v.Del("client_id") }))
	for _, ru := range []string{
		"https://app.example.com/cb2",          // a character
		"https://app.example.com/c",            // a character less
		"https://app.example.com:8443/cb",      // port
		"https://app.example.com/cb/",          // path
		"http://app.example.com/cb",            // scheme
		"https://app.example.com/cb?x=1",       // query
		"https://evil.example.com/cb",          // host
		"https://app.example.com.evil.com/cb",  // host suffix
		"http://127.0.0.1:5000/callbac",        // loopback path
		"http://127.0.0.1:5000/callback/extra", // loopback path
		"http://localhost:5000/callback",       // loopback host differs
		"https://127.0.0.1:5000/callback",      // loopback scheme
		"",
	} {
		t.Run("redirect "+ru, page(func(v url.Values) { v.Set("redirect_uri", ru) }))
	}
	t.Run("missing PKCE", redirected(func(v url.Values) { https(v); v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"))
	t.Run("PKCE plain", redirected(func(v url.Values) { https(v); v.Set("code_challenge_method", "plain") }, "invalid_request"))
	t.Run("PKCE method missing", redirected(func(v url.Values) { https(v); v.Del("code_challenge_method") }, "invalid_request"))
	t.Run("implicit", redirected(func(v url.Values) { https(v); v.Set("response_type", "token") }, "unsupported_response_type"))
	t.Run("other resource", redirected(func(v url.Values) { https(v); v.Set("resource", "https://other.example.com/mcp") }, "invalid_target"))
	t.Run("two resources", redirected(func(v url.Values) { https(v); v["resource"] = []string{e.srv.Resource(), e.srv.Resource()} }, "invalid_target"))

	t.Run("loopback any port", func(t *testing.T) {
		v := authorizeParams(c)
		v.Set("redirect_uri", "http://127.0.0.1:61234/callback")
		v.Set("resource", e.srv.Resource())
		e.login(v)
	})
}

func TestDeny(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("https://app.example.com/cb")
	v := authorizeParams(c)
	id := e.login(v)
	to, err := e.srv.Deny(t.Context(), id)
	if err != nil {
		t.Fatalf("Deny: %v", err)
	}
	u, _ := url.Parse(to)
	if got := u.Query().Get("error"); got != "access_denied" {
		t.Errorf("error = %q, want access_denied", got)
	}
	if got := u.Query().Get("state"); got != v.Get("state") {
		t.Errorf("state = %q", got)
	}
	if _, err := e.srv.Approve(t.Context(), id, alice, nil); err == nil {
		t.Error("Approve after Deny succeeded")
	}
	if _, err := e.srv.PendingRequest(t.Context(), "nope", ""); err == nil {
		t.Error("PendingRequest of an unknown id succeeded")
	}
}

// TestApproveScopes checks that the user cannot grant more than was asked
// or more than the user holds.
func TestApproveScopes(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("https://app.example.com/cb")
	id := e.login(authorizeParams(c)) // asks notes:read notes:write
	keyUser := *alice
	keyUser.Scopes = []string{"notes:read", "docs:read"} // signed in with a narrower API key
	to, err := e.srv.Approve(t.Context(), id, &keyUser, []string{"notes:read", "notes:write", "docs:read"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	tr := e.exchange(c, u.Query().Get("code"), nil)
	p, err := e.verify(tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Scopes) != 1 || p.Scopes[0] != "notes:read" {
		t.Errorf("scopes = %v, want [notes:read]", p.Scopes)
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"issuer":                           e.srv.Issuer(),
			"authorization_endpoint":           e.srv.Issuer() + "/authorize",
			"token_endpoint":                   e.srv.Issuer() + "/token",
			"registration_endpoint":            e.srv.Issuer() + "/register",
			"jwks_uri":                         e.srv.Issuer() + "/jwks.json",
			"response_types_supported":         []any{"code"},
			"code_challenge_methods_supported": []any{"S256"},
			"authorization_response_iss_parameter_supported": true,
			"client_id_metadata_document_supported":          true,
		}
		if path == "/.well-known/openid-configuration" {
			// OpenID Connect Discovery 1.0 §3 requires these of every
			// provider; the TypeScript SDK refuses a document without them.
			want["subject_types_supported"] = []any{"public"}
			want["id_token_signing_alg_values_supported"] = []any{"RS256"}
		}
		for k, w := range want {
			if got, _ := json.Marshal(m[k]); string(got) != mustJSON(w) {
				t.Errorf("%s: %s = %s, want %s", path, k, got, mustJSON(w))
			}
		}
	}
	resp, _ := http.Get(e.http.URL + "/jwks.json")
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if len(jwks.Keys) != 1 || jwks.Keys[0]["alg"] != "RS256" || jwks.Keys[0]["kid"] == "" || jwks.Keys[0]["d"] != nil {
		t.Errorf("jwks = %v", jwks)
	}
}

// TestIssuerWithPath serves RFC 8414's path-inserted metadata URL.
func TestIssuerWithPath(t *testing.T) {
	var issuer string
	e := newEnv(t, func(o *Options) { o.Issuer = o.Resource[:len(o.Resource)-len("/mcp")] + "/auth"; issuer = o.Issuer })
	for path, want := range map[string]int{
		"/.well-known/oauth-authorization-server/auth": 200,
		"/auth/.well-known/openid-configuration":       200,
		"/.well-known/oauth-authorization-server":      404,
		"/.well-known/oauth-authorization-server/x":    404,
	} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var m Metadata
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == 200 && (m.Issuer != issuer || m.TokenEndpoint != issuer+"/token") {
			t.Errorf("%s: %+v", path, m)
		}
	}
	c := e.addPublicClient("https://app.example.com/cb")
	resp, _ := noRedirectClient().Get(e.http.URL + "/auth/authorize?" + authorizeParams(c).Encode())
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("/auth/authorize: %d", resp.StatusCode)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestErrorPage: a browser sent to /authorize with a bad client sees an
// HTML page that cannot be framed, with the description escaped.
func TestErrorPage(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("https://app.example.com/cb")
	v := authorizeParams(c)
	v.Set("redirect_uri", "https://evil.example.com/<script>")
	req, _ := http.NewRequest("GET", e.http.URL+PathAuthorize+"?"+v.Encode(), nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := noRedirectClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	if !strings.Contains(string(body), "redirect_uri is not registered") || strings.Contains(string(body), "<script>") {
		t.Errorf("body %s", body)
	}
}
