package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The OAuth end-to-end tests run the real binary with its embedded
// authorization server and drive the real login and consent pages with a
// cookie-keeping "browser" that reads the forms mcpgate serves.

const alicePassword = "correct horse battery staple"

func addUser(t *testing.T, data, name, password string, args ...string) {
	t.Helper()
	migrate(t, data, args...)
	cmd := exec.Command(binPath, append([]string{"--data", data, "users", "add", name}, args...)...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("users add %s: %v\n%s", name, err, out)
	}
}

var (
	csrfRe   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	reqRe    = regexp.MustCompile(`name="req" value="([^"]+)"`)
	scopeRe  = regexp.MustCompile(`name="scope" value="([^"]+)"`)
	actionRe = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// formBrowser signs in as a user on mcpgate's pages and approves whatever
// the consent page offers. It stops at the redirect that leaves mcpgate
// (the client's callback) and returns it.
type formBrowser struct {
	base     string // mcpgate origin
	user, pw string
	apiKey   string // if set, sign in with this API key instead
	logins   atomic.Int32
}

func (b *formBrowser) authorize(ctx context.Context, authURL string) (*url.URL, error) {
	b.logins.Add(1)
	jar, _ := cookiejar.New(nil)
	var callback *url.URL
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), b.base+"/") {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	get := func(u string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body), nil
	}
	post := func(action string, form url.Values) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.base+action, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 400 {
			return "", fmt.Errorf("POST %s: %d %s", action, resp.StatusCode, body)
		}
		return string(body), nil
	}
	field := func(re *regexp.Regexp, page string) string {
		if m := re.FindStringSubmatch(page); m != nil {
			return html.UnescapeString(m[1])
		}
		return ""
	}

	page, err := get(authURL)
	if err != nil {
		return nil, err
	}
	for step := 0; callback == nil && step < 4; step++ {
		action := field(actionRe, page)
		form := url.Values{"csrf": {field(csrfRe, page)}, "req": {field(reqRe, page)}}
		switch action {
		case "/login":
			if b.apiKey != "" {
				form.Set("method", "api_key")
				form.Set("api_key", b.apiKey)
				break
			}
			form.Set("method", "password")
			form.Set("username", b.user)
			form.Set("password", b.pw)
		case "/consent":
			form.Set("action", "approve")
			for _, m := range scopeRe.FindAllStringSubmatch(page, -1) {
				form.Add("scope", m[1])
			}
		default:
			return nil, fmt.Errorf("unexpected page (no login or consent form):\n%s", page)
		}
		if page, err = post(action, form); err != nil {
			return nil, err
		}
	}
	if callback == nil {
		return nil, errors.New("never redirected back to the client")
	}
	return callback, nil
}

func (b *formBrowser) fetcher(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	cb, err := b.authorize(ctx, args.URL)
	if err != nil {
		return nil, err
	}
	q := cb.Query()
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("authorization error %s", e)
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// TestGoSDKOAuth has the Go SDK's own OAuth client (PRM → AS metadata →
// DCR or CIMD → PKCE with resource) connect to the real gateway, sign in on
// its pages, call tools, and refresh when its short-lived token expires.
func TestGoSDKOAuth(t *testing.T) {
	redirect := "http://127.0.0.1:47101/callback"
	// Client metadata documents are https URLs; the gateway trusts this
	// test server's certificate through SSL_CERT_FILE, as an operator's
	// private CA would be trusted.
	var fetched atomic.Int32
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":"Go SDK via CIMD","redirect_uris":[%q],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`,
			"https://"+r.Host+r.URL.Path, redirect)
	}))
	defer docs.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: docs.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	data := filepath.Join(dir, "data")
	addUser(t, data, "alice", alicePassword)
	srv := startServerEnv(t, data, []string{"SSL_CERT_FILE=" + caFile}, "--access-token-ttl", "2s", "--allow-loopback-cimd")

	for _, tc := range []struct {
		name string
		cfg  auth.AuthorizationCodeHandlerConfig
	}{
		{"DCR", auth.AuthorizationCodeHandlerConfig{
			DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "Go SDK client",
				RedirectURIs:            []string{redirect},
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				TokenEndpointAuthMethod: "none",
			}},
		}},
		{"CIMD", auth.AuthorizationCodeHandlerConfig{
			ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: docs.URL + "/client.json"},
			RedirectURL:                    redirect,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browser := &formBrowser{base: srv.base, user: "alice", pw: alicePassword}
			cfg := tc.cfg
			cfg.AuthorizationCodeFetcher = browser.fetcher
			h, err := auth.NewAuthorizationCodeHandler(&cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			client := mcp.NewClient(&mcp.Implementation{Name: "go-sdk-oauth", Version: "1"}, nil)
			session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.url, OAuthHandler: h, MaxRetries: -1}, nil)
			if err != nil {
				t.Fatalf("connect: %v\n%s", err, srv.logs.String())
			}
			defer session.Close()
			res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "notes_create", Arguments: map[string]any{"title": "via " + tc.name, "body": "oauth"}})
			if err != nil || res.IsError {
				t.Fatalf("notes_create: %v %v", err, res)
			}
			time.Sleep(2500 * time.Millisecond) // the access token expires; the client refreshes
			res, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "notes_list"})
			if err != nil || !strings.Contains(toolText(res), "via "+tc.name) {
				t.Fatalf("notes_list after refresh: %v %v", err, res)
			}
			if n := browser.logins.Load(); n != 1 {
				t.Errorf("%d sign-ins, want 1 (a refresh needs none)", n)
			}
		})
	}
	if fetched.Load() == 0 {
		t.Error("the client metadata document was never fetched")
	}
	// The gateway's audit trail names the OAuth client and the user.
	res := mcpgateCLI(t, data, "audit", "--json", "--since", "5m", "--limit", "0")
	if !strings.Contains(res.stdout, `"subject":"alice"`) || !strings.Contains(res.stdout, `"client_id":"`+docs.URL+`/client.json"`) {
		t.Errorf("audit lacks the OAuth principal:\n%s", res.stdout)
	}
	if strings.Contains(srv.logs.String(), alicePassword) {
		t.Error("the password reached the log")
	}
}

