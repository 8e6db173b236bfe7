package login

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/browsertest"
)

// newBrowser starts headless Chromium (see package browsertest).
func newBrowser(t *testing.T) context.Context { return browsertest.New(t) }

// artifactDir is where screenshots go: $MCPGATE_ARTIFACTS/login, or a
// temporary directory.
func artifactDir(t *testing.T) string { return browsertest.ArtifactDir(t, "login") }

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, dir, name)
}

// browserSite is the pages plus a stand-in /authorize endpoint, on one
// origin, and an app's callback on another.
type browserSite struct {
	backend *fakeBackend
	grants  *fakeGrants
	gate    *httptest.Server
	app     *httptest.Server
}

// newAppServer is an MCP client's side of the browser flow: the callback
// page the browser lands on, and pages that frame others.
func newAppServer(t *testing.T) *httptest.Server {
	t.Helper()
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/callback":
			fmt.Fprintf(w, `<!doctype html><title>Team Notes</title><h1 id="connected">Team Notes is connected</h1><p>code: <code id="code">%s</code></p>`,
				html.EscapeString(r.URL.Query().Get("code")))
		case "/frame":
			fmt.Fprintf(w, `<!doctype html><title>Framing test</title><h1>A page on another site</h1><iframe id="victim" width="640" height="420" src="%s"></iframe>`,
				html.EscapeString(r.URL.Query().Get("src")))
		default:
			http.NotFound(w, r)
		}
	}))
}

func newBrowserSite(t *testing.T) *browserSite {
	t.Helper()
	ah, _ := testHashes(t)
	s := &browserSite{backend: newFakeBackend(), grants: newFakeGrants()}
	s.backend.grants = s.grants
	users := newFakeUsers()
	if err := users.CreateUser(t.Context(), &mcpgate.User{Name: "alice", PasswordHash: ah, Scopes: []string{"notes:read", "notes:write", "docs:read"}}); err != nil {
		t.Fatal(err)
	}

	s.app = newAppServer(t)
	s.backend.addClient(&mcpgate.Client{ID: "notes-app", Name: "Team Notes", RedirectURIs: []string{s.app.URL + "/callback"}, Source: "cli"})

	var pages *Pages
	s.gate = newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/authorize" {
			// What the authorization server does: keep the request, send
			// the browser to sign in.
			id := s.backend.addRequest("notes-app", s.app.URL+"/callback", "notes:read", "notes:write")
			http.Redirect(w, r, "/login?req="+id, http.StatusFound)
			return
		}
		if r.URL.Path == "/framable" {
			// Not one of the pages: a control that may be framed.
			fmt.Fprint(w, `<!doctype html><p id="inner">framable page</p>`)
			return
		}
		pages.Handler().ServeHTTP(w, r)
	}))
	var err error
	pages, err = New(s.backend, users, s.grants, fakeKeys{}, &Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Issuer: s.gate.URL,
		// Production cookie settings: Secure and __Host-, which Chromium
		// accepts on loopback.
		SecureCookies: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBrowserLoginConsentAppsRevoke drives the whole flow in Chromium
// against the real authorization server over SQLite: sign in (after one
// wrong password), consent, land on the app's callback with a code that
// redeems for a token, see the app under connected apps, revoke it, and
// find the token dead.
func TestBrowserLoginConsentAppsRevoke(t *testing.T) {
	app := newAppServer(t)
	site := newRealSiteFor(t, app.URL+"/callback", true)
	ctx := newBrowser(t)
	dir := artifactDir(t)

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		must("text of "+sel, err)
		return s
	}

	// The app sends the browser to the authorization endpoint, which sends
	// it on to sign in.
	must("open authorize", chromedp.Do(ctx,
		chromedp.Navigate(site.http.URL+site.authorizePath("notes:read notes:write")),
		chromedp.WaitVisible(chromedp.ID("username")),
	))
	if got := text(".client"); got != "Team Notes" {
		t.Errorf("sign-in page names %q, want Team Notes", got)
	}
	screenshot(t, ctx, dir, "01-login.png")

	must("wrong password", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "wrong password"),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("error")),
	))
	if got := text("#error"); got != msgBadPassword {
		t.Errorf("error %q, want %q", got, msgBadPassword)
	}
	screenshot(t, ctx, dir, "02-login-error.png")

	must("sign in", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("approve")),
	))
	if got := text("#client-name"); got != "Team Notes" {
		t.Errorf("consent names %q", got)
	}
	appHost := strings.TrimPrefix(app.URL, "http://")
	if got := text("#redirect-host"); got != appHost {
		t.Errorf("consent shows redirect host %q, want %q", got, appHost)
	}
	if body := text("ul.scopes"); !strings.Contains(body, "Read your notes") || !strings.Contains(body, "Create notes on your behalf") {
		t.Errorf("scopes not in plain words: %q", body)
	}
	screenshot(t, ctx, dir, "03-consent.png")

	// Approve: the form's redirect leaves for the app's origin, which the
	// page's form-action allows.
	must("approve", chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("connected")),
	))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	must("location", err)
	if !strings.HasPrefix(loc, app.URL+"/callback?") {
		t.Fatalf("landed on %q, want the app's callback", loc)
	}
	screenshot(t, ctx, dir, "04-redirect.png")
	token := site.token(loc)
	p, err := site.server.Verifier().Verify(t.Context(), token)
	if err != nil || p.Subject != "alice" || !slices.Equal(p.Scopes, []string{"notes:read", "notes:write"}) {
		t.Fatalf("token from the browser's code: %+v, %v", p, err)
	}

	must("open apps", chromedp.Do(ctx,
		chromedp.Navigate(site.http.URL+"/apps"),
		chromedp.WaitVisible(chromedp.CSS("li.app")),
	))
	if got := text("li.app .client"); got != "Team Notes" {
		t.Errorf("connected app %q", got)
	}
	if got := text("li.app .scopes"); !strings.Contains(got, "Create notes on your behalf") {
		t.Errorf("connected app scopes %q", got)
	}
	screenshot(t, ctx, dir, "05-apps.png")

	must("revoke", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("li.app button.danger")),
		chromedp.WaitVisible(chromedp.ID("no-apps")),
	))
	screenshot(t, ctx, dir, "06-revoked.png")
	if _, err := site.server.Verifier().Verify(t.Context(), token); !errors.Is(err, mcpgate.ErrUnauthenticated) {
		t.Fatalf("token after revoking in the browser: Verify = %v, want ErrUnauthenticated", err)
	}
}

