package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcpgate/mcpgate/alert"
	"github.com/mcpgate/mcpgate/secret"
	"github.com/mcpgate/mcpgate/sqlite"
)

// replaceFile replaces the file at path as a Kubernetes secret volume or a
// vault agent does: a new file renamed over the old one.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// A later modification time, as a rotation minutes later would have.
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// register asks /register for a client with token as the initial access
// token ("" for none) and returns the status.
func register(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/register",
		strings.NewReader(`{"client_name":"rotation","redirect_uris":["http://127.0.0.1:47105/cb"],"token_endpoint_auth_method":"none"}`))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// signedAlerts records webhook deliveries with the secret each verifies
// under.
type signedAlerts struct {
	mu      sync.Mutex
	secrets []string // candidates
	got     []string // "<principal> <secret that verifies>" per delivery
}

func (s *signedAlerts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var a struct {
		Principal string `json:"principal"`
	}
	json.Unmarshal(body, &a)
	s.mu.Lock()
	defer s.mu.Unlock()
	verified := "none"
	for _, sec := range s.secrets {
		if alert.Verify([]byte(sec), r.Header.Get(alert.SignatureHeader), body, time.Now(), 5*time.Minute) == nil {
			verified = sec
		}
	}
	s.got = append(s.got, a.Principal+" "+verified)
}

func (s *signedAlerts) deliveries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// TestFileSecretsRotateWithoutRestart changes the files that
// --registration-token and --alert-secret name while the server runs: the
// old registration token is refused and the new one accepted, and the
// next alert is signed with the new secret, without a restart.
func TestFileSecretsRotateWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, filepath.Join(dir, "registration-token"), "first-registration-token\n")
	alertFile := writeFile(t, filepath.Join(dir, "alert-secret"), "first-alert-secret-0123456789\n")
	hook := &signedAlerts{secrets: []string{"first-alert-secret-0123456789", "second-alert-secret-abcdefghij"}}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()

	data := filepath.Join(dir, "data")
	alice, _ := createKey(t, data, "--name", "alice", "--subject", "alice")
	bob, _ := createKey(t, data, "--name", "bob", "--subject", "bob")
	srv := startServer(t, data, "--registration-token", "file:"+tokenFile,
		"--alert-webhook", hookSrv.URL, "--alert-secret", "file:"+alertFile, "--rate-limit", "1/1h")

	if got := register(t, srv.base, ""); got != http.StatusUnauthorized {
		t.Errorf("registration without the token: %d, want 401", got)
	}
	if got := register(t, srv.base, "first-registration-token"); got != http.StatusCreated {
		t.Fatalf("registration with the token: %d, want 201", got)
	}
	// alice goes over her limit: an alert signed with the first secret.
	rpc(t, srv.url, alice, initBody)
	rpc(t, srv.url, alice, initBody)
	eventually(t, 10*time.Second, func() error {
		if d := hook.deliveries(); len(d) != 1 || d[0] != "alice first-alert-secret-0123456789" {
			return fmt.Errorf("deliveries %q, want one about alice signed with the first secret", d)
		}
		return nil
	})

	replaceFile(t, tokenFile, "second-registration-token\n")
	replaceFile(t, alertFile, "second-alert-secret-abcdefghij\n")
	if got := register(t, srv.base, "first-registration-token"); got != http.StatusUnauthorized {
		t.Errorf("registration with the replaced token: %d, want 401", got)
	}
	if got := register(t, srv.base, "second-registration-token"); got != http.StatusCreated {
		t.Errorf("registration with the new token: %d, want 201", got)
	}
	rpc(t, srv.url, bob, initBody)
	rpc(t, srv.url, bob, initBody)
	eventually(t, 10*time.Second, func() error {
		if d := hook.deliveries(); len(d) != 2 || d[1] != "bob second-alert-secret-abcdefghij" {
			return fmt.Errorf("deliveries %q, want a second, about bob, signed with the new secret", d)
		}
		return nil
	})
	for _, s := range []string{"first-registration-token", "second-registration-token", "first-alert-secret", "second-alert-secret"} {
		if strings.Contains(srv.logs.String(), s) {
			t.Errorf("the log holds %s", s)
		}
	}
}

func newEncryptionKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) + "\n"
}

// machineToken gets an access token by client credentials and returns the
// kid of the key that signed it.
func machineToken(t *testing.T, srv *server, id, sec string) string {
	t.Helper()
	token := idpToken(t, srv.base, id, sec, srv.url)
	h, _, _ := strings.Cut(token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(h)
	var hdr struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(raw, &hdr)
	return hdr.Kid
}

var newKidRe = regexp.MustCompile(`New signing key (\S+);`)

// TestEncryptionKeyRotatesWithoutRestart replaces the file --encryption-key
// names while the server runs. The server re-encrypts the stored signing
// keys under the new key at once (the old key alone no longer opens the
// store), keeps opening keys sealed with the old one (by a replica that
// has not seen the change yet) until the overlap ends, and refuses them
// after.
func TestEncryptionKeyRotatesWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	k1, k2 := newEncryptionKey(t), newEncryptionKey(t)
	live := writeFile(t, filepath.Join(dir, "kek"), k1)
	old := "file:" + writeFile(t, filepath.Join(dir, "kek-old"), k1)
	next := "file:" + writeFile(t, filepath.Join(dir, "kek-new"), k2)

	srv := startServer(t, data, "--encryption-key", "file:"+live, "--encryption-key-overlap", "10s")
	res := mcpgateCLI(t, data, "--encryption-key", old, "--public-url", srv.url, "clients", "add", "--name", "m", "--machine", "--scope", "docs:read")
	id := regexp.MustCompile(`Registered client (\S+) `).FindStringSubmatch(res.stdout)
	sec := regexp.MustCompile(`(?m)^\s+(mcps_\S+)$`).FindStringSubmatch(res.stdout)
	if res.code != 0 || id == nil || sec == nil {
		t.Fatalf("clients add: %d %s %s", res.code, res.stdout, res.stderr)
	}
	kid0 := machineToken(t, srv, id[1], sec[1])

	replaceFile(t, live, k2)
	eventually(t, 10*time.Second, func() error {
		if !strings.Contains(srv.logs.String(), "encryption key changed") {
			return fmt.Errorf("no log line about the new key")
		}
		return nil
	})
	if !strings.Contains(srv.logs.String(), "reencrypted=1") {
		t.Errorf("the server did not re-encrypt its signing key:\n%s", srv.logs.String())
	}
	if res := mcpgateCLI(t, data, "--encryption-key", next, "clients", "list"); res.code != 0 {
		t.Errorf("the new key alone does not open the store: %d %s", res.code, res.stderr)
	}
	if res := mcpgateCLI(t, data, "--encryption-key", old, "clients", "list"); res.code != exitUsage || !strings.Contains(res.stderr, "encrypted with another key") {
		t.Errorf("the replaced key still opens the store: %d %s", res.code, res.stderr)
	}
	if kid := machineToken(t, srv, id[1], sec[1]); kid != kid0 {
		t.Errorf("after the rotation tokens are signed by %s, want the same signing key %s", kid, kid0)
	}

	// Within the overlap, a signing key sealed with the old key (by a
	// replica still on it) is opened and used.
	res = mcpgateCLI(t, data, "--encryption-key", old, "--encryption-key-previous", next, "oauth", "rotate-key")
	m := newKidRe.FindStringSubmatch(res.stdout)
	if res.code != 0 || m == nil {
		t.Fatalf("rotate-key with the old key: %d %s %s", res.code, res.stdout, res.stderr)
	}
	eventually(t, 5*time.Second, func() error {
		if kid := machineToken(t, srv, id[1], sec[1]); kid != m[1] {
			return fmt.Errorf("tokens signed by %s, want the key %s sealed with the old key", kid, m[1])
		}
		return nil
	})

	// After it, such a key is refused: the server keeps signing with the
	// key it has and says why.
	eventually(t, 15*time.Second, func() error {
		if !strings.Contains(srv.logs.String(), "the overlap has ended") {
			return fmt.Errorf("the overlap has not ended")
		}
		return nil
	})
	res = mcpgateCLI(t, data, "--encryption-key", old, "--encryption-key-previous", next, "oauth", "rotate-key")
	m2 := newKidRe.FindStringSubmatch(res.stdout)
	if res.code != 0 || m2 == nil {
		t.Fatalf("rotate-key with the old key: %d %s %s", res.code, res.stdout, res.stderr)
	}
	eventually(t, 5*time.Second, func() error {
		if kid := machineToken(t, srv, id[1], sec[1]); kid == m2[1] {
			t.Fatalf("after the overlap the server signs with %s, a key sealed with the replaced encryption key", kid)
		}
		if !strings.Contains(srv.logs.String(), "cannot be decrypted") {
			return fmt.Errorf("no log line refusing the key sealed with the old encryption key")
		}
		return nil
	})
}

