package oauth

import (
	"net/http"
	"net/url"
	"testing"
)

// TestIntrospectionClientAuth: introspection without client authentication
// or by a public client is refused with 401 invalid_client and a challenge
// (RFC 7662 §2.3, RFC 6749 §5.2), never answered.
func TestIntrospectionClientAuth(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	tr := e.exchange(c, e.code(authorizeParams(c)), nil)
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
	}{
		{"no client", url.Values{"token": {tr.AccessToken}}, "", ""},
		{"public client in the form", url.Values{"token": {tr.AccessToken}, "client_id": {c.ID}}, "", ""},
		{"public client in basic auth", url.Values{"token": {tr.AccessToken}}, c.ID, ""},
		{"unknown client", url.Values{"token": {tr.AccessToken}}, "mcpc_nope", "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(PathIntrospect, tc.form, tc.user, tc.pass)
			if r.status != http.StatusUnauthorized || r.Error != "invalid_client" {
				t.Errorf("status %d, error %q; want 401 invalid_client", r.status, r.Error)
			}
			if got := r.header.Get("WWW-Authenticate"); got == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestIntrospectionOtherClientsTokens: a client learns nothing about tokens
// issued to other clients unless it is registered for introspection.
func TestIntrospectionOtherClientsTokens(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	c := e.addPublicClient("http://127.0.0.1/cb")
	users := e.exchange(c, e.code(authorizeParams(c)), nil)
	other, otherSecret, err := e.srv.AddClient(ctx, NewClient{Name: "other", Confidential: true, GrantTypes: []string{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	own := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, other.ID, otherSecret)
	if own.AccessToken == "" {
		t.Fatalf("client_credentials: %s", own.Error)
	}
	introspect := func(token, user, pass string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.http.URL+PathIntrospect, stringsReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("introspect: status %d", resp.StatusCode)
		}
		var m map[string]any
		decodeJSON(resp.Body, &m)
		return m
	}
	if m := introspect(users.AccessToken, other.ID, otherSecret); m["active"] != false || len(m) != 1 {
		t.Errorf("another client's access token = %v, want only active:false", m)
	}
	if m := introspect(own.AccessToken, other.ID, otherSecret); m["active"] != true || m["client_id"] != other.ID {
		t.Errorf("own access token = %v, want active", m)
	}

	// A resource server registered for introspection learns about every
	// access token, but never about refresh tokens, which it never holds.
	rs, rsSecret, err := e.srv.AddClient(ctx, NewClient{Name: "rs", Confidential: true, Introspection: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.GrantTypes) != 0 {
		t.Errorf("introspection-only client has grant types %v, want none", rs.GrantTypes)
	}
	if m := introspect(users.AccessToken, rs.ID, rsSecret); m["active"] != true || m["sub"] != "alice" || m["client_id"] != c.ID {
		t.Errorf("resource server introspecting a user's token = %v, want active", m)
	}
	if m := introspect(users.RefreshToken, rs.ID, rsSecret); m["active"] != false {
		t.Errorf("resource server introspecting a refresh token = %v, want inactive", m)
	}
	for name, nc := range map[string]NewClient{
		"public":     {Name: "x", RedirectURIs: []string{"https://x.example/cb"}, Introspection: true},
		"registered": {Name: "x", Confidential: true, Source: SourceDCR, RedirectURIs: []string{"https://x.example/cb"}, Introspection: true},
	} {
		if _, _, err := e.srv.AddClient(ctx, nc); err == nil {
			t.Errorf("%s client registered for introspection", name)
		}
	}
}

// TestRevocationWithoutClient: /revoke answers 401 invalid_client with a
// challenge when the request names no client at all; a public client still
// revokes its own tokens (RFC 7009 §2.1).
func TestRevocationWithoutClient(t *testing.T) {
	e := newEnv(t, nil)
	c := e.addPublicClient("http://127.0.0.1/cb")
	tr := e.exchange(c, e.code(authorizeParams(c)), nil)
	r := e.post(PathRevoke, url.Values{"token": {tr.RefreshToken}}, "", "")
	if r.status != http.StatusUnauthorized || r.Error != "invalid_client" || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("no client: status %d, error %q, WWW-Authenticate %q; want 401 invalid_client with a challenge", r.status, r.Error, r.header.Get("WWW-Authenticate"))
	}
	if r := e.post(PathRevoke, url.Values{"token": {tr.RefreshToken}, "client_id": {c.ID}}, "", ""); r.status != http.StatusOK {
		t.Errorf("public client revoking its own token: status %d %s", r.status, r.Error)
	}
	if r := e.refresh(c, tr.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("refresh after revocation: %q, want invalid_grant", r.Error)
	}
}
