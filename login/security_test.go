package login

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate"
)

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.grants.add(&mcpgate.Grant{ID: "g1", Subject: "alice", ClientID: "cli-app", Scopes: []string{"notes:read"}})
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	a := e.agent()
	wantRedirect(t, a.login(req, "alice", alicePassword), "/consent?req="+req)
	consent := a.get("/consent?req=" + req)
	wantStatus(t, consent, http.StatusOK)
	good := csrf(t, consent)
	wrong := strings.ToUpper(good[:1]) + good[1:]
	if wrong == good {
		wrong = "x" + good[1:]
	}

	tests := []struct {
		name string
		path string
		form url.Values
	}{
		{"consent missing", "/consent", url.Values{"req": {req}, "action": {"approve"}, "scope": {"notes:read"}}},
		{"consent wrong", "/consent", url.Values{"csrf": {wrong}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}}},
		{"consent deny wrong", "/consent", url.Values{"csrf": {"x"}, "req": {req}, "action": {"deny"}}},
		{"revoke missing", "/apps", url.Values{"grant": {"g1"}}},
		{"revoke wrong", "/apps", url.Values{"csrf": {wrong}, "grant": {"g1"}}},
		{"logout missing", "/logout", url.Values{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, a.post(tt.path, tt.form), http.StatusForbidden)
		})
	}
	if len(e.backend.approvals) != 0 || len(e.backend.denials) != 0 || len(e.grants.revocations()) != 0 {
		t.Fatalf("a refused form had an effect: %d approvals, %d denials, %d revocations",
			len(e.backend.approvals), len(e.backend.denials), len(e.grants.revocations()))
	}
	// The good token still works afterwards.
	res := a.post("/consent", url.Values{"csrf": {good}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
	wantStatus(t, res, http.StatusSeeOther)
}

func TestLoginCSRF(t *testing.T) {
	e := newEnv(t, nil)
	a := e.agent()
	page := a.get("/login")
	token := csrf(t, page)
	form := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "method": {"password"}, "username": {"alice"}, "password": {alicePassword}}
	}
	wantStatus(t, a.post("/login", form("")), http.StatusForbidden)
	wantStatus(t, a.post("/login", form(token+"x")), http.StatusForbidden)
	// A token without the matching cookie (another browser's) is refused.
	other := e.agent()
	wantStatus(t, other.post("/login", form(token)), http.StatusForbidden)
	// A second tab reuses the cookie's token.
	if again := csrf(t, a.get("/login")); again != token {
		t.Errorf("second login page token %q, want the cookie's %q", again, token)
	}
	wantRedirect(t, a.post("/login", form(token)), "/apps")
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t, nil)
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	a := e.agent()
	wantRedirect(t, a.login(req, "alice", alicePassword), "/consent?req="+req)
	consent := a.get("/consent?req=" + req)
	form := url.Values{"csrf": {csrf(t, consent)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}}

	tests := []struct {
		name   string
		header map[string]string
	}{
		{"sec-fetch-site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"sec-fetch-site same-site", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"origin mismatch", map[string]string{"Origin": "https://evil.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.header = http.Header{}
			for k, v := range tt.header {
				a.header.Set(k, v)
			}
			res := a.post("/consent", form)
			wantStatus(t, res, http.StatusForbidden)
			if !strings.Contains(res.Body, "another site") {
				t.Errorf("no cross-origin message:\n%s", res.Body)
			}
			wantSecurityHeaders(t, res)
		})
	}
	if len(e.backend.approvals) != 0 {
		t.Fatal("cross-origin approve reached the server")
	}
	a.header = http.Header{"Sec-Fetch-Site": {"same-origin"}}
	wantStatus(t, a.post("/consent", form), http.StatusSeeOther)
}

func wantSecurityHeaders(t *testing.T, r *response) {
	t.Helper()
	csp := r.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	for k, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t, nil)
	e.grants.add(&mcpgate.Grant{ID: "g1", Subject: "alice", ClientID: "cli-app", Scopes: []string{"notes:read"}})
	req := e.backend.addRequest("dcr-app", "http://127.0.0.1:33418/cb", "notes:read")
	anon := e.agent()
	a := e.agent()
	wantRedirect(t, a.login("", "alice", alicePassword), "/apps")
	pages := []struct {
		name string
		get  func() *response
	}{
		{"login", func() *response { return anon.get("/login") }},
		{"login for request", func() *response { return anon.get("/login?req=" + req) }},
		{"login error", func() *response { return anon.login("", "alice", "wrong") }},
		{"expired request", func() *response { return a.get("/consent?req=nope") }},
		{"consent", func() *response { return a.get("/consent?req=" + req) }},
		{"apps", func() *response { return a.get("/apps") }},
		{"unknown path", func() *response { return anon.get("/login/nope") }},
		{"wrong method", func() *response { return anon.get("/logout") }},
		{"not found revoke", func() *response {
			return a.post("/apps", url.Values{"csrf": {csrf(t, a.get("/apps"))}, "grant": {"nope"}})
		}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			wantSecurityHeaders(t, p.get())
		})
	}

	// Consent and the login page for a request let the form's redirect
	// reach the app's origin, and nothing else.
	for _, path := range []string{"/consent?req=" + req, "/login?req=" + req} {
		ag := a
		if strings.HasPrefix(path, "/login") {
			ag = anon
		}
		csp := ag.get(path).Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "form-action 'self' http://127.0.0.1:33418;") {
			t.Errorf("%s: CSP %q does not allow the redirect origin", path, csp)
		}
	}
	if csp := a.get("/apps").Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self';") {
		t.Errorf("apps CSP %q allows forms elsewhere", csp)
	}

	css := anon.get("/login/style.css")
	wantStatus(t, css, http.StatusOK)
	if ct := css.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("stylesheet Content-Type %q", ct)
	}
}