// fakeVault serves KV v2 reads and token lookups for one token.
type fakeVault struct {
	mu      sync.Mutex
	token   string
	secrets map[string]map[string]string // "<mount>/data/<name>"
}

func (v *fakeVault) set(path, field, value string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.secrets[path] == nil {
		v.secrets[path] = map[string]string{}
	}
	v.secrets[path][field] = value
}

func (v *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("X-Vault-Token") != v.token {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errors":["permission denied"]}`)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	if path == "auth/token/lookup-self" {
		io.WriteString(w, `{"data":{"ttl":0}}`)
		return
	}
	data, ok := v.secrets[path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":[]}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"lease_duration": 0, "data": map[string]any{"data": data}})
}

// TestVaultSecrets runs the server with its registration token and Redis
// URL in Vault: both are read at start, and a new token version in Vault
// replaces the old one after --vault-refresh.
func TestVaultSecrets(t *testing.T) {
	vault := &fakeVault{token: "hvs.e2e-token", secrets: map[string]map[string]string{}} // gitleaks:allow
	vault.set("secret/data/mcpgate", "registration_token", "vault-token-one")
	vault.set("secret/data/mcpgate", "redis_url", "redis://127.0.0.1:6379/13")
	vs := httptest.NewServer(vault)
	defer vs.Close()
	env := []string{"VAULT_ADDR=" + vs.URL, "VAULT_TOKEN=hvs.e2e-token"} // gitleaks:allow

	data := filepath.Join(t.TempDir(), "data")
	srv := startServerEnv(t, data, env, "--registration-token", "vault:secret/mcpgate#registration_token",
		"--redis", "vault:secret/mcpgate#redis_url", "--vault-refresh", "1s")
	if got := register(t, srv.base, "vault-token-one"); got != http.StatusCreated {
		t.Fatalf("registration with the Vault token: %d, want 201", got)
	}
	vault.set("secret/data/mcpgate", "registration_token", "vault-token-two")
	// Each accepted registration counts against the per-address limit of
	// 10 a minute, so wait out the refresh rather than poll through it.
	time.Sleep(1500 * time.Millisecond)
	eventually(t, 5*time.Second, func() error {
		if got := register(t, srv.base, "vault-token-one"); got != http.StatusUnauthorized {
			return fmt.Errorf("the replaced token still gets %d", got)
		}
		return nil
	})
	if got := register(t, srv.base, "vault-token-two"); got != http.StatusCreated {
		t.Errorf("registration with the new Vault token: %d, want 201", got)
	}

	// A wrong Vault token stops the server at start, naming the setting.
	res := mcpgateCLIEnv(t, data, []string{"VAULT_ADDR=" + vs.URL, "VAULT_TOKEN=hvs.wrong"}, // gitleaks:allow
		"--listen", "127.0.0.1:0", "serve", "--registration-token", "vault:secret/mcpgate#registration_token")
	if res.code != exitUsage || !strings.Contains(res.stderr, "--registration-token vault:secret/mcpgate#registration_token") || !strings.Contains(res.stderr, "403") {
		t.Errorf("serve with a wrong Vault token: exit %d: %s", res.code, res.stderr)
	}
}

// mcpgateCLIEnv is mcpgateCLI with extra environment variables.
func mcpgateCLIEnv(t *testing.T, data string, extraEnv []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"--data", data}, args...)...)
	cmd.Env = append(cleanEnv(), extraEnv...)
	cmd.Dir = filepath.Dir(data)
	return runCmd(t, cmd)
}

