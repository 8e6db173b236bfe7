package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/internal/oidcprovider"
)

// browserJar is a cookie jar that keeps cookies by name per host, Secure
// or not, as a browser does for http://127.0.0.1 (Go's jar would not send
// mcpgate's Secure cookies over plain http).
type browserJar struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func (j *browserJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil {
		j.m = map[string]map[string]string{}
	}
	h := j.m[u.Host]
	if h == nil {
		h = map[string]string{}
		j.m[u.Host] = h
	}
	for _, c := range cookies {
		if c.MaxAge < 0 || c.Value == "" {
			delete(h, c.Name)
		} else {
			h[c.Name] = c.Value
		}
	}
}

func (j *browserJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for k, v := range j.m[u.Host] {
		out = append(out, &http.Cookie{Name: k, Value: v})
	}
	return out
}

var (
	formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	csrfValue  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	scopeValue = regexp.MustCompile(`name="scope" value="([^"]+)"`)
	providerA  = regexp.MustCompile(`id="provider-0" href="([^"]+)"`)
)

// TestFederatedSignInServe runs the real binary with a login provider from
// the config file (its secret from the environment) and an upstream with
// forward_idp_token: a person signs in at oidc-provider through its own
// login and consent forms, approves on mcpgate's consent page, the app
// exchanges its code at mcpgate, and its call reaches the upstream with
// the person's provider token, which the provider's userinfo accepts.
// Then users disable refuses the app's token and the person's next
// sign-in, users enable lets them in again, and users remove ends their
// session, app and provider tokens.
func TestFederatedSignInServe(t *testing.T) {
	node := interopBin(t, "node")
	addr := "127.0.0.1:" + freePort(t)
	base := "http://" + addr
	iss := oidcprovider.StartWith(t, node, filepath.Join("..", "..", "interop"), "LOGIN_REDIRECT_URI="+base+"/login/oidc/callback")

	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"needs-idp","version":"1"}}}`)
	}))
	t.Cleanup(up.Close)

	data := t.TempDir()
	cfg := filepath.Join(data, "mcpgate.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `
login_providers:
  - name: Acme SSO
    issuer: %s
    client_id: mcpgate-login
    client_secret: env:LOGIN_SECRET
upstreams:
  - name: needs-idp
    url: %s/mcp
    path: /mcp
    forward_idp_token: true
