package federation_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/internal/browsertest"
	"github.com/mcpgate/mcpgate/internal/oidcprovider"
	"github.com/mcpgate/mcpgate/login"
	"github.com/mcpgate/mcpgate/proxy"
	"github.com/mcpgate/mcpgate/seal"
	"github.com/mcpgate/mcpgate/sqlite"
)

// nodeAndInterop returns the node binary installed in interop/ and that
// folder; the test fails without them unless MCPGATE_SKIP_NODE=1.
func nodeAndInterop(t *testing.T) (string, string) {
	t.Helper()
	interop, err := filepath.Abs(filepath.Join("..", "interop"))
	if err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(interop, "node_modules", ".bin", "node")
	if _, err := os.Stat(node); err != nil {
		if os.Getenv("MCPGATE_SKIP_NODE") == "1" {
			t.Skip("node not installed and MCPGATE_SKIP_NODE=1")
		}
		t.Fatal("node is not installed: run `npm ci` in interop/ (scripts/test.sh does)")
	}
	return node, interop
}

// upstream is an MCP server that wants its users' identity provider
// tokens: it records the Authorization header of every request.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	s := mcp.NewServer(&mcp.Implementation{Name: "needs-idp-token", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Says hello"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello from upstream"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Get("Authorization"))
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// last returns the last Authorization header the upstream saw.
func (u *upstream) last() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return ""
	}
	return u.seen[len(u.seen)-1]
}

// userinfo asks the provider who the access token is for: proof that the
// token the upstream got is a live token of that provider.
func userinfo(t *testing.T, issuer, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, issuer+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Sub string }
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Sub
}

// tsClient is interop/fed-flow.mjs: the TypeScript SDK client, talking
// JSON lines.
type tsClient struct {
	t     *testing.T
	in    io.WriteCloser
	lines chan string
}

type tsLine struct {
	Authorize   string          `json:"authorize"`
	Result      json.RawMessage `json:"result"`
	Error       string          `json:"error"`
	AccessToken string          `json:"access_token"`
}

func startTSClient(t *testing.T, node, interop string, env ...string) *tsClient {
	t.Helper()
	cmd := exec.Command(node, "fed-flow.mjs")
	cmd.Dir = interop
	cmd.Env = append(os.Environ(), env...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &tsClient{t: t, in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil && !t.Failed() {
				t.Errorf("TypeScript client: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("TypeScript client stderr:\n%s", stderr.String())
		}
	})
	return c
}

func (c *tsClient) read() tsLine {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatal("TypeScript client exited")
		}
		var v tsLine
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			c.t.Fatalf("TypeScript client said %q: %v", l, err)
		}
		return v
	case <-time.After(60 * time.Second):
		c.t.Fatal("TypeScript client said nothing for 60 s")
	}
	return tsLine{}
}

func (c *tsClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *tsClient) call() tsLine {
	c.t.Helper()
	c.send("call")
	return c.read()
}

