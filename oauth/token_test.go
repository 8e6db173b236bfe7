package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func TestCodeExchangeRefusals(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1:5000/callback")
	other := e.addPublicClient("http://127.0.0.1:5000/callback")
	tests := []struct {
		name string
		edit func(url.Values)
		want string
	}{
		{"wrong verifier", func(v url.Values) { v.Set("code_verifier", testVerifier+"x") }, "invalid_grant"},
		{"missing verifier", func(v url.Values) { v.Del("code_verifier") }, "invalid_grant"},
		{"verifier is the challenge (plain)", func(v url.Values) { v.Set("code_verifier", pkce(testVerifier)) }, "invalid_grant"},
		{"redirect_uri port", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:5001/callback") }, "invalid_grant"},
		{"redirect_uri path", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:5000/callback2") }, "invalid_grant"},
		{"redirect_uri missing", func(v url.Values) { v.Del("redirect_uri") }, "invalid_request"},
		{"another client", func(v url.Values) { v.Set("client_id", other.ID) }, "invalid_grant"},
		{"unknown client", func(v url.Values) { v.Set("client_id", "mcpc_nope") }, "invalid_client"},
		{"other resource", func(v url.Values) { v.Set("resource", "https://other.example.com/mcp") }, "invalid_target"},
		{"unknown code", func(v url.Values) { v.Set("code", "nope") }, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := e.code(authorizeParams(c))
			tr := e.exchange(c, code, tt.edit)
			if tr.Error != tt.want || tr.AccessToken != "" {
				t.Errorf("error = %q (%s), status %d; want %q", tr.Error, tr.Description, tr.status, tt.want)
			}
		})
	}
	t.Run("expired code", func(t *testing.T) {
		code := e.code(authorizeParams(c))
		e.clock.Add(61 * time.Second)
		if tr := e.exchange(c, code, nil); tr.Error != "invalid_grant" {
			t.Errorf("error = %q, want invalid_grant", tr.Error)
		}
	})
	t.Run("explicit matching resource", func(t *testing.T) {
		code := e.code(authorizeParams(c))
		tr := e.exchange(c, code, func(v url.Values) { v.Set("resource", e.srv.Resource()) })
		if tr.AccessToken == "" {
			t.Errorf("error = %q (%s)", tr.Error, tr.Description)
		}
	})
}

// TestCodeReuse: a second redemption is refused and revokes the tokens
// issued from the first.
func TestCodeReuse(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	code := e.code(authorizeParams(c))
	first := e.exchange(c, code, nil)
	if first.AccessToken == "" {
		t.Fatalf("first exchange: %s", first.Error)
	}
	if _, err := e.verify(first.AccessToken); err != nil {
		t.Fatalf("Verify before reuse: %v", err)
	}
	second := e.exchange(c, code, nil)
	if second.Error != "invalid_grant" {
		t.Errorf("second exchange: error %q, want invalid_grant", second.Error)
	}
	if _, err := e.verify(first.AccessToken); !errors.Is(err, mcpgate.ErrUnauthenticated) {
		t.Errorf("access token from a reused code: Verify = %v, want ErrUnauthenticated", err)
	}
	if r := e.refresh(c, first.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("refresh token from a reused code: error %q, want invalid_grant", r.Error)
	}
	// Another server on the same store learns it from the change feed.
	other, err := New(e.store, &Options{Resource: e.srv.Resource(), Now: e.clock.Now, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verifier().Verify(t.Context(), first.AccessToken); err == nil {
		t.Error("a server started after the reuse accepts the revoked token")
	}
}

// TestRefreshReuse: presenting a rotated refresh token revokes the whole
// grant, every token under it, and raises an alert.
func TestRefreshReuse(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	tr := e.exchange(c, e.code(authorizeParams(c)), nil)
	r1 := e.refresh(c, tr.RefreshToken)
	if r1.RefreshToken == "" {
		t.Fatalf("refresh: %s", r1.Error)
	}
	p, err := e.verify(r1.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if again := e.refresh(c, tr.RefreshToken); again.Error != "invalid_grant" {
		t.Errorf("reused refresh token: error %q, want invalid_grant", again.Error)
	}
	if got := e.alerts.list(); !slices.Contains(got, "oauth.refresh_token_reuse") {
		t.Errorf("alerts = %v, want oauth.refresh_token_reuse", got)
	}
	g, err := e.store.Grant(t.Context(), p.GrantID)
	if err != nil || g.RevokedAt.IsZero() {
		t.Errorf("grant after reuse = %+v, %v; want revoked", g, err)
	}
	for name, tok := range map[string]string{"first access token": tr.AccessToken, "rotated access token": r1.AccessToken} {
		if _, err := e.verify(tok); !errors.Is(err, mcpgate.ErrUnauthenticated) {
			t.Errorf("%s after reuse: Verify = %v", name, err)
		}
	}
	if r := e.refresh(c, r1.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("current refresh token after reuse: error %q, want invalid_grant", r.Error)
	}
	// A new login of the same user works again.
	if tr := e.exchange(c, e.code(authorizeParams(c)), nil); tr.AccessToken == "" {
		t.Errorf("new login after reuse: %s", tr.Error)
	}
}

func TestRefreshRules(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	other := e.addPublicClient("http://127.0.0.1/cb")
	fresh := func() string { return e.exchange(c, e.code(authorizeParams(c)), nil).RefreshToken }

	if r := e.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh()}, "client_id": {c.ID}, "resource": {"https://x.example/mcp"}}, "", ""); r.Error != "invalid_target" {
		t.Errorf("other resource: %q, want invalid_target", r.Error)
	}
	if r := e.refresh(other, fresh()); r.Error != "invalid_grant" {
		t.Errorf("other client: %q, want invalid_grant", r.Error)
	}
	wide := fresh()
	if r := e.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {wide}, "client_id": {c.ID}, "scope": {"docs:read"}}, "", ""); r.Error != "invalid_scope" {
		t.Errorf("wider scope: %q, want invalid_scope", r.Error)
	}
	// The refusal did not spend the token: the client's corrected retry
	// works, and is not taken for a reuse that revokes the grant.
	if r := e.refresh(c, wide); r.AccessToken == "" {
		t.Errorf("refresh after a wider-scope refusal: %q, want new tokens", r.Error)
	}
	narrow := e.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh()}, "client_id": {c.ID}, "scope": {"notes:read"}}, "", "")
	if p, err := e.verify(narrow.AccessToken); err != nil || !slices.Equal(p.Scopes, []string{"notes:read"}) {
		t.Errorf("narrowed refresh: %v %v", p, err)
	}
	// The rotated refresh token keeps the full scopes.
	full := e.refresh(c, narrow.RefreshToken)
	if p, err := e.verify(full.AccessToken); err != nil || len(p.Scopes) != 2 {
		t.Errorf("refresh after narrowing: %v %v", p, err)
	}
	rt := fresh()
	e.clock.Add(31 * 24 * time.Hour)
	if r := e.refresh(c, rt); r.Error != "invalid_grant" {
		t.Errorf("expired refresh token: %q, want invalid_grant", r.Error)
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	m, secret, err := e.srv.AddClient(ctx, NewClient{Name: "robot", Confidential: true, GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"docs:read"}, Subject: "svc-robot", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	tr := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, m.ID, secret)
	if tr.AccessToken == "" || tr.RefreshToken != "" {
		t.Fatalf("client_credentials: %+v", tr)
	}
	p, err := e.verify(tr.AccessToken)
	if err != nil || p.Subject != "svc-robot" || p.Tenant != "acme" || !slices.Equal(p.Scopes, []string{"docs:read"}) {
		t.Errorf("principal %+v, %v", p, err)
	}
	post := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {m.ID}, "client_secret": {secret}, "scope": {"docs:read"}}, "", "")
	if post.AccessToken == "" {
		t.Errorf("client_secret_post: %s", post.Error)
	}
	for name, tc := range map[string]struct {
		form       url.Values
		user, pass string
		want       string
	}{
		"wrong secret":    {url.Values{"grant_type": {"client_credentials"}}, m.ID, secret + "x", "invalid_client"},
		"no secret":       {url.Values{"grant_type": {"client_credentials"}, "client_id": {m.ID}}, "", "", "invalid_client"},
		"scope not given": {url.Values{"grant_type": {"client_credentials"}, "scope": {"notes:write"}}, m.ID, secret, "invalid_scope"},
		"other resource":  {url.Values{"grant_type": {"client_credentials"}, "resource": {"https://x/mcp"}}, m.ID, secret, "invalid_target"},
	} {
		if r := e.post(PathToken, tc.form, tc.user, tc.pass); r.Error != tc.want {
			t.Errorf("%s: error %q, want %q", name, r.Error, tc.want)
		}
	}
	pub := e.addPublicClient("https://app.example.com/cb")
	if r := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {pub.ID}}, "", ""); r.Error == "" {
		t.Error("public client got a client_credentials token")
	}
	// Revoking the client stops its tokens at once.
	if err := e.srv.RevokeClient(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(tr.AccessToken); err == nil {
		t.Error("token of a revoked client still verifies")
	}
	if r := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, m.ID, secret); r.status != http.StatusUnauthorized {
		t.Errorf("revoked client: status %d, want 401", r.status)
	}
}

func TestRevocationEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	tr := e.exchange(c, e.code(authorizeParams(c)), nil)
	if r := e.post(PathRevoke, url.Values{"token": {tr.AccessToken}, "client_id": {c.ID}}, "", ""); r.status != 200 {
		t.Fatalf("revoke access token: %d %s", r.status, r.Error)
	}
	if _, err := e.verify(tr.AccessToken); err == nil {
		t.Error("revoked access token verifies")
	}
	tr2 := e.refresh(c, tr.RefreshToken) // the family is still alive
	if tr2.AccessToken == "" {
		t.Fatalf("refresh after access-token revocation: %s", tr2.Error)
	}
	if r := e.post(PathRevoke, url.Values{"token": {tr2.RefreshToken}, "client_id": {c.ID}, "token_type_hint": {"refresh_token"}}, "", ""); r.status != 200 {
		t.Fatalf("revoke refresh token: %d", r.status)
	}
	if r := e.refresh(c, tr2.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("refresh with revoked token: %q", r.Error)
	}
	if _, err := e.verify(tr2.AccessToken); err == nil {
		t.Error("access token of a revoked family verifies")
	}
	if r := e.post(PathRevoke, url.Values{"token": {"garbage"}, "client_id": {c.ID}}, "", ""); r.status != 200 {
		t.Errorf("unknown token: %d, want 200", r.status)
	}
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	rs, secret, err := e.srv.AddClient(t.Context(), NewClient{Name: "rs", Confidential: true, Introspection: true})
	if err != nil {
		t.Fatal(err)
	}
	tr := e.exchange(c, e.code(authorizeParams(c)), nil)
	introspect := func(tok, user, pass string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", e.http.URL+PathIntrospect, stringsReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		decodeJSON(resp.Body, &m)
		return resp.StatusCode, m
	}
	if st, m := introspect(tr.AccessToken, rs.ID, secret); st != 200 || m["active"] != true || m["sub"] != "alice" {
		t.Errorf("introspect access token: %d %v", st, m)
	}
	if st, _ := introspect(tr.AccessToken, "", ""); st == 200 {
		t.Error("introspection without client authentication answered 200")
	}
	if st, _ := introspect(tr.AccessToken, rs.ID, "wrong"); st != http.StatusUnauthorized {
		t.Errorf("introspection with a wrong secret: %d", st)
	}
	if _, m := introspect("garbage", rs.ID, secret); m["active"] != false {
		t.Errorf("introspect garbage: %v", m)
	}
	if _, m := introspect(tr.RefreshToken, rs.ID, secret); m["active"] != false {
		t.Errorf("refresh token of another client is active: %v", m)
	}
}