// TestConfigShow: the settings from flags, variables, the config file and
// defaults, with every secret setting as its reference or hidden, and the
// values of an upstream's environment hidden.
func TestConfigShow(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "mcpgate.yaml"), `
listen: 127.0.0.1:9999
cors_origins: [loopback, "https://app.example.com"]
store: postgres://app:pg-password-in-config@db/mcpgate
registration_token: literal-registration-token-in-config
encryption_key: file:/run/secrets/kek
alerts:
  webhook: https://hooks.example.com/mcpgate
  secret: vault:secret/mcpgate#alert_secret
introspection:
  url: https://idp.example.com/introspect
  client_id: mcpgate
  client_secret: introspection-secret-in-config
  cache_ttl: 30s
login_providers:
  - issuer: https://accounts.example.com
    client_id: mcpgate
    client_secret: login-secret-in-config
upstreams:
  - name: github
    command: [github-mcp, --token, "Bearer gh-token-in-args"]
    env:
      GITHUB_TOKEN: ghp-token-in-env
  - name: remote
    url: https://user:url-password@mcp.example.com/mcp
`)
	env := []string{"MCPGATE_REDIS=env:REDIS_URL", "MCPGATE_RATE_LIMIT=100/1m"}
	for _, args := range [][]string{
		{"--config", cfg, "config", "show", "--max-batch", "7"},
		{"--config", cfg, "config", "show", "--max-batch", "7", "--json"},
	} {
		res := mcpgateCLIEnv(t, filepath.Join(dir, "data"), env, args...)
		if res.code != 0 {
			t.Fatalf("config show: exit %d: %s", res.code, res.stderr)
		}
		var got map[string]any
		if err := yaml.Unmarshal([]byte(res.stdout), &got); err != nil { // JSON is YAML too
			t.Fatalf("config show output does not parse: %v\n%s", err, res.stdout)
		}
		want := map[string]any{
			"listen":                      "127.0.0.1:9999",        // config file
			"max_batch":                   7,                       // flag
			"rate_limit":                  "100/1m",                // environment
			"max_body":                    4194304,                 // default
			"redis":                       "env:REDIS_URL",         // a reference, from the environment
			"store":                       secret.Hidden,           // a value
			"registration_token":          secret.Hidden,           // a value
			"encryption_key":              "file:/run/secrets/kek", // a reference
			"alert_secret":                "vault:secret/mcpgate#alert_secret",
			"introspection_client_secret": secret.Hidden,
			"shutdown":                    "30s",
			"cors_origins":                []string{"loopback", "https://app.example.com"}, // config file, a list
		}
		for k, v := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				t.Errorf("%v: %s = %v, want %v", args, k, got[k], v)
			}
		}
		ups, _ := got["upstreams"].([]any)
		if len(ups) != 2 {
			t.Fatalf("upstreams %v, want the two of the config file", got["upstreams"])
		}
		if e := ups[0].(map[string]any)["env"].(map[string]any); e["GITHUB_TOKEN"] != secret.Hidden {
			t.Errorf("upstream env shown as %v", e)
		}
		if lp, _ := got["login_providers"].([]any); len(lp) != 1 || lp[0].(map[string]any)["client_secret"] != secret.Hidden {
			t.Errorf("login_providers shown as %v", got["login_providers"])
		}
		for _, s := range []string{"login-secret-in-config", "pg-password-in-config", "literal-registration-token-in-config", "introspection-secret-in-config",
			"gh-token-in-args", "ghp-token-in-env", "url-password"} {
			if strings.Contains(res.stdout+res.stderr, s) {
				t.Errorf("%v prints %s:\n%s", args, s, res.stdout)
			}
		}
	}
}

