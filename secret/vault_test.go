package secret_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/secret"
)

// fakeVault serves the parts of Vault's HTTP API that references use: KV
// version 2 reads, token lookup and AppRole login, with the checks Vault
// makes (a token that it issued, the namespace header).
type fakeVault struct {
	t         *testing.T
	mu        sync.Mutex
	tokens    map[string]bool
	secrets   map[string]map[string]any // "<mount>/data/<name>" → data
	namespace string
	roleID    string
	secretID  string
	leaseSecs int // AppRole token lease
	reads     int
	logins    int
}

func newFakeVault(t *testing.T) (*fakeVault, *httptest.Server) {
	fv := &fakeVault{t: t, tokens: map[string]bool{}, secrets: map[string]map[string]any{}}
	srv := httptest.NewServer(fv)
	t.Cleanup(srv.Close)
	return fv, srv
}

func (fv *fakeVault) set(path string, data map[string]any) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	fv.secrets[path] = data
}

func (fv *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("X-Vault-Namespace") != fv.namespace {
		reply(http.StatusForbidden, map[string]any{"errors": []string{"wrong namespace"}})
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	if path == "auth/approle/login" && r.Method == http.MethodPost {
		var body struct{ RoleID, SecretID string }
		var raw map[string]string
		json.NewDecoder(r.Body).Decode(&raw)
		body.RoleID, body.SecretID = raw["role_id"], raw["secret_id"]
		if fv.roleID == "" || body.RoleID != fv.roleID || body.SecretID != fv.secretID {
			reply(http.StatusBadRequest, map[string]any{"errors": []string{"invalid role or secret ID"}})
			return
		}
		fv.logins++
		tok := "hvs.approle-" + string(rune('a'+fv.logins))
		fv.tokens[tok] = true
		reply(http.StatusOK, map[string]any{"auth": map[string]any{"client_token": tok, "lease_duration": fv.leaseSecs}})
		return
	}
	if !fv.tokens[r.Header.Get("X-Vault-Token")] {
		reply(http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	if path == "auth/token/lookup-self" && r.Method == http.MethodGet {
		reply(http.StatusOK, map[string]any{"data": map[string]any{"ttl": 0, "policies": []string{"mcpgate"}}})
		return
	}
	data, ok := fv.secrets[path]
	if !ok || r.Method != http.MethodGet {
		reply(http.StatusNotFound, map[string]any{"errors": []string{}})
		return
	}
	fv.reads++
	reply(http.StatusOK, map[string]any{
		"lease_duration": 0,
		"data":           map[string]any{"data": data, "metadata": map[string]any{"version": 1}},
	})
}

func TestVaultReference(t *testing.T) {
	fv, srv := newFakeVault(t)
	fv.tokens["hvs.test-token"] = true // gitleaks:allow
	fv.namespace = "team-a"
	fv.set("secret/data/mcpgate", map[string]any{"alert_secret": "from-vault", "empty": "", "port": 5432, "big": json.Number("12345678901234567890")})
	fv.set("kv/apps/data/db", map[string]any{"url": "postgres://app:pw@db/app"})
	env := map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN": "hvs.test-token", "VAULT_NAMESPACE": "team-a"}
	opts := &secret.Options{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}

	tests := []struct {
		ref, want, wantErr string
	}{
		{"vault:secret/mcpgate#alert_secret", "from-vault", ""},
		{"vault:secret/data/mcpgate#alert_secret", "from-vault", ""},
		{"vault:kv/apps/data/db#url", "postgres://app:pw@db/app", ""},
		{"vault:secret/mcpgate#port", "5432", ""},
		{"vault:secret/mcpgate#big", "12345678901234567890", ""},
		{"vault:secret/mcpgate#missing", "", `has no field "missing"`},
		{"vault:secret/mcpgate#empty", "", "secret is empty"},
		{"vault:secret/other#x", "", "404"},
	}
	for _, tt := range tests {
		r, err := secret.LoadWith(tt.ref, opts)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load(%q) error = %v, want one containing %q", tt.ref, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Load(%q): %v", tt.ref, err)
			continue
		}
		if got, _ := r.Get(); got != tt.want {
			t.Errorf("Load(%q) = %q, want %q", tt.ref, got, tt.want)
		}
		if r.String() != tt.ref {
			t.Errorf("String() = %q, want the reference %q", r.String(), tt.ref)
		}
	}

	// A token Vault does not know is reported by the lookup, before the
	// secret is read.
	env["VAULT_TOKEN"] = "hvs.wrong" // gitleaks:allow
	if _, err := secret.LoadWith("vault:secret/mcpgate#alert_secret", opts); err == nil || !strings.Contains(err.Error(), "VAULT_TOKEN") || !strings.Contains(err.Error(), "403") {
		t.Errorf("wrong token: %v, want a 403 naming VAULT_TOKEN", err)
	}
	delete(env, "VAULT_TOKEN")
	if _, err := secret.LoadWith("vault:secret/mcpgate#alert_secret", opts); err == nil || !strings.Contains(err.Error(), "VAULT_TOKEN") {
		t.Errorf("no token: %v, want an error asking for VAULT_TOKEN", err)
	}
	delete(env, "VAULT_ADDR")
	if _, err := secret.LoadWith("vault:secret/mcpgate#alert_secret", opts); err == nil || !strings.Contains(err.Error(), "VAULT_ADDR") {
		t.Errorf("no address: %v, want an error asking for VAULT_ADDR", err)
	}
}

// A Vault secret is read again once the refresh interval has passed, so a
// new version is used without a restart; while Vault is unreachable the
// last value is kept and the error reported.
func TestVaultRefresh(t *testing.T) {
	fv, srv := newFakeVault(t)
	fv.roleID, fv.secretID, fv.leaseSecs = "role-1", "secret-1", 3600
	fv.set("secret/data/mcpgate", map[string]any{"token": "v1"})
	env := map[string]string{"VAULT_ADDR": srv.URL, "VAULT_ROLE_ID": "role-1", "VAULT_SECRET_ID": "secret-1"}
	opts := &secret.Options{VaultRefresh: 200 * time.Millisecond, Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	r, err := secret.LoadWith("vault:secret/mcpgate#token", opts)
	if err != nil {
		t.Fatal(err)
	}
	fv.set("secret/data/mcpgate", map[string]any{"token": "v2"})
	if got, _ := r.Get(); got != "v1" {
		t.Fatalf("before the refresh interval Get() = %q, want v1 (no read per call)", got)
	}
	time.Sleep(250 * time.Millisecond)
	if got, err := r.Get(); got != "v2" || err != nil {
		t.Fatalf("after the refresh interval Get() = %q, %v; want v2", got, err)
	}

	// The AppRole token is revoked: the client logs in again.
	fv.mu.Lock()
	clear(fv.tokens)
	fv.mu.Unlock()
	fv.set("secret/data/mcpgate", map[string]any{"token": "v3"})
	time.Sleep(250 * time.Millisecond)
	if got, err := r.Get(); got != "v3" || err != nil {
		t.Fatalf("after the token was revoked Get() = %q, %v; want v3", got, err)
	}
	if fv.logins != 2 {
		t.Errorf("%d AppRole logins, want 2", fv.logins)
	}

	srv.Close()
	time.Sleep(250 * time.Millisecond)
	if got, err := r.Get(); got != "v3" || err == nil {
		t.Fatalf("Vault down: Get() = %q, %v; want v3 and an error", got, err)
	}
	reads := fv.reads
	if got, err := r.Get(); got != "v3" || err != nil {
		t.Errorf("right after a failed read Get() = %q, %v; want v3 without trying again", got, err)
	}
	if fv.reads != reads {
		t.Error("a failed read was retried at once")
	}
}

// A Vault address that redirects is an error: the token and an AppRole
// secret_id are never sent on to the redirect's target.
func TestVaultRedirectNotFollowed(t *testing.T) {
	var leaked sync.Map
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.Header.Get("X-Vault-Token"); tok != "" {
			leaked.Store("token", tok)
		}
		if r.Method == http.MethodPost {
			leaked.Store("login", true)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":{"data":{"x":"stolen"}},"auth":{"client_token":"t"}}`))
	}))
	defer elsewhere.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path+"?token=q", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	for name, env := range map[string]map[string]string{
		"token":   {"VAULT_ADDR": redirector.URL, "VAULT_TOKEN": "hvs.must-not-leak"}, // gitleaks:allow
		"approle": {"VAULT_ADDR": redirector.URL, "VAULT_ROLE_ID": "role", "VAULT_SECRET_ID": "must-not-leak"},
	} {
		opts := &secret.Options{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
		_, err := secret.LoadWith("vault:secret/app#x", opts)
		if err == nil || !strings.Contains(err.Error(), "redirect") || strings.Contains(err.Error(), "token=q") {
			t.Errorf("%s: error %v, want one naming the redirect without its query", name, err)
		}
	}
	leaked.Range(func(k, v any) bool {
		t.Errorf("the redirect's target received the %v: %v", k, v)
		return true
	})
}