func TestRedirectSource(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://app.example.com/cb?x=1", "https://app.example.com"},
		{"http://127.0.0.1:33418/callback", "http://127.0.0.1:33418"},
		{"http://[::1]:8080/cb", "http://[::1]:8080"},
		{"HTTPS://App.Example.com/cb", "https://app.example.com"},
		{"cursor://anysphere.cursor-retrieval/oauth/callback", "cursor:"},
		{"com.example.app:/oauth2redirect", "com.example.app:"},
		{"https://a.example;script-src *", ""},
		{"https://a.example%20b/cb", ""},
		{"", ""},
		{"/relative", ""},
	}
	for _, tt := range tests {
		if got := redirectSource(tt.in); got != tt.want {
			t.Errorf("redirectSource(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		issuer     string
		secureOpt  bool
		wantName   string
		wantSecure bool
	}{
		{"https issuer", "https://mcp.example.com", true, "__Host-mcpgate-session", true},
		{"https issuer ignores insecure option", "https://mcp.example.com", false, "__Host-mcpgate-session", true},
		{"no issuer", "", false, "__Host-mcpgate-session", true},
		{"plain http on a public name stays secure", "http://mcp.example.com", false, "__Host-mcpgate-session", true},
		{"loopback dev", "http://127.0.0.1:8080", false, "mcpgate-session", false},
		{"localhost dev", "http://localhost:8080", false, "mcpgate-session", false},
		{"loopback dev asking for secure", "http://127.0.0.1:8080", true, "__Host-mcpgate-session", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Issuer, o.SecureCookies = tt.issuer, tt.secureOpt })
			res := e.agent().login("", "alice", alicePassword)
			wantRedirect(t, res, "/apps")
			var c *http.Cookie
			for _, ck := range res.Cookies {
				if strings.HasSuffix(ck.Name, "mcpgate-session") {
					c = ck
				}
			}
			if c == nil {
				t.Fatalf("no session cookie among %v", res.Cookies)
			}
			if c.Name != tt.wantName {
				t.Errorf("name %q, want %q", c.Name, tt.wantName)
			}
			if c.Secure != tt.wantSecure {
				t.Errorf("Secure %v, want %v", c.Secure, tt.wantSecure)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie %q: want HttpOnly, SameSite=Lax, Path=/, no Domain", c.Raw)
			}
			if len(c.Value) != 43 {
				t.Errorf("session id %d characters, want 43 (256 bits)", len(c.Value))
			}
		})
	}
}

func TestNewRejectsBadIssuer(t *testing.T) {
	for _, iss := range []string{"ftp://x", "not a url", "https://"} {
		if _, err := New(newFakeBackend(), newFakeUsers(), newFakeGrants(), nil, &Options{Issuer: iss}); err == nil {
			t.Errorf("New accepted issuer %q", iss)
		}
	}
	if _, err := New(nil, newFakeUsers(), newFakeGrants(), nil, nil); err == nil {
		t.Error("New accepted a nil backend")
	}
}

// TestNoSecretsLogged signs in and fails to, with passwords and keys, and
// checks that none of them, nor a session id or CSRF token, reaches the log.
func TestNoSecretsLogged(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.grants.add(&mcpgate.Grant{ID: "g1", Subject: "alice", ClientID: "cli-app"})
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	a := e.agent()
	a.login(req, "alice", "hunter2-wrong-password")
	a.loginKey(req, testAPIKey+"x")
	a.loginKey(req, testToken)
	k := e.agent()
	wantRedirect(t, k.loginKey("", testAPIKey), "/apps")
	wantRedirect(t, a.login(req, "alice", alicePassword), "/consent?req="+req)
	consent := a.get("/consent?req=" + req)
	a.post("/consent", url.Values{"csrf": {csrf(t, consent)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
	apps := a.get("/apps")
	a.post("/apps", url.Values{"csrf": {csrf(t, apps)}, "grant": {"g1"}})

	out := logs.String()
	if !strings.Contains(out, "signed in") || !strings.Contains(out, "sign-in failed") || !strings.Contains(out, "grant revoked") {
		t.Fatalf("expected events missing from the log:\n%s", out)
	}
	for _, secret := range []string{"hunter2-wrong-password", alicePassword, testAPIKey, testToken,
		a.cookies["mcpgate-session"], k.cookies["mcpgate-session"], csrf(t, apps)} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains secret %.12q…:\n%s", secret, out)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FuzzRedirectSource checks that whatever a redirect URI holds, what goes
// into the Content-Security-Policy header is one source expression: no
// separator, space, quote or control character that could add directives.
func FuzzRedirectSource(f *testing.F) {
	for _, s := range []string{"https://app.example.com/cb", "http://127.0.0.1:33418/cb", "cursor://x/y",
		"https://a;b", "https://a b", "http://[::1]:80/", "a'b:/x", "HTTPS://X\x00/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		src := redirectSource(uri)
		if strings.ContainsAny(src, ";, '\"\t\r\n\x00") {
			t.Fatalf("redirectSource(%q) = %q", uri, src)
		}
		for _, c := range src {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("redirectSource(%q) = %q: non-printable byte", uri, src)
			}
		}
		if src != "" && !strings.HasSuffix(src, ":") && !strings.Contains(src, "://") {
			t.Fatalf("redirectSource(%q) = %q: neither a scheme nor an origin", uri, src)
		}
	})
}