// TestEnvFile: --env-file sets the variables the environment lacks before
// the flags are read, a real variable wins over the file, no file is read
// unless named, and a malformed line is an error with its number and
// without its content.
func TestEnvFile(t *testing.T) {
	dir := t.TempDir()
	envFile := writeFile(t, filepath.Join(dir, ".env"),
		"# development settings\nMCPGATE_LISTEN=127.0.0.1:7777\nMCPGATE_MAX_BATCH=9\nexport DEV_TOKEN='dev-registration-token'\nMCPGATE_REGISTRATION_TOKEN=env:DEV_TOKEN\n")
	show := func(extraEnv []string, args ...string) map[string]any {
		t.Helper()
		cmd := append([]string{}, args...)
		res := mcpgateCLIEnv(t, filepath.Join(dir, "data"), extraEnv, append(cmd, "config", "show", "--json")...)
		if res.code != 0 {
			t.Fatalf("config show %v: exit %d: %s", args, res.code, res.stderr)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := show([]string{"MCPGATE_MAX_BATCH=50"}, "--env-file", envFile)
	if got["listen"] != "127.0.0.1:7777" || got["registration_token"] != "env:DEV_TOKEN" {
		t.Errorf("with --env-file: listen %v, registration_token %v", got["listen"], got["registration_token"])
	}
	if got["max_batch"] != float64(50) {
		t.Errorf("max_batch %v: the environment's 50 should win over the file's 9", got["max_batch"])
	}

	// Without --env-file, a .env in the working directory is not read.
	if got := show(nil); got["listen"] != "127.0.0.1:8080" {
		t.Errorf("without --env-file listen is %v: a file was read", got["listen"])
	}

	// Serve resolves env:DEV_TOKEN from the file.
	data := filepath.Join(dir, "data")
	srv := startServer(t, data, "--env-file="+envFile)
	if got := register(t, srv.base, "dev-registration-token"); got != http.StatusCreated {
		t.Errorf("registration with the token from the env file: %d, want 201", got)
	}
	if got := register(t, srv.base, ""); got != http.StatusUnauthorized {
		t.Errorf("registration without it: %d, want 401", got)
	}

	bad := writeFile(t, filepath.Join(dir, "bad.env"), "A=1\n\nthis-line-holds-a-secret-value\n")
	res := mcpgateCLI(t, data, "--env-file", bad, "keys", "list")
	if res.code != exitUsage || !strings.Contains(res.stderr, "line 3") || strings.Contains(res.stderr, "secret-value") {
		t.Errorf("malformed env file: exit %d: %s", res.code, res.stderr)
	}
	res = mcpgateCLI(t, data, "--env-file", filepath.Join(dir, "missing.env"), "keys", "list")
	if res.code != exitUsage || !strings.Contains(res.stderr, "missing.env") {
		t.Errorf("missing env file: exit %d: %s", res.code, res.stderr)
	}
}

// TestUpstreamEnvStaysLiteral: the env: map of a stdio upstream is handed
// to the program as written; env:NAME and file:PATH there are not secret
// references.
func TestUpstreamEnvStaysLiteral(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "child-env")
	cfg := writeFile(t, filepath.Join(dir, "mcpgate.yaml"), fmt.Sprintf(`
upstreams:
  - name: envdump
    command: [sh, -c, 'printf "%%s|%%s|%%s" "$A" "$B" "$C" > %s; cat >/dev/null']
    env:
      A: env:HOME
      B: file:/etc/hostname
      C: literal:x
`, out))
	data := filepath.Join(dir, "data")
	key, _ := createKey(t, data, "--name", "envdump")
	srv := startServer(t, data, "--config", cfg)
	go doRPC(srv.base+"/mcp/envdump", key, initBody) // the child never answers
	eventually(t, 10*time.Second, func() error {
		b, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		if got := string(b); got != "env:HOME|file:/etc/hostname|literal:x" {
			t.Fatalf("the child saw %q, want the values as written", got)
		}
		return nil
	})
}

// TestStoreReference: --store env:NAME opens the Postgres store the
// variable names, so the password is in neither the arguments nor the
// output.
func TestStoreReference(t *testing.T) {
	storeURL := ownSchema(t)
	u, _ := url.Parse(storeURL)
	u.User = url.UserPassword("postgres", "unused-password-in-url") // trust auth ignores it
	env := []string{"PG_STORE_URL=" + u.String()}
	data := filepath.Join(t.TempDir(), "unused")
	res := mcpgateCLIEnv(t, data, env, "--store", "env:PG_STORE_URL", "migrate")
	if res.code != 0 {
		t.Fatalf("migrate with --store env:PG_STORE_URL: exit %d: %s", res.code, res.stderr)
	}
	res = mcpgateCLIEnv(t, data, env, "--store", "env:PG_STORE_URL", "keys", "list")
	if res.code != 0 || !strings.Contains(res.stderr, "Postgres store env:PG_STORE_URL") {
		t.Errorf("keys list: exit %d: %s", res.code, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, "unused-password-in-url") {
		t.Errorf("the output holds the store password: %s", res.stderr)
	}
	res = mcpgateCLIEnv(t, data, nil, "--store", "env:PG_STORE_URL", "keys", "list")
	if res.code != exitUsage || !strings.Contains(res.stderr, "--store env:PG_STORE_URL") || !strings.Contains(res.stderr, "empty") {
		t.Errorf("keys list with the variable unset: exit %d: %s", res.code, res.stderr)
	}
}

// TestPanicInBinaryLeaksNothing runs the real binary with a test upstream
// that panics with the request's headers and body formatted into the
// panic value. The request carries an API key, an access token the server
// issued and a client secret it issued. None of them appears on standard
// error (the log), in the response, in the audit rows or in the SQLite
// files; the panic itself is logged and audited.
func TestPanicInBinaryLeaksNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key, keyID := createKey(t, data, "--name", "alice", "--subject", "alice", "--scope", "docs:read")
	srv := startServerEnv(t, data, []string{"MCPGATE_TEST_PANIC=1"}, "--log-format", "json", "--log-level", "debug")
	res := mcpgateCLI(t, data, "--public-url", srv.url, "clients", "add", "--name", "m", "--machine", "--scope", "docs:read")
	id := regexp.MustCompile(`Registered client (\S+) `).FindStringSubmatch(res.stdout)
	sec := regexp.MustCompile(`(?m)^\s+(mcps_\S+)$`).FindStringSubmatch(res.stdout)
	if res.code != 0 || id == nil || sec == nil {
		t.Fatalf("clients add: %d %s %s", res.code, res.stdout, res.stderr)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"docs:read"}, "resource": {srv.url}}
	req, _ := http.NewRequest(http.MethodPost, srv.base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id[1], sec[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("no access token: %d", resp.StatusCode)
	}

	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup","arguments":{"access_token":"` + tok.AccessToken +
		`","client_secret":"` + sec[1] + `","note":"Bearer ` + tok.AccessToken + `"}}}`
	req, _ = http.NewRequest(http.MethodPost, srv.base+"/mcp/test-panic", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("X-Forwarded-Secret", sec[1])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(answer), "internal_error") {
		t.Fatalf("panicking upstream: %d %s, want 500 internal_error", resp.StatusCode, answer)
	}
	eventually(t, 5*time.Second, func() error {
		if !strings.Contains(srv.logs.String(), "test upstream exploded") {
			return fmt.Errorf("the panic is not in the log yet")
		}
		return nil
	})
	// The panic line quotes each credential, masked: they were in scope.
	for _, masked := range []string{"mcps_[REDACTED]", "mcpg_" + keyID + "_[REDACTED]", "Bearer [REDACTED]"} {
		if !strings.Contains(srv.logs.String(), masked) {
			t.Errorf("the log lacks %s", masked)
		}
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}

	db, err := sqlite.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	events, err := db.ListAudit(context.Background(), time.Time{}, 1000)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var audit strings.Builder
	audited := false
	for _, ev := range events {
		fmt.Fprintf(&audit, "%+v\n", *ev)
		if ev.KeyID == keyID && ev.Status == http.StatusInternalServerError && ev.Reason == "internal" {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no audit row for the panic:\n%s", audit.String())
	}
	var files strings.Builder
	for _, name := range []string{"mcpgate.db", "mcpgate.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(data, name)); err == nil {
			files.Write(b)
		}
	}
	credentials := map[string]string{
		"API key":              key,
		"API key secret":       key[len("mcpg_")+12+1:],
		"access token":         tok.AccessToken,
		"access token payload": strings.Split(tok.AccessToken, ".")[1],
		"client secret":        sec[1],
	}
	for where, out := range map[string]string{"standard error": srv.logs.String(), "response": fmt.Sprint(resp.Header) + string(answer),
		"audit rows": audit.String(), "SQLite files": files.String()} {
		for what, c := range credentials {
			if strings.Contains(out, c) {
				t.Errorf("the %s holds the %s", where, what)
			}
		}
	}
}