// TestConfidentialCodeFlow: a confidential client must authenticate at the
// token endpoint, with either method, on every grant.
func TestConfidentialCodeFlow(t *testing.T) {
	e := newEnv(t, nil)
	c, secret, err := e.srv.AddClient(t.Context(), NewClient{Name: "web", RedirectURIs: []string{"https://app.example.com/cb"}, Confidential: true})
	if err != nil {
		t.Fatal(err)
	}
	form := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {testVerifier}}
	}
	// No secret, wrong secret: refused, and the code is not burnt by a
	// request that failed client authentication.
	code := e.code(authorizeParams(c))
	f := form(code)
	f.Set("client_id", c.ID)
	if r := e.post(PathToken, f, "", ""); r.Error != "invalid_client" || r.status != http.StatusUnauthorized {
		t.Errorf("no secret: %d %q", r.status, r.Error)
	}
	if r := e.post(PathToken, form(code), c.ID, secret+"x"); r.Error != "invalid_client" || r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("wrong secret: %d %q, WWW-Authenticate %q", r.status, r.Error, r.header.Get("WWW-Authenticate"))
	}
	basic := e.post(PathToken, form(code), c.ID, secret)
	if basic.AccessToken == "" {
		t.Fatalf("client_secret_basic: %s %s", basic.Error, basic.Description)
	}
	f = form(e.code(authorizeParams(c)))
	f.Set("client_id", c.ID)
	f.Set("client_secret", secret)
	if post := e.post(PathToken, f, "", ""); post.AccessToken == "" {
		t.Errorf("client_secret_post: %s", post.Error)
	}
	if r := e.refresh(c, basic.RefreshToken); r.Error != "invalid_client" {
		t.Errorf("refresh without the secret: %q", r.Error)
	}
	if r := e.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {basic.RefreshToken}}, c.ID, secret); r.AccessToken == "" {
		t.Errorf("refresh with the secret: %s", r.Error)
	}
}

