package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/admin"
	"github.com/mcpgate/mcpgate/internal/browsertest"
)

// screenshot saves the whole page at a viewport of w×h.
func screenshot(t *testing.T, ctx context.Context, dir, name string, w, h int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		t.Fatalf("viewport %dx%d: %v", w, h, err)
	}
	browsertest.Screenshot(t, ctx, dir, name)
}

// TestBrowserDashboard signs in to the dashboard in Chromium with an admin
// key, finds the tables and charts filled from the store, revokes a key,
// and saves screenshots at desktop and phone sizes.
func TestBrowserDashboard(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	adminKey, _ := s.key(t, "ops-lead", admin.Scope)
	_, bobID := s.key(t, "bob", "docs:read", "notes:read", "notes:write")
	s.key(t, "ci-bot", "docs:read")
	if err := s.cli.CreateClient(ctx, &mcpgate.Client{ID: "notes-app", Name: "Team Notes", RedirectURIs: []string{"https://notes.example.com/callback"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Source: "cli", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.cli.CreateClient(ctx, &mcpgate.Client{ID: "https://claude.ai/oauth/mcp-client-metadata", Name: "Claude", RedirectURIs: []string{"https://claude.ai/api/mcp/auth_callback"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Source: "cimd", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.cli.SaveGrant(ctx, &mcpgate.Grant{ID: "grant-1", Subject: "alice", ClientID: "notes-app", Scopes: []string{"notes:read", "notes:write"},
		Resource: "https://mcp.example.com/mcp", CreatedAt: time.Now().Add(-time.Hour), LastUsed: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A day of traffic: steady requests, a burst of rate-limited ones and
	// a few refusals.
	now := time.Now()
	var events []*mcpgate.AuditEvent
	for i := range 48 {
		at := now.Add(-time.Duration(i) * 30 * time.Minute)
		n := 20 + (i*7)%15
		for range n {
			events = append(events, &mcpgate.AuditEvent{Time: at, Subject: "bob", KeyID: bobID, Method: "tools/call", Target: "notes_create",
				Decision: mcpgate.DecisionAllow, Status: 200, Remote: "10.0.0.7:40000"})
		}
		if i%9 == 2 {
			events = append(events, &mcpgate.AuditEvent{Time: at, Subject: "bob", KeyID: bobID, Method: "tools/call", Target: "notes_delete",
				Decision: mcpgate.DecisionDeny, Reason: mcpgate.ReasonInsufficientScope, Status: 403, Remote: "10.0.0.7:40000"})
		}
		if i == 5 || i == 6 {
			for range 12 {
				events = append(events, &mcpgate.AuditEvent{Time: at, Subject: "bob", KeyID: bobID, Method: "tools/call", Target: "docs_search",
					Decision: mcpgate.DecisionRateLimited, Reason: "principal", Status: 429, Remote: "10.0.0.7:40000"})
			}
		}
	}
	events = append(events, &mcpgate.AuditEvent{Time: now.Add(-3 * time.Minute), Method: "POST",
		Decision: mcpgate.DecisionUnauthenticated, Reason: mcpgate.ReasonUnknownKey, Status: 401, Remote: "203.0.113.9:51515"})
	if err := s.cli.AppendAudit(ctx, events...); err != nil {
		t.Fatal(err)
	}

	b := browsertest.New(t)
	dir := browsertest.ArtifactDir(t, "admin")
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("open dashboard", chromedp.Do(b,
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("api_key")),
	))
	loc, err := chromedp.Run(b, chromedp.Location())
	must("location", err)
	if !strings.HasSuffix(loc, "/signin") {
		t.Errorf("signed out, / went to %s, want /signin", loc)
	}
	screenshot(t, b, dir, "01-signin-1280x800.png", 1280, 800)

	// A key without the admin scope is refused.
	plain, _ := s.key(t, "carol", "docs:read")
	must("sign in without the scope", chromedp.Do(b,
		chromedp.SendKeys(chromedp.ID("api_key"), plain),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("error")),
	))
	msg, err := chromedp.Run(b, chromedp.Text(chromedp.ID("error")))
	must("error text", err)
	if !strings.Contains(msg, "mcpgate:admin") {
		t.Errorf("refusal says %q", msg)
	}
	screenshot(t, b, dir, "02-signin-refused-390x844.png", 390, 844)

	must("sign in", chromedp.Do(b,
		chromedp.EmulateViewport(1280, 800),
		chromedp.SendKeys(chromedp.ID("api_key"), adminKey),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("activity")),
	))
	for _, sel := range []string{"#keys tbody tr", "#clients tbody tr", "#grants tbody tr", "#denials tbody tr", "#chart-requests rect.b", "#chart-rate-limited rect.b"} {
		nodes, err := chromedp.Run(b, chromedp.Nodes(chromedp.CSS(sel), chromedp.AtLeast(0)))
		must(sel, err)
		if len(nodes) == 0 {
			t.Errorf("dashboard shows no %s", sel)
		}
	}
	total, err := chromedp.Run(b, chromedp.Text(chromedp.ID("total-rate-limited")))
	must("rate-limited total", err)
	if total != "24" {
		t.Errorf("rate-limited total = %q, want 24", total)
	}
	screenshot(t, b, dir, "03-dashboard-1280x800.png", 1280, 800)
	screenshot(t, b, dir, "04-dashboard-390x844.png", 390, 844)
	// On a phone the page does not scroll sideways: wide tables scroll
	// inside their panel.
	must("phone viewport", chromedp.Do(b, chromedp.EmulateViewport(390, 844)))
	wide, err := chromedp.Run(b, chromedp.Evaluate[string](`(() => {
		const out = [];
		for (const e of document.querySelectorAll('body *')) {
			const r = e.getBoundingClientRect();
			if (r.right > window.innerWidth + 1 && !e.closest('.scroll')) out.push(e.tagName + '.' + e.className + ' ' + Math.round(r.right));
		}
		return document.documentElement.scrollWidth + ' ' + window.innerWidth + ' ' + out.slice(0, 8).join(', ');
	})()`))
	must("measure width", err)
	if !strings.HasPrefix(wide, "390 390 ") {
		t.Errorf("at 390 px wide the page is %s px wide (elements past the edge)", wide)
	}

	// Revoke bob's key.
	must("revoke", chromedp.Do(b,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Click(chromedp.CSS(`button[data-key="`+bobID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	))
	k, err := s.store.Key(ctx, bobID)
	if err != nil || k.RevokedAt.IsZero() {
		t.Errorf("bob's key after revoking it in the browser: %+v, %v", k, err)
	}
	state, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`#key-`+bobID+` .state`)))
	must("state", err)
	if state != "revoked" {
		t.Errorf("bob's key shows %q, want revoked", state)
	}
	if n, _ := chromedp.Run(b, chromedp.Nodes(chromedp.CSS(`button[data-key="`+bobID+`"]`), chromedp.AtLeast(0))); len(n) != 0 {
		t.Error("a revoked key still has a revoke button")
	}
	screenshot(t, b, dir, "05-revoked-1280x800.png", 1280, 800)

	// The shared stylesheet's dark theme.
	must("dark", chromedp.Do(b, browsertest.Emulate(browsertest.Viewport{Width: 1280, Height: 800, Dark: true}), chromedp.Reload()))
	screenshot(t, b, dir, "06-dashboard-dark-1280x800.png", 1280, 800)
	screenshot(t, b, dir, "07-dashboard-dark-390x844.png", 390, 844)

	must("sign out", chromedp.Do(b,
		chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(chromedp.ID("api_key")),
	))
}
