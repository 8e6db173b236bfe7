package oauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// TestRegisterDropsClientCredentials: open registration never creates a
// machine client; client_credentials is dropped from what was asked for.
func TestRegisterDropsClientCredentials(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RegistrationsPerMinute = 100 })
	st, m := e.register(`{"redirect_uris":["http://127.0.0.1:33418/cb"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["authorization_code","client_credentials"]}`, "")
	if st != http.StatusCreated || m["client_secret"] == nil {
		t.Fatalf("registration: %d %v", st, m)
	}
	if got, want := mustJSON(m["grant_types"]), `["authorization_code"]`; got != want {
		t.Errorf("registered grant_types = %s, want %s", got, want)
	}
	c, err := e.store.Client(t.Context(), m["client_id"].(string))
	if err != nil || slices.Contains(c.GrantTypes, GrantClientCredentials) {
		t.Fatalf("stored client %+v, %v", c, err)
	}
	tr := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, m["client_secret"].(string))
	if tr.AccessToken != "" || tr.Error == "" {
		t.Errorf("registered client got a client_credentials token: %+v", tr)
	}

	// Asking for client_credentials alone leaves nothing to register.
	st, m = e.register(`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["client_credentials"]}`, "")
	if st != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
		t.Errorf("client_credentials only: %d %v, want 400 invalid_client_metadata", st, m)
	}

	for _, src := range []string{SourceDCR, SourceCIMD} {
		if _, _, err := e.srv.AddClient(t.Context(), NewClient{Confidential: true, GrantTypes: []string{GrantClientCredentials}, Source: src}); err == nil {
			t.Errorf("AddClient(client_credentials, Source %s) succeeded", src)
		}
	}
}