// TestCodeBurntOnlyByOwner: a code presented by another client, without the
// PKCE verifier, or with another redirect URI is refused without being
// used up, and the tokens of its owner are not revoked: only a redemption
// that passes every check uses the code.
func TestCodeBurntOnlyByOwner(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1:5000/callback")
	thief := e.addPublicClient("http://127.0.0.1:5000/callback")
	code := e.code(authorizeParams(c))
	for name, edit := range map[string]func(url.Values){
		"another client":     func(v url.Values) { v.Set("client_id", thief.ID) },
		"no verifier":        func(v url.Values) { v.Del("code_verifier") },
		"wrong verifier":     func(v url.Values) { v.Set("code_verifier", testVerifier+"x") },
		"other redirect_uri": func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:5000/other") },
		"other resource":     func(v url.Values) { v.Set("resource", "https://other.example.com/mcp") },
	} {
		if tr := e.exchange(c, code, edit); tr.AccessToken != "" || tr.Error == "" {
			t.Errorf("%s: got a token", name)
		}
	}
	tr := e.exchange(c, code, nil)
	if tr.AccessToken == "" {
		t.Fatalf("owner after refused attempts: %s (%s), want tokens", tr.Error, tr.Description)
	}
	// Once used, a thief presenting the code again does not revoke the
	// owner's tokens; the owner presenting it again does (reuse).
	e.exchange(c, code, func(v url.Values) { v.Set("client_id", thief.ID) })
	e.exchange(c, code, func(v url.Values) { v.Set("code_verifier", testVerifier+"x") })
	if _, err := e.verify(tr.AccessToken); err != nil {
		t.Errorf("owner's token after a thief replayed the code: %v", err)
	}
	if got := e.alerts.list(); slices.Contains(got, "oauth.code_reuse") {
		t.Errorf("alerts = %v: a replay without the verifier counted as reuse", got)
	}
	if r := e.exchange(c, code, nil); r.Error != "invalid_grant" {
		t.Errorf("owner reusing the code: %q, want invalid_grant", r.Error)
	}
	if _, err := e.verify(tr.AccessToken); err == nil {
		t.Error("owner reused the code and its token still verifies")
	}
}
