package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/admin"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/sqlite"
)

// site is an admin listener with the dashboard over a real SQLite store,
// signing in with the key verifier of a real gateway on the same store,
// whose change-feed watcher keeps it current.
type site struct {
	store *sqlite.DB
	cli   *sqlite.DB // the same store opened again, as the CLI does
	gw    *gateway.Gateway
	srv   *httptest.Server
}

func newSite(t *testing.T) *site {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cli, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	gw, err := gateway.New(store, "http://127.0.0.1/mcp", &gateway.Options{ChangePoll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	dash, err := admin.NewDashboard(store, gw.KeyVerifier(), &admin.DashboardOptions{
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.Handler(&admin.Options{Metrics: admin.NewMetrics(), Dashboard: dash.Handler()}))
	t.Cleanup(srv.Close)
	return &site{store: store, cli: cli, gw: gw, srv: srv}
}

// key creates an API key with scopes and returns it and its id.
func (s *site) key(t *testing.T, subject string, scopes ...string) (string, string) {
	t.Helper()
	key, id, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	err = s.cli.CreateKey(context.Background(), &mcpgate.APIKey{ID: id, Name: subject + "'s key", Subject: subject,
		Scopes: scopes, Hash: hash, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// browser is an HTTP client with cookies that sends what a browser sends
// with a same-origin form.
type browser struct {
	t    *testing.T
	site *site
	c    *http.Client
}

func (s *site) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, site: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header.Get("Location"), string(body), resp.Header}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.site.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form as the dashboard's own page does: same origin.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.site.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.site.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// signIn signs in with key and returns the dashboard's CSRF token.
func (b *browser) signIn(key string) string {
	b.t.Helper()
	p := b.get("/signin")
	p = b.post("/signin", url.Values{"csrf": {csrfOf(b.t, p.body)}, "api_key": {key}})
	if p.status != http.StatusSeeOther || p.location != "/" {
		b.t.Fatalf("sign-in: %d to %q, want 303 to /:\n%s", p.status, p.location, p.body)
	}
	p = b.get("/")
	if p.status != http.StatusOK {
		b.t.Fatalf("dashboard after sign-in: %d %q", p.status, p.location)
	}
	return csrfOf(b.t, p.body)
}

func TestDashboardNeedsSignIn(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	for _, path := range []string{"/", "/?range=1h"} {
		if p := b.get(path); p.status != http.StatusSeeOther || p.location != "/signin" {
			t.Errorf("GET %s signed out = %d to %q, want 303 to /signin", path, p.status, p.location)
		}
	}
	p := b.get("/signin")
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="signin-form"`) {
		t.Fatalf("GET /signin = %d:\n%s", p.status, p.body)
	}
	checkPageHeaders(t, p.header)
	for _, path := range []string{"/keys/revoke", "/grants/revoke"} {
		p := b.post(path, url.Values{"key": {"x"}, "grant": {"x"}})
		if p.status != http.StatusSeeOther || p.location != "/signin" {
			t.Errorf("POST %s signed out = %d to %q, want 303 to /signin", path, p.status, p.location)
		}
	}
	// The admin listener's other endpoints are where they were.
	if p := b.get("/healthz"); p.status != http.StatusOK {
		t.Errorf("GET /healthz = %d", p.status)
	}
	if p := b.get("/metrics"); p.status != http.StatusOK || !strings.Contains(p.body, "mcpgate_key_cache_entries") {
		t.Errorf("GET /metrics = %d, without mcpgate_key_cache_entries", p.status)
	}
}

func checkPageHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "style-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q allows script or inline content", csp)
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestSigninRefusals(t *testing.T) {
	s := newSite(t)
	plain, _ := s.key(t, "bob", "docs:read", "notes:read")
	admin1, _ := s.key(t, "root", admin.Scope)
	b := s.browser(t)
	token := csrfOf(t, b.get("/signin").body)

	tests := []struct {
		name, key string
		want      int
		text      string
	}{
		{"key without the admin scope", plain, http.StatusForbidden, "does not carry the mcpgate:admin scope"},
		{"made-up key", "mcpg_nothing", http.StatusUnauthorized, "That key was not accepted."},
		{"right id, wrong secret", admin1[:len(admin1)-10] + "AAAAAAAAAA", http.StatusUnauthorized, "That key was not accepted."},
		{"no key", "", http.StatusBadRequest, "Enter an mcpgate API key."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post("/signin", url.Values{"csrf": {token}, "api_key": {tt.key}})
			if p.status != tt.want || !strings.Contains(p.body, tt.text) {
				t.Errorf("sign-in = %d, want %d with %q:\n%s", p.status, tt.want, tt.text, p.body)
			}
			if p := b.get("/"); p.status != http.StatusSeeOther {
				t.Errorf("dashboard after a refused sign-in = %d, want 303", p.status)
			}
		})
	}
	t.Run("no CSRF token", func(t *testing.T) {
		p := b.post("/signin", url.Values{"api_key": {admin1}})
		if p.status != http.StatusForbidden {
			t.Errorf("sign-in without the form's token = %d, want 403", p.status)
		}
	})
	t.Run("cross-site form", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/signin", strings.NewReader(url.Values{"csrf": {token}, "api_key": {admin1}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if p := b.do(req); p.status != http.StatusForbidden {
			t.Errorf("cross-site sign-in = %d, want 403", p.status)
		}
	})
	t.Run("failures are rate-limited", func(t *testing.T) {
		// Three failures above; the address's budget is ten.
		var p page
		for i := 0; i < 10; i++ {
			p = b.post("/signin", url.Values{"csrf": {token}, "api_key": {"mcpg_nothing"}})
			if p.status == http.StatusTooManyRequests {
				break
			}
		}
		if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
			t.Fatalf("after many failures: %d (Retry-After %q), want 429", p.status, p.header.Get("Retry-After"))
		}
		// Locked out: even the right key waits.
		if p := b.post("/signin", url.Values{"csrf": {token}, "api_key": {admin1}}); p.status != http.StatusTooManyRequests {
			t.Errorf("right key while locked out = %d, want 429", p.status)
		}
	})
}

func TestRevokedKeyEndsSession(t *testing.T) {
	s := newSite(t)
	key, id := s.key(t, "root", admin.Scope)
	b := s.browser(t)
	b.signIn(key)
	// Revoked by the CLI, through another handle on the store: the
	// gateway's change-feed watcher brings it.
	if err := s.cli.RevokeKey(context.Background(), id, time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		p := b.get("/")
		if p.status == http.StatusSeeOther && p.location == "/signin?ended=key" {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("a second after the key's revocation the dashboard still answers %d %q", p.status, p.location)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("session ended %v after the revocation", time.Since(start).Round(time.Millisecond))
	if p := b.get("/signin?ended=key"); !strings.Contains(p.body, "no longer valid") {
		t.Errorf("sign-in page does not say why the session ended:\n%s", p.body)
	}
	if p := b.get("/"); p.status != http.StatusSeeOther || p.location != "/signin" {
		t.Errorf("after the session ended: %d %q, want 303 to /signin", p.status, p.location)
	}
}

func TestRevokeKey(t *testing.T) {
	s := newSite(t)
	adminKey, adminID := s.key(t, "root", admin.Scope)
	victim, victimID := s.key(t, "bob", "docs:read")
	b := s.browser(t)
	csrf := b.signIn(adminKey)
	ctx := context.Background()

	refused := []struct {
		name string
		send func() page
	}{
		{"no CSRF token", func() page { return b.post("/keys/revoke", url.Values{"key": {victimID}}) }},
		{"wrong CSRF token", func() page {
			return b.post("/keys/revoke", url.Values{"key": {victimID}, "csrf": {csrf[:len(csrf)-1] + "x"}})
		}},
		{"another session's token", func() page {
			other := s.browser(t).signIn(adminKey)
			return b.post("/keys/revoke", url.Values{"key": {victimID}, "csrf": {other}})
		}},
		{"cross-site", func() page {
			req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/keys/revoke", strings.NewReader(url.Values{"key": {victimID}, "csrf": {csrf}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			return b.do(req)
		}},
		{"foreign Origin", func() page {
			req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/keys/revoke", strings.NewReader(url.Values{"key": {victimID}, "csrf": {csrf}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			return b.do(req)
		}},
	}
	last, err := s.store.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if p := tt.send(); p.status != http.StatusForbidden {
				t.Errorf("status %d, want 403", p.status)
			}
			k, err := s.store.Key(ctx, victimID)
			if err != nil || !k.RevokedAt.IsZero() {
				t.Errorf("key revoked by a refused form: %+v, %v", k, err)
			}
		})
	}
	if now, _ := s.store.LastChange(ctx); now != last {
		t.Errorf("refused forms wrote to the change feed: %d → %d", last, now)
	}

	p := b.post("/keys/revoke", url.Values{"key": {victimID}, "csrf": {csrf}})
	if p.status != http.StatusSeeOther || p.location != "/?done=key" {
		t.Fatalf("revoke = %d to %q:\n%s", p.status, p.location, p.body)
	}
	k, err := s.store.Key(ctx, victimID)
	if err != nil || k.RevokedAt.IsZero() {
		t.Fatalf("key after revoke: %+v, %v", k, err)
	}
	changes, err := s.store.ChangesSince(ctx, last)
	if err != nil || len(changes) != 1 || changes[0].Kind != mcpgate.ChangeKey || changes[0].ID != victimID {
		t.Errorf("change feed after revoke = %+v, %v; want one key change for %s", changes, err, victimID)
	}
	// The MCP endpoint refuses the key within the feed's delay.
	deadline := time.Now().Add(time.Second)
	for {
		_, err := s.gw.KeyVerifier().Verify(ctx, victim)
		if errors.Is(err, mcpgate.ErrUnauthenticated) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still verifies a second later: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	page := b.get("/?done=key")
	if !strings.Contains(page.body, `id="notice"`) || !regexp.MustCompile(`(?s)id="key-`+victimID+`" class="revoked"`).MatchString(page.body) {
		t.Errorf("dashboard after revoke lacks the notice or the revoked row:\n%s", page.body)
	}
	if p := b.post("/keys/revoke", url.Values{"key": {"nosuchkey"}, "csrf": {csrf}}); p.status != http.StatusNotFound {
		t.Errorf("revoking an unknown key = %d, want 404", p.status)
	}
	// Revoking the key one signed in with ends one's own session.
	b.post("/keys/revoke", url.Values{"key": {adminID}, "csrf": {csrf}})
	if p := b.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("dashboard after revoking one's own key = %d, want 303", p.status)
	}
}

func TestRevokeGrant(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	adminKey, _ := s.key(t, "root", admin.Scope)
	if err := s.cli.CreateClient(ctx, &mcpgate.Client{ID: "notes-app", Name: "Team Notes", RedirectURIs: []string{"https://notes.example/cb"},
		GrantTypes: []string{"authorization_code"}, Source: "cli", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	g := &mcpgate.Grant{ID: "grant-1", Subject: "alice", ClientID: "notes-app", Scopes: []string{"notes:read"},
		Resource: "http://127.0.0.1/mcp", CreatedAt: time.Now()}
	if err := s.cli.SaveGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	// A grant of a client the store no longer has shows its id.
	if err := s.cli.SaveGrant(ctx, &mcpgate.Grant{ID: "grant-2", Subject: "bob", ClientID: "gone-app", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	csrf := b.signIn(adminKey)
	p := b.get("/")
	if !strings.Contains(p.body, `id="grant-grant-1"`) || !strings.Contains(p.body, "Team Notes") ||
		!regexp.MustCompile(`(?s)id="grant-grant-2">\s*<td>gone-app</td>`).MatchString(p.body) {
		t.Fatalf("dashboard lacks the grant:\n%s", p.body)
	}
	if p := b.post("/grants/revoke", url.Values{"grant": {"grant-1"}}); p.status != http.StatusForbidden {
		t.Errorf("revoke without CSRF = %d, want 403", p.status)
	}
	if got, _ := s.store.Grant(ctx, "grant-1"); !got.RevokedAt.IsZero() {
		t.Fatal("grant revoked without the CSRF token")
	}
	p = b.post("/grants/revoke", url.Values{"grant": {"grant-1"}, "csrf": {csrf}})
	if p.status != http.StatusSeeOther || p.location != "/?done=grant" {
		t.Fatalf("revoke grant = %d %q:\n%s", p.status, p.location, p.body)
	}
	if got, _ := s.store.Grant(ctx, "grant-1"); got.RevokedAt.IsZero() {
		t.Error("grant not revoked")
	}
	if p := b.get("/?done=grant"); strings.Contains(p.body, `id="grant-grant-1"`) {
		t.Error("revoked grant still listed")
	}
	if p := b.post("/grants/revoke", url.Values{"grant": {"nope"}, "csrf": {csrf}}); p.status != http.StatusNotFound {
		t.Errorf("revoking an unknown grant = %d, want 404", p.status)
	}
}

func TestDashboardShows(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	adminKey, adminID := s.key(t, "root", admin.Scope)
	_, bobID := s.key(t, "bob", "docs:read")
	now := time.Now()
	var events []*mcpgate.AuditEvent
	add := func(n int, decision, reason string, ago time.Duration) {
		for range n {
			events = append(events, &mcpgate.AuditEvent{Time: now.Add(-ago), Subject: "bob", KeyID: bobID, Method: "tools/call",
				Target: "notes_create", Decision: decision, Reason: reason, Status: 200, Remote: "10.0.0.7:5555"})
		}
	}
	add(40, mcpgate.DecisionAllow, "", time.Minute)
	add(7, mcpgate.DecisionAllow, "", 3*time.Hour)
	add(3, mcpgate.DecisionDeny, mcpgate.ReasonInsufficientScope, 2*time.Minute)
	add(2, mcpgate.DecisionUnauthenticated, mcpgate.ReasonUnknownKey, 5*time.Minute)
	add(5, mcpgate.DecisionRateLimited, "", 10*time.Minute)
	add(9, mcpgate.DecisionAllow, "", 48*time.Hour) // outside every range but 7 days
	if err := s.cli.AppendAudit(ctx, events...); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.signIn(adminKey)
	for _, tt := range []struct {
		rng                     string
		requests, denied, limit string
	}{
		{"1h", "50", "5", "5"},
		{"", "57", "5", "5"}, // 24 hours by default
		{"7d", "66", "5", "5"},
	} {
		p := b.get("/?range=" + tt.rng)
		for id, want := range map[string]string{"requests": tt.requests, "denials": tt.denied, "rate-limited": tt.limit} {
			re := regexp.MustCompile(`id="total-` + id + `">([^<]*)<`)
			if m := re.FindStringSubmatch(p.body); m == nil || m[1] != want {
				t.Errorf("range %q: chart %s total = %v, want %s", tt.rng, id, m, want)
			}
		}
		if n := strings.Count(p.body, `<rect class="b all"`); n == 0 {
			t.Errorf("range %q: no bar in the requests chart", tt.rng)
		}
	}
	p := b.get("/")
	for _, want := range []string{
		`id="key-` + adminID + `"`, `id="key-` + bobID + `"`, "root&#39;s key", `<code class="scope">mcpgate:admin</code>`,
		`insufficient_scope`, `unknown_key`, `rate_limited`, "10.0.0.7:5555",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<script") {
		t.Error("dashboard has a script")
	}
	checkPageHeaders(t, p.header)
	// Sign out.
	csrf := csrfOf(t, p.body)
	if p := b.post("/signout", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther || p.location != "/signin" {
		t.Errorf("sign out = %d %q", p.status, p.location)
	}
	if p := b.get("/"); p.status != http.StatusSeeOther || p.location != "/signin?ended=expired" && p.location != "/signin" {
		t.Errorf("dashboard after sign out = %d %q", p.status, p.location)
	}
}