`, iss, up.URL), 0o600)
	cmd := []string{"--data", data, "--listen", addr, "--config", cfg, "serve"}
	s := startRaw(t, []string{"LOGIN_SECRET=login-secret"}, cmd...)

	jar := &browserJar{}
	const redirect = "http://127.0.0.1:1/callback"
	client := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	page := func(resp *http.Response, err error) (string, *http.Response) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 400 {
			t.Fatalf("%s: %s\n%s", resp.Request.URL, resp.Status, b)
		}
		return string(b), resp
	}
	field := func(re *regexp.Regexp, body string) string {
		t.Helper()
		m := re.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in page:\n%s", re, body)
		}
		return html.UnescapeString(m[1])
	}

	// The app registers and starts an authorization request with PKCE.
	reg, _ := json.Marshal(map[string]any{"client_name": "e2e app", "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"}, "response_types": []string{"code"}})
	body, _ := page(http.Post(base+"/register", "application/json", strings.NewReader(string(reg))))
	var app struct {
		ClientID string `json:"client_id"`
	}
	json.Unmarshal([]byte(body), &app)
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	authorize := base + "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "redirect_uri": {redirect},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"app-state"}, "resource": {s.url}}.Encode()

	// mcpgate's sign-in page offers the provider; its button leads to the
	// provider's login form.
	body, _ = page(client.Get(authorize))
	if !strings.Contains(body, "Sign in with Acme SSO") {
		t.Fatalf("sign-in page offers no provider:\n%s", body)
	}
	body, resp := page(client.Get(base + field(providerA, body)))
	if !strings.HasPrefix(resp.Request.URL.String(), iss) {
		t.Fatalf("the button led to %s, not the provider", resp.Request.URL)
	}
	abs := func(u *url.URL, action string) string {
		ref, _ := url.Parse(action)
		return u.ResolveReference(ref).String()
	}
	body, resp = page(client.PostForm(abs(resp.Request.URL, field(formAction, body)),
		url.Values{"prompt": {"login"}, "login": {"alice"}, "password": {"any password"}}))
	body, resp = page(client.PostForm(abs(resp.Request.URL, field(formAction, body)), url.Values{"prompt": {"consent"}}))

	// Back at mcpgate: consent, then the app's redirect with a code.
	if resp.Request.URL.Host != addr || resp.Request.URL.Path != "/consent" {
		t.Fatalf("after the provider the browser is at %s:\n%s", resp.Request.URL, body)
	}
	form := url.Values{"csrf": {field(csrfValue, body)}, "req": {resp.Request.URL.Query().Get("req")}, "action": {"approve"}}
	for _, m := range scopeValue.FindAllStringSubmatch(body, -1) {
		form.Add("scope", m[1])
	}
	resp, err := client.PostForm(base+"/consent", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("consent answered %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	body, _ = page(http.PostForm(base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirect}, "client_id": {app.ClientID}, "code_verifier": {verifier}, "resource": {s.url}}))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal([]byte(body), &tok)
	if tok.AccessToken == "" {
		t.Fatalf("token: %s", body)
	}

	// The app's call reaches the upstream with the provider's token.
	r, b := rpc(t, s.url, tok.AccessToken, initBody)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("initialize: %s %s", r.Status, b)
	}
	mu.Lock()
	got := seen[len(seen)-1]
	mu.Unlock()
	idpToken := strings.TrimPrefix(got, "Bearer ")
	if idpToken == got || idpToken == tok.AccessToken {
		t.Fatalf("upstream got Authorization %q", got)
	}
	req, _ := http.NewRequest(http.MethodGet, iss+"/me", nil)
	req.Header.Set("Authorization", got)
	me, _ := page(http.DefaultClient.Do(req))
	if !strings.Contains(me, `"sub":"alice"`) {
		t.Errorf("provider userinfo for the forwarded token: %s", me)
	}

	// An API key cannot use that upstream: it has no provider token.
	key, _ := createKey(t, data, "--name", "e2e")
	r, b = rpc(t, s.url, key, initBody)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(b, "sign in with Acme SSO") {
		t.Errorf("API key on a forward_idp_token upstream: %s %s", r.Status, b)
	}

	// An administrator disables, enables and removes the person.
	sub := federation.Subject(iss, "alice")
	admin := func(args ...string) cliResult {
		t.Helper()
		return mcpgateCLIEnv(t, data, []string{"LOGIN_SECRET=login-secret"}, append([]string{"--config", cfg}, args...)...)
	}
	// signIn follows the provider button through whichever of the
	// provider's forms it shows and returns mcpgate's answer.
	signIn := func() (*http.Response, string) {
		t.Helper()
		body, _ := page(client.Get(authorize))
		resp, err := client.Get(base + field(providerA, body))
		for range 4 {
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.Request.URL.Host == addr {
				return resp, body
			}
			form := url.Values{"prompt": {"consent"}}
			if strings.Contains(body, `name="login"`) {
				form = url.Values{"prompt": {"login"}, "login": {"alice"}, "password": {"any password"}}
			}
			resp, err = client.PostForm(abs(resp.Request.URL, field(formAction, body)), form)
		}
		t.Fatalf("the provider never sent the browser back:\n%s", body)
		return nil, ""
	}
	// refused waits for running servers to refuse token, as they do
	// within a second of a grant's revocation.
	refused := func(token string) bool {
		t.Helper()
		for range 40 {
			if r, _ := rpc(t, s.url, token, initBody); r.StatusCode == http.StatusUnauthorized {
				return true
			}
			time.Sleep(100 * time.Millisecond)
		}
		return false
	}

	if res := admin("users", "passwd", sub); res.code != exitUsage || !strings.Contains(res.stderr, "signs in at Acme SSO; there is no password to set") {
		t.Errorf("users passwd of a federated subject: exit %d: %s", res.code, res.stderr)
	}
	res := admin("users", "disable", sub)
	if res.code != 0 || !strings.Contains(res.stdout, "disconnected 1 app(s)") || !strings.Contains(res.stdout, "deleted their identity provider tokens") {
		t.Fatalf("users disable %s: exit %d\n%s%s", sub, res.code, res.stdout, res.stderr)
	}
	if !refused(tok.AccessToken) {
		t.Error("the app's token still works after users disable")
	}
	var views []userView
	if err := json.Unmarshal([]byte(admin("users", "list", "--json").stdout), &views); err != nil || len(views) != 1 ||
		views[0].Name != sub || views[0].Status != "disabled" || !views[0].Federated {
		t.Errorf("users list after disable: %+v, %v", views, err)
	}
	if resp, body := signIn(); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Your account is disabled here") {
		t.Errorf("sign-in of a disabled federated subject: %s at %s\n%s", resp.Status, resp.Request.URL, body)
	}

	if res := admin("users", "enable", sub); res.code != 0 || !strings.Contains(res.stdout, "Enabled "+sub) {
		t.Fatalf("users enable: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	resp, body = signIn()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/consent" {
		t.Fatalf("sign-in after users enable: %s at %s\n%s", resp.Status, resp.Request.URL, body)
	}
	form = url.Values{"csrf": {field(csrfValue, body)}, "req": {resp.Request.URL.Query().Get("req")}, "action": {"approve"}}
	for _, m := range scopeValue.FindAllStringSubmatch(body, -1) {
		form.Add("scope", m[1])
	}
	resp, err = client.PostForm(base+"/consent", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	body, _ = page(http.PostForm(base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {app.ClientID}, "code_verifier": {verifier}, "resource": {s.url}}))
	tok.AccessToken = ""
	json.Unmarshal([]byte(body), &tok)
	if r, b := rpc(t, s.url, tok.AccessToken, initBody); r.StatusCode != http.StatusOK {
		t.Fatalf("initialize after users enable: %s %s", r.Status, b)
	}

	res = admin("users", "remove", sub)
	if res.code != 0 || !strings.Contains(res.stdout, "ended 1 sign-in session(s), disconnected 1 app(s)") ||
		!strings.Contains(res.stdout, "deleted their identity provider tokens") {
		t.Errorf("users remove %s: exit %d\n%s%s", sub, res.code, res.stdout, res.stderr)
	}
	if !refused(tok.AccessToken) {
		t.Error("the app's token still works after users remove")
	}
	if res := admin("users", "remove", sub); res.code != exitError || !strings.Contains(res.stderr, "nothing is kept of") {
		t.Errorf("users remove of a subject with nothing left: exit %d: %s", res.code, res.stderr)
	}
}

// TestFederatedSignInConfigErrors: settings that cannot work stop serve
// with a usage error.
func TestFederatedSignInConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		args []string
		want string
	}{
		{"plain http issuer", "", []string{"--login-issuer", "http://idp.example.com", "--login-client-id", "x"}, "must be https"},
		{"no client id", "", []string{"--login-issuer", "https://idp.example.com"}, "client id"},
		{"client id without issuer", "", []string{"--login-client-id", "x"}, "need --login-issuer"},
		{"without the authorization server", "", []string{"--login-issuer", "https://idp.example.com", "--login-client-id", "x", "--no-oauth"}, "drop --no-oauth"},
		{"forward_idp_token without providers", "upstreams:\n  - name: u\n    url: http://127.0.0.1:9/mcp\n    forward_idp_token: true\n", nil, "forward_idp_token needs"},
		{"forward_idp_token on stdio", "upstreams:\n  - name: u\n    command: [cat]\n    forward_idp_token: true\n", nil, "url upstreams only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			args := []string{"--data", data, "--listen", "127.0.0.1:0"}
			if tt.cfg != "" {
				cfg := filepath.Join(data, "c.yaml")
				os.WriteFile(cfg, []byte(tt.cfg), 0o600)
				args = append(args, "--config", cfg)
			}
			res := runCLI(t, append(append(args, "serve"), tt.args...)...)
			if res.code != exitUsage || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", res.code, res.stderr, exitUsage, tt.want)
			}
		})
	}
}
