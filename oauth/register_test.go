package oauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/inmem"
)

func (e *env) register(body string, token string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+PathRegister, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestRegister(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RegistrationsPerMinute = 100 })
	st, m := e.register(`{"client_name":"Claude","redirect_uris":["http://127.0.0.1:33418/callback"]}`, "")
	if st != http.StatusCreated || m["client_id"] == nil || m["client_secret"] != nil || m["token_endpoint_auth_method"] != "none" {
		t.Fatalf("public registration: %d %v", st, m)
	}
	c, err := e.store.Client(t.Context(), m["client_id"].(string))
	if err != nil || c.Source != SourceDCR || c.SecretHash != nil || c.Name != "Claude" {
		t.Errorf("stored client %+v, %v", c, err)
	}
	e.login(authorizeParams(c)) // the new client can start a flow

	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		st, m = e.register(`{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"`+method+`"}`, "")
		if st != http.StatusCreated || m["client_secret"] == nil || m["token_endpoint_auth_method"] != method || m["client_secret_expires_at"] != float64(0) {
			t.Errorf("confidential registration (%s): %d %v", method, st, m)
		}
	}

	// Unsupported grant types, response types and scopes are dropped, and
	// the response says what was registered (RFC 7591 §3.2.1).
	st, m = e.register(`{"redirect_uris":["http://127.0.0.1:33418/"],"grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],"response_types":["code","token"],"scope":"notes:read admin"}`, "")
	if st != http.StatusCreated || mustJSON(m["grant_types"]) != `["authorization_code","refresh_token"]` || m["scope"] != "notes:read" || mustJSON(m["response_types"]) != `["code"]` {
		t.Errorf("lenient registration: %d %v", st, m)
	}

	// Cursor registers a private-use scheme (RFC 8252 §7.1), allowed by
	// default and matched exactly.
	cursor := "cursor://anysphere.cursor-retrieval/oauth/user-mcpgate/callback"
	st, m = e.register(`{"client_name":"Cursor","redirect_uris":["`+cursor+`"]}`, "")
	if st != http.StatusCreated {
		t.Fatalf("Cursor registration: %d %v", st, m)
	}
	cc, _ := e.store.Client(t.Context(), m["client_id"].(string))
	e.login(authorizeParams(cc))
	v := authorizeParams(cc)
	v.Set("redirect_uri", cursor+"x")
	if resp := e.authorize(v); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("private-use redirect differing by a character: %d, want 400", resp.StatusCode)
	}

	for name, tc := range map[string]struct{ body, want string }{
		"http non-loopback":  {`{"redirect_uris":["http://app.example.com/cb"]}`, "invalid_redirect_uri"},
		"custom scheme":      {`{"redirect_uris":["myapp://cb"]}`, "invalid_redirect_uri"},
		"file scheme":        {`{"redirect_uris":["file:///etc/passwd"]}`, "invalid_redirect_uri"},
		"data scheme":        {`{"redirect_uris":["data:text/html,x"]}`, "invalid_redirect_uri"},
		"fragment":           {`{"redirect_uris":["https://app.example.com/cb#x"]}`, "invalid_redirect_uri"},
		"relative":           {`{"redirect_uris":["/cb"]}`, "invalid_redirect_uri"},
		"no redirect":        {`{"redirect_uris":[]}`, "invalid_redirect_uri"},
		"javascript":         {`{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri"},
		"private_key_jwt":    {`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata"},
		"implicit":           {`{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, "invalid_client_metadata"},
		"password grant":     {`{"redirect_uris":["https://a.example/cb"],"grant_types":["password"]}`, "invalid_client_metadata"},
		"public machine":     {`{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"]}`, "invalid_client_metadata"},
		"unknown scope":      {`{"redirect_uris":["https://a.example/cb"],"scope":"admin"}`, "invalid_client_metadata"},
		"unknown grant only": {`{"redirect_uris":["https://a.example/cb"],"grant_types":["urn:ietf:params:oauth:grant-type:device_code"]}`, "invalid_client_metadata"},
		"not JSON":           {`redirect_uris=x`, "invalid_client_metadata"},
		"redirect_uris type": {`{"redirect_uris":"https://a.example/cb"}`, "invalid_client_metadata"},
	} {
		t.Run(name, func(t *testing.T) {
			st, m := e.register(tc.body, "")
			if st != http.StatusBadRequest || m["error"] != tc.want {
				t.Errorf("%d %v, want 400 %s", st, m, tc.want)
			}
		})
	}
}

func TestRegisterInitialAccessToken(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RegistrationToken = "s3cret-initial-token" })
	body := `{"redirect_uris":["https://app.example.com/cb"]}`
	for _, tok := range []string{"", "wrong", "s3cret-initial-toke", "s3cret-initial-tokenX"} {
		if st, _ := e.register(body, tok); st != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", tok, st)
		}
	}
	if st, m := e.register(body, "s3cret-initial-token"); st != http.StatusCreated {
		t.Errorf("right token: %d %v", st, m)
	}
}

// TestRegisterFlood: registrations past the per-IP budget get 429.
func TestRegisterFlood(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RegistrationsPerMinute = 5 })
	body := `{"redirect_uris":["https://app.example.com/cb"]}`
	var created, limited int
	for range 50 {
		switch st, _ := e.register(body, ""); st {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("status %d", st)
		}
	}
	if created != 5 || limited != 45 {
		t.Errorf("created %d, limited %d; want 5 and 45", created, limited)
	}
	clients, _ := e.srv.ListClients(t.Context())
	if len(clients) != 5 {
		t.Errorf("%d clients stored, want 5", len(clients))
	}
}

func TestRegisterDisabled(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DisableRegistration = true })
	if st, _ := e.register(`{"redirect_uris":["https://app.example.com/cb"]}`, ""); st != http.StatusNotFound {
		t.Errorf("status %d, want 404", st)
	}
	if e.srv.Metadata().RegistrationEndpoint != "" {
		t.Error("metadata advertises a disabled registration endpoint")
	}
}

func TestPrivateUseSchemes(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.PrivateUseSchemes = []string{} })
	if st, _ := e.register(`{"redirect_uris":["cursor://anysphere.cursor-retrieval/cb"]}`, ""); st != http.StatusBadRequest {
		t.Errorf("private-use scheme with none allowed: %d, want 400", st)
	}
	for _, bad := range []string{"javascript", "HTTP", "data", "file"} {
		if _, err := New(e.store, &Options{Resource: e.srv.Resource(), PrivateUseSchemes: []string{bad}}); err == nil {
			t.Errorf("PrivateUseSchemes %q accepted", bad)
		}
	}
}

// TestRegisterLimitShared: registrations count on the Limiter the server
// is given, so two replicas sharing one (Redis, in production) enforce one
// budget per address.
func TestRegisterLimitShared(t *testing.T) {
	shared := inmem.New(nil)
	a := newEnv(t, func(o *Options) { o.RegistrationsPerMinute = 4; o.Limiter = shared })
	b := newEnv(t, func(o *Options) { o.RegistrationsPerMinute = 4; o.Limiter = shared })
	body := `{"redirect_uris":["https://app.example.com/cb"]}`
	created := 0
	for i := range 10 {
		e := a
		if i%2 == 1 {
			e = b
		}
		if st, _ := e.register(body, ""); st == http.StatusCreated {
			created++
		}
	}
	if created != 4 {
		t.Errorf("two servers on one limiter created %d clients, want 4", created)
	}
}