// TestTypeScriptOAuth: the official TypeScript SDK client (pinned in
// interop/) completes the flow against the real gateway, playing the
// browser on mcpgate's own sign-in and consent pages, with dynamic
// registration and again with a Client ID Metadata Document; it calls tools
// and refreshes.
func TestTypeScriptOAuth(t *testing.T) {
	node := interopBin(t, "node")
	script, err := filepath.Abs("../../interop/oauth-flow.mjs")
	if err != nil {
		t.Fatal(err)
	}
	redirect := "http://127.0.0.1:47102/callback"
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":"TypeScript via CIMD","redirect_uris":[%q],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`,
			"https://"+r.Host+r.URL.Path, redirect)
	}))
	defer docs.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: docs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	addUser(t, data, "alice", alicePassword)
	srv := startServerEnv(t, data, []string{"SSL_CERT_FILE=" + caFile}, "--allow-loopback-cimd")

	for name, cimd := range map[string]string{"DCR": "", "CIMD": docs.URL + "/ts-client.json"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script)
			cmd.Dir = filepath.Dir(script)
			cmd.Env = append(cleanEnv(), "MCP_URL="+srv.url, "USERNAME=alice", "PASSWORD="+alicePassword,
				"REDIRECT_URL="+redirect, "CIMD_URL="+cimd)
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					stderr = ee.Stderr
				}
				t.Fatalf("node: %v\n%s\n%s", err, out, stderr)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			for _, want := range []string{`"refreshed":true`, `"/login"`, `"/consent"`, `notes_create`, `from TypeScript`} {
				if !strings.Contains(last, want) {
					t.Errorf("result lacks %s: %s", want, last)
				}
			}
			if cimd != "" && !strings.Contains(last, `"clientID":"`+cimd+`"`) {
				t.Errorf("CIMD client id not used: %s", last)
			}
		})
	}
}