// TestClientCredentialsOnlyCLI: a client not added with the CLI is refused
// the client_credentials grant even if its stored record has it.
func TestClientCredentialsOnlyCLI(t *testing.T) {
	e := newEnv(t, nil)
	for _, src := range []string{SourceDCR, SourceCIMD, ""} {
		secret := "mcps_secret-" + src
		c := &mcpgate.Client{
			ID:         "mcpc_forged_" + src,
			SecretHash: hashToken(secret),
			GrantTypes: []string{GrantClientCredentials},
			Source:     src,
			CreatedAt:  e.clock.Now(),
		}
		if err := e.store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		tr := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
		if tr.AccessToken != "" || tr.Error != "unauthorized_client" {
			t.Errorf("Source %q: %d %+v, want unauthorized_client", src, tr.status, tr)
		}
	}
	m, secret, err := e.srv.AddClient(t.Context(), NewClient{Confidential: true, GrantTypes: []string{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	if tr := e.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, m.ID, secret); tr.AccessToken == "" {
		t.Errorf("CLI client refused: %+v", tr)
	}
}

// keyEnv is a server whose users sign in with API keys kept in the store.
func keyEnv(t *testing.T) (*env, mcpgate.KeyStore) {
	t.Helper()
	e := newEnv(t, nil)
	ks, ok := e.store.(mcpgate.KeyStore)
	if !ok {
		t.Fatal("store is not a KeyStore")
	}
	return e, ks
}

// keyCode approves a request as a user who signed in with API key keyID
// and returns the tokens.
func (e *env) keyTokens(c *mcpgate.Client, keyID string) *tokenResponse {
	e.t.Helper()
	id := e.login(authorizeParams(c))
	user := &mcpgate.Principal{Subject: "alice", Tenant: "acme", Scopes: testScopes, Method: mcpgate.MethodAPIKey, KeyID: keyID}
	to, err := e.srv.Approve(context.Background(), id, user, []string{"notes:read"})
	if err != nil {
		e.t.Fatalf("Approve: %v", err)
	}
	u, _ := url.Parse(to)
	tr := e.exchange(c, u.Query().Get("code"), nil)
	if tr.AccessToken == "" || tr.RefreshToken == "" {
		e.t.Fatalf("exchange: %+v", tr)
	}
	return tr
}

// TestKeyGrantDiesWithKey: tokens of a grant approved by a user who signed
// in with an API key carry the key, and refreshing stops once the key is
// revoked, expired or past its rotation grace.
func TestKeyGrantDiesWithKey(t *testing.T) {
	for _, end := range []string{"revoked", "expired", "rotated"} {
		t.Run(end, func(t *testing.T) {
			e, ks := keyEnv(t)
			ctx := t.Context()
			k := &mcpgate.APIKey{ID: "k_" + end, Hash: hashToken("h-" + end), Subject: "alice", Tenant: "acme", Scopes: testScopes, CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)}
			if err := ks.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			c := e.addPublicClient("http://127.0.0.1/cb")
			tr := e.keyTokens(c, k.ID)
			p, err := e.verify(tr.AccessToken)
			if err != nil || p.KeyID != k.ID || p.Method != mcpgate.MethodOAuth {
				t.Fatalf("principal %+v, %v; want KeyID %s", p, err, k.ID)
			}
			// While the key is valid, refresh works and keeps the key.
			tr = e.refresh(c, tr.RefreshToken)
			if tr.AccessToken == "" {
				t.Fatalf("refresh with a valid key: %+v", tr)
			}
			if p, err := e.verify(tr.AccessToken); err != nil || p.KeyID != k.ID {
				t.Fatalf("refreshed principal %+v, %v", p, err)
			}
			switch end {
			case "revoked":
				if err := ks.RevokeKey(ctx, k.ID, e.clock.Now()); err != nil {
					t.Fatal(err)
				}
			case "expired":
				e.clock.Add(time.Hour)
			case "rotated":
				next := &mcpgate.APIKey{ID: "k_next", Hash: hashToken("h-next"), Subject: "alice", Tenant: "acme", Scopes: testScopes, CreatedAt: e.clock.Now()}
				if err := ks.RotateKey(ctx, k.ID, next, e.clock.Now().Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
				e.clock.Add(2 * time.Minute)
			}
			r := e.refresh(c, tr.RefreshToken)
			if r.AccessToken != "" || r.Error != "invalid_grant" {
				t.Fatalf("refresh after the key is %s: %+v, want invalid_grant", end, r)
			}
			gs, _ := e.store.ListGrants(ctx, "alice")
			if len(gs) != 0 {
				t.Errorf("grant still active after the key is %s: %+v", end, gs)
			}
			if _, err := e.verify(tr.AccessToken); err == nil {
				t.Errorf("access token of the revoked grant still verifies")
			}
		})
	}
}

// TestKeyGrantSeparate: approving with an API key never extends a grant
// made with a password (or another key), so no token outlives its key.
func TestKeyGrantSeparate(t *testing.T) {
	e, ks := keyEnv(t)
	ctx := t.Context()
	k := &mcpgate.APIKey{ID: "k1", Hash: hashToken("h1"), Subject: "alice", Tenant: "acme", Scopes: testScopes, CreatedAt: e.clock.Now()}
	if err := ks.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	c := e.addPublicClient("http://127.0.0.1/cb")
	pw := e.exchange(c, e.code(authorizeParams(c)), nil)
	kt := e.keyTokens(c, k.ID)
	pp, err1 := e.verify(pw.AccessToken)
	kp, err2 := e.verify(kt.AccessToken)
	if err1 != nil || err2 != nil || pp.GrantID == kp.GrantID || pp.KeyID != "" || kp.KeyID != "k1" {
		t.Fatalf("password principal %+v (%v), key principal %+v (%v)", pp, err1, kp, err2)
	}
	if err := ks.RevokeKey(ctx, k.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if r := e.refresh(c, kt.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("key grant refresh after revocation: %+v", r)
	}
	if r := e.refresh(c, pw.RefreshToken); r.AccessToken == "" {
		t.Errorf("password grant refresh after the key's revocation: %+v", r)
	}
	// A code approved under a key that is revoked before the exchange
	// yields nothing.
	k2 := &mcpgate.APIKey{ID: "k2", Hash: hashToken("h2"), Subject: "alice", Tenant: "acme", Scopes: testScopes, CreatedAt: e.clock.Now()}
	if err := ks.CreateKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	id := e.login(authorizeParams(c))
	to, err := e.srv.Approve(ctx, id, &mcpgate.Principal{Subject: "alice", Tenant: "acme", Scopes: testScopes, Method: mcpgate.MethodAPIKey, KeyID: k2.ID}, []string{"notes:read"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.RevokeKey(ctx, k2.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	if r := e.exchange(c, u.Query().Get("code"), nil); r.AccessToken != "" || r.Error != "invalid_grant" {
		t.Errorf("code exchange after the key is revoked: %+v, want invalid_grant", r)
	}
	if gs, _ := e.store.ListGrants(ctx, "alice"); len(gs) != 1 || gs[0].ID != pp.GrantID || !strings.HasPrefix(gs[0].ClientID, "mcpc_") {
		t.Errorf("active grants %+v, want only the password one", gs)
	}
}

// TestKeyGrantIntrospection: introspection reports an access token of a
// key-approved grant inactive once the key is revoked.
func TestKeyGrantIntrospection(t *testing.T) {
	e, ks := keyEnv(t)
	ctx := t.Context()
	k := &mcpgate.APIKey{ID: "k1", Hash: hashToken("h1"), Subject: "alice", Tenant: "acme", Scopes: testScopes, CreatedAt: e.clock.Now()}
	if err := ks.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	rs, secret, err := e.srv.AddClient(ctx, NewClient{Name: "rs", Confidential: true, Introspection: true})
	if err != nil {
		t.Fatal(err)
	}
	c := e.addPublicClient("http://127.0.0.1/cb")
	tr := e.keyTokens(c, k.ID)
	active := func() any {
		req, _ := http.NewRequest(http.MethodPost, e.http.URL+PathIntrospect, strings.NewReader(url.Values{"token": {tr.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rs.ID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		decodeJSON(resp.Body, &m)
		return m["active"]
	}
	if got := active(); got != true {
		t.Fatalf("active while the key is valid = %v", got)
	}
	if err := ks.RevokeKey(ctx, k.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := active(); got != false {
		t.Errorf("active after the key is revoked = %v, want false", got)
	}
}