// TestFederatedSignInOIDCProvider is the whole chain against the real
// oidc-provider: the TypeScript SDK client connects to mcpgate with OAuth;
// headless Chromium signs in on mcpgate's page with the provider's button,
// on the provider's own login and consent pages, and approves on
// mcpgate's consent page; the client then calls a tool of an upstream
// with forward_idp_token, which receives the user's live provider token
// (never the client's). The tokens are not in the SQLite file in the
// clear; the expired access token is refreshed at the provider; and once
// the provider has revoked the refresh token, the call fails with the
// sign-in-again message and its audit reason.
func TestFederatedSignInOIDCProvider(t *testing.T) {
	node, interop := nodeAndInterop(t)
	browser := browsertest.New(t)
	// The pages are looked at in a narrow window.
	if err := chromedp.Do(browser, chromedp.EmulateViewport(900, 800)); err != nil {
		t.Fatal(err)
	}
	shots := browsertest.ArtifactDir(t, "federation")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	const accessTTL = 4 * time.Second
	iss := oidcprovider.StartWith(t, node, interop, "LOGIN_REDIRECT_URI="+base+login.Callback,
		fmt.Sprintf("LOGIN_ACCESS_TTL=%d", int(accessTTL.Seconds())))

	dir := t.TempDir()
	store, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	kek := make([]byte, 32)
	rand.Read(kek)
	keys := seal.Keys{Current: kek}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	fed, err := federation.New(store, []federation.Provider{{
		Name: "Test IdP", Issuer: iss, ClientID: "mcpgate-login",
		ClientSecret: func() (string, error) { return "login-secret", nil },
	}}, &federation.Options{RedirectURL: base + login.Callback, Keys: keys, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t)
	proxied, err := proxy.NewHTTP(up.srv.URL+"/mcp", &proxy.Options{Credential: fed.Authorization, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	opts := &gateway.Options{Logger: logger, Federation: fed,
		Upstreams: []gateway.Upstream{{Name: "needs-idp-token", Path: "/mcp", Handler: proxied}}}
	opts.AuthServer, err = gateway.NewAuthServer(store, base+"/mcp", &gateway.OAuthOptions{KeyEncryptionKey: kek}, opts)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(store, base+"/mcp", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := &http.Server{Handler: gw.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	// The app's redirect URI: a page that shows the code.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>TypeScript app</title><h1 id="connected">Connected</h1><p>code: <code id="code">%s</code></p>`,
			html.EscapeString(r.URL.Query().Get("code")))
	}))
	t.Cleanup(app.Close)

	ts := startTSClient(t, node, interop, "MCP_URL="+base+"/mcp", "REDIRECT_URL="+app.URL+"/callback", "TOOL=whoami")
	authorize := ts.read().Authorize
	if !strings.HasPrefix(authorize, base+"/authorize?") {
		t.Fatalf("the SDK was sent to %q, not mcpgate's authorization endpoint", authorize)
	}

	// The browser: mcpgate's sign-in page, the provider's login and
	// consent pages, mcpgate's consent page, the app.
	steps := []struct {
		shot string
		do   []chromedp.Action[chromedp.Void]
	}{
		{"1-signin.png", []chromedp.Action[chromedp.Void]{chromedp.Navigate(authorize), chromedp.WaitVisible(chromedp.ID("provider-0"))}},
		{"2-idp-login.png", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.ID("provider-0")), chromedp.WaitVisible(chromedp.CSS("input[name=login]"))}},
		{"3-idp-consent.png", []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.CSS("input[name=login]"), "alice"),
			chromedp.SendKeys(chromedp.CSS("input[name=password]"), "any password"),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitReady(chromedp.CSS("input[name=prompt][value=consent]")),
		}},
		{"4-consent.png", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.ID("approve"))}},
		{"5-app.png", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.ID("code"))}},
	}
	for i, s := range steps {
		if err := chromedp.Do(browser, s.do...); err != nil {
			loc, _ := chromedp.Run(browser, chromedp.Location())
			browsertest.Screenshot(t, browser, shots, fmt.Sprintf("federated-fail-%d.png", i))
			t.Fatalf("browser step %d (%s) at %s: %v", i, s.shot, loc, err)
		}
		browsertest.Screenshot(t, browser, shots, "federated-"+s.shot)
	}
	code, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("code")))
	if err != nil {
		t.Fatal(err)
	}
	if code == "" {
		t.Fatal("the app got no code")
	}
	ts.send(code)

	// The first call: the upstream gets the user's live provider token,
	// which is not the MCP client's token.
	r1 := ts.call()
	if r1.Error != "" || !strings.Contains(string(r1.Result), "hello from upstream") {
		t.Fatalf("first call: %+v", r1)
	}
	first := strings.TrimPrefix(up.last(), "Bearer ")
	if first == "" || first == up.last() {
		t.Fatalf("upstream got Authorization %q", up.last())
	}
	if first == r1.AccessToken {
		t.Fatal("the MCP client's own token was passed to the upstream")
	}
	if status, sub := userinfo(t, iss, first); status != http.StatusOK || sub != "alice" {
		t.Errorf("the forwarded token at the provider's userinfo: %d, sub %q", status, sub)
	}

	// The SQLite file (and its write-ahead log) hold the tokens only
	// sealed.
	wantSubject := federation.Subject(iss, "alice")
	stored, err := store.IdPTokens(t.Context(), wantSubject)
	if err != nil {
		t.Fatalf("no tokens kept for %s: %v", wantSubject, err)
	}
	refresh, _, err := keys.Open(stored.RefreshToken, federation.TokenAAD(wantSubject, iss, "refresh"))
	if err != nil || len(refresh) == 0 {
		t.Fatalf("refresh token: %v", err)
	}
	assertNotInFiles(t, dir, first, string(refresh))

	// The access token expires; the next call refreshes it at the
	// provider, and the upstream gets the new one.
	time.Sleep(accessTTL)
	r2 := ts.call()
	if r2.Error != "" {
		t.Fatalf("call after expiry: %+v", r2)
	}
	second := strings.TrimPrefix(up.last(), "Bearer ")
	if second == first || second == "" {
		t.Fatalf("token not refreshed: upstream got %q again", second)
	}
	if status, sub := userinfo(t, iss, second); status != http.StatusOK || sub != "alice" {
		t.Errorf("the refreshed token at userinfo: %d, sub %q", status, sub)
	}
	assertNotInFiles(t, dir, second)

	// The provider revokes the refresh token: once the access token has
	// expired, the call fails telling the user to sign in again.
	revoke := url.Values{"token": {string(refresh)}, "token_type_hint": {"refresh_token"}}
	req, _ := http.NewRequest(http.MethodPost, iss+"/token/revocation", strings.NewReader(revoke.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("mcpgate-login", "login-secret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke at the provider: %v %v", resp, err)
	}
	time.Sleep(accessTTL)
	seenBefore := up.calls()
	r3 := ts.call()
	if !strings.Contains(r3.Error, "sign in again") {
		t.Fatalf("call after the provider revoked the refresh token: %+v", r3)
	}
	if up.calls() != seenBefore {
		t.Error("the request reached the upstream without a token")
	}
	waitAudit(t, store, mcpgate.ReasonSignInAgain)
	if _, err := store.IdPTokens(t.Context(), wantSubject); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("tokens that can no longer be refreshed are still kept: %v", err)
	}
	ts.send("quit")
}

// assertNotInFiles fails if any secret appears in a file of dir.
func assertNotInFiles(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		checked++
		for _, s := range secrets {
			if len(s) >= 16 && strings.Contains(string(b), s) {
				t.Errorf("%s holds a provider token in the clear", filepath.Base(f))
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no store files in %s", dir)
	}
}

// waitAudit waits for an audit event with reason in the store (the audit
// writer batches).
func waitAudit(t *testing.T, store mcpgate.AuditStore, reason string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := store.ListAudit(t.Context(), time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Reason == reason {
				if ev.Decision != mcpgate.DecisionDeny {
					t.Errorf("audit decision %q, want %q", ev.Decision, mcpgate.DecisionDeny)
				}
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("no audit event with reason %q", reason)
}