// TestBrowserRefusesFraming opens the consent page inside an iframe on
// another origin: Chromium must refuse to render it (frame-ancestors
// 'none'), while an ordinary cross-origin page frames fine.
func TestBrowserRefusesFraming(t *testing.T) {
	site := newBrowserSite(t)
	ctx := newBrowser(t)
	dir := artifactDir(t)

	// Sign in, so the framed consent page would otherwise show its form.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(site.gate.URL+"/authorize"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("approve")),
	); err != nil {
		t.Fatal(err)
	}
	consentURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}

	childFrame := func(src string) *cdp.Frame {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(site.app.URL+"/frame?src="+src),
			chromedp.WaitReady(chromedp.ID("victim")),
		); err != nil {
			t.Fatal(err)
		}
		// Let the frame settle: loaded, or replaced by an error page.
		deadline := time.Now().Add(10 * time.Second)
		for {
			tree, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (page.GetFrameTreeResult, error) {
				return cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(tree.FrameTree.ChildFrames) == 1 {
				f := tree.FrameTree.ChildFrames[0].Frame
				if f.URL != "" && f.URL != "about:blank" || f.UnreachableURL != "" {
					return f
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("iframe never loaded: %+v", tree.FrameTree)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Control: a cross-origin page without frame-ancestors renders.
	control := childFrame(site.gate.URL + "/framable")
	if control.UnreachableURL != "" || !strings.HasPrefix(control.URL, site.gate.URL) {
		t.Fatalf("control frame did not load: url %q unreachable %q", control.URL, control.UnreachableURL)
	}

	framed := childFrame(consentURL)
	screenshot(t, ctx, dir, "07-framed-consent-refused.png")
	if strings.HasPrefix(framed.URL, site.gate.URL) && framed.UnreachableURL == "" {
		t.Fatalf("consent page rendered inside a frame: url %q", framed.URL)
	}
	t.Logf("framed consent: url %q unreachable %q", framed.URL, framed.UnreachableURL)
	if _, ok := site.backend.lastApproval(); ok {
		t.Fatal("an approval happened")
	}
}