// TestMachineClient: a client registered with the CLI gets tokens with the
// client_credentials grant; rotating the signing key keeps issued tokens
// working while new ones use the new key; revoking the client with the CLI
// stops its tokens on the running server within a second.
func TestMachineClient(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	migrate(t, data)
	res := mcpgateCLI(t, data, "clients", "add", "--name", "nightly-bot", "--machine", "--scope", "docs:read", "--subject", "bot")
	if res.code != 0 {
		t.Fatalf("clients add: %d %s", res.code, res.stderr)
	}
	id := regexp.MustCompile(`Registered client (\S+) `).FindStringSubmatch(res.stdout)
	secret := regexp.MustCompile(`(?m)^\s+(mcps_\S+)$`).FindStringSubmatch(res.stdout)
	if id == nil || secret == nil {
		t.Fatalf("clients add output:\n%s", res.stdout)
	}
	srv := startServer(t, data)

	token := func() string {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"docs:read"}, "resource": {srv.url}}
		req, _ := http.NewRequest(http.MethodPost, srv.base+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id[1]), url.QueryEscape(secret[1]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
			t.Fatalf("token: %d %s", resp.StatusCode, b)
		}
		return body.AccessToken
	}
	first := token()
	if resp, body := rpc(t, srv.url, first, initBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("machine token refused: %d %s", resp.StatusCode, body)
	}

	if res := mcpgateCLI(t, data, "oauth", "rotate-key"); res.code != 0 {
		t.Fatalf("oauth rotate-key: %d %s", res.code, res.stderr)
	}
	eventually(t, 5*time.Second, func() error {
		if kid(token()) == kid(first) {
			return errors.New("new tokens still signed with the old key")
		}
		return nil
	})
	if resp, _ := rpc(t, srv.url, first, initBody); resp.StatusCode != http.StatusOK {
		t.Errorf("token signed before rotation refused: %d", resp.StatusCode)
	}

	if res := mcpgateCLI(t, data, "clients", "revoke", id[1]); res.code != 0 {
		t.Fatalf("clients revoke: %d %s", res.code, res.stderr)
	}
	revoked := time.Now()
	eventually(t, 2*time.Second, func() error {
		if resp, _ := rpc(t, srv.url, first, initBody); resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("revoked client's token still gets %d", resp.StatusCode)
		}
		return nil
	})
	if d := time.Since(revoked); d > time.Second {
		t.Errorf("client revocation took %v, want under 1s", d)
	}
}

// kid returns the key id in a JWT's header.
func kid(jwt string) string {
	head, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

// TestAPIKeySignInDiesWithKey: a user signs in on the login page with an
// API key and approves a dynamically registered app; once the key is
// revoked with the CLI, the app's access token is refused by the running
// server within a second and its refresh token no longer works.
func TestAPIKeySignInDiesWithKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key, keyID := createKey(t, data, "--name", "laptop", "--subject", "alice", "--scope", "notes:read", "--scope", "notes:write")
	srv := startServer(t, data)

	redirect := "http://127.0.0.1:47103/callback"
	regBody := `{"client_name":"key app","redirect_uris":["` + redirect + `"],"token_endpoint_auth_method":"none"}`
	resp, err := http.Post(srv.base+"/register", "application/json", strings.NewReader(regBody))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &reg); err != nil || resp.StatusCode != http.StatusCreated || reg.ClientID == "" {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}

	verifier := "key-signin-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(verifier))
	authURL := srv.base + "/authorize?" + url.Values{
		"response_type":         {"code"},
		"client_id":             {reg.ClientID},
		"redirect_uri":          {redirect},
		"state":                 {"s1"},
		"scope":                 {"notes:read"},
		"resource":              {srv.url},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	browser := &formBrowser{base: srv.base, apiKey: key}
	cb, err := browser.authorize(ctx, authURL)
	if err != nil {
		t.Fatalf("sign-in with API key: %v\n%s", err, srv.logs.String())
	}
	if cb.Query().Get("code") == "" || cb.Query().Get("state") != "s1" {
		t.Fatalf("callback %s", cb)
	}

	type tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	token := func(form url.Values) (int, tokens) {
		t.Helper()
		form.Set("client_id", reg.ClientID)
		resp, err := http.PostForm(srv.base+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr tokens
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("token response %d %q: %v", resp.StatusCode, b, err)
		}
		return resp.StatusCode, tr
	}
	st, tr := token(url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {srv.url}})
	if st != http.StatusOK || tr.AccessToken == "" || tr.RefreshToken == "" {
		t.Fatalf("code exchange: %d %+v", st, tr)
	}
	if resp, body := rpc(t, srv.url, tr.AccessToken, initBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("access token refused while the key is valid: %d %s", resp.StatusCode, body)
	}
	// While the key is valid, the app refreshes as usual.
	st, tr = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
	if st != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("refresh while the key is valid: %d %+v", st, tr)
	}

	if res := mcpgateCLI(t, data, "keys", "revoke", keyID); res.code != 0 {
		t.Fatalf("keys revoke: %d %s", res.code, res.stderr)
	}
	revoked := time.Now()
	eventually(t, 2*time.Second, func() error {
		if resp, _ := rpc(t, srv.url, tr.AccessToken, initBody); resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("access token of a revoked key still gets %d", resp.StatusCode)
		}
		return nil
	})
	if d := time.Since(revoked); d > time.Second {
		t.Errorf("key revocation reached the app's token after %v, want under 1s", d)
	}
	st, r := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
	if st != http.StatusBadRequest || r.Error != "invalid_grant" || r.AccessToken != "" {
		t.Errorf("refresh after the key is revoked: %d %+v, want 400 invalid_grant", st, r)
	}
	if strings.Contains(srv.logs.String(), key) {
		t.Error("the API key reached the log")
	}
}
