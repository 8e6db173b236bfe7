package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/browsertest"
	"github.com/mcpgate/mcpgate/login"
)

// registerApp registers an app by RFC 7591, as an MCP client does, and
// has alice approve it, so that it is listed on her connected apps.
func (s *site) registerApp(t *testing.T, name, redirect string, approve bool) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"client_name": name, "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none"})
	resp, err := http.Post(s.url+"/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || reg.ClientID == "" {
		t.Fatalf("register %s: %d %v", name, resp.StatusCode, err)
	}
	if !approve {
		return reg.ClientID
	}
	_, hdr, _ := get(t, s.url+"/authorize?"+s.authorizeQuery(reg.ClientID, redirect))
	loc, err := url.Parse(hdr.Get("Location"))
	if err != nil || loc.Query().Get("req") == "" {
		t.Fatalf("authorize %s: Location %q", name, hdr.Get("Location"))
	}
	if _, err := s.auth.Approve(t.Context(), loc.Query().Get("req"), &mcpgate.Principal{Subject: "alice", Method: login.MethodPassword, Scopes: []string{"notes:read", "notes:write"}}, []string{"notes:read"}); err != nil {
		t.Fatalf("approve %s: %v", name, err)
	}
	return reg.ClientID
}

func (s *site) authorizeQuery(clientID, redirect string) string {
	return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"notes:read notes:write"},
		"state": {"xyz"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode()
}

// TestPagesInBrowser looks at every page a person meets in headless
// Chromium at 1280×800 and 390×844, light and dark, keeping screenshots:
// the front page, an MCP URL opened in the browser, an /authorize error
// with its developer detail open, the sign-in page with a field error
// (tied to its inputs), connected apps with two apps of one name (told
// apart), and consent. In each, the contrast of the fields' borders and
// of the text is measured from the colors Chromium computed.
func TestPagesInBrowser(t *testing.T) {
	s := serveSite(t, true)
	first := s.registerApp(t, "Team Notes", "http://127.0.0.1:5173/callback", true)
	second := s.registerApp(t, "Team Notes", "https://notes.example.org/oauth/callback", true)
	pending := s.registerApp(t, "Team Notes", "https://notes.example.org/oauth/callback", false)
	ctx := browsertest.New(t)
	dir := browsertest.ArtifactDir(t, "pages")

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
		must(js, err)
		return v
	}
	// checkContrast measures, in the rendered page, the contrast of
	// selector's border against its background and the card's, and of
	// the page's main text.
	checkContrast := func(view, selector string) {
		t.Helper()
		c := eval(fmt.Sprintf(`(() => {
			const f = getComputedStyle(document.querySelector(%q));
			const card = getComputedStyle(document.querySelector("main.card"));
			const lead = getComputedStyle(document.querySelector("h1"));
			return [f.borderTopColor, f.backgroundColor, card.backgroundColor, lead.color];
		})()`, selector))
		for _, p := range []struct {
			fg, bg string
			min    float64
			what   string
		}{
			{c[0], c[1], 3, selector + " border on its background"},
			{c[0], c[2], 3, selector + " border on the card"},
			{c[3], c[2], 4.5, "heading text on the card"},
		} {
			got, err := browsertest.ContrastOf(p.fg, p.bg)
			if err != nil || got < p.min {
				t.Errorf("%s: %s: %s on %s = %.2f:1 (%v), want at least %.1f:1", view, p.what, p.fg, p.bg, got, err, p.min)
			}
		}
	}

	for _, v := range browsertest.Viewports {
		shot := func(name string) { browsertest.Screenshot(t, ctx, dir, v.Name+"-"+name+".png") }
		must("emulate "+v.Name, chromedp.Do(ctx, browsertest.Emulate(v)))
		dark := eval(`[String(matchMedia("(prefers-color-scheme: dark)").matches)]`)[0] == "true"
		if dark != v.Dark {
			t.Fatalf("%s: prefers-color-scheme dark = %v", v.Name, dark)
		}

		// The front page.
		must("front page", chromedp.Do(ctx, chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("servers"))))
		if w := eval(`[String(document.documentElement.scrollWidth)]`)[0]; w != fmt.Sprint(v.Width) {
			t.Errorf("%s: front page is %s px wide in a %d px window", v.Name, w, v.Width)
		}
		shot("01-front")
		eval(`Array.from(document.querySelectorAll("details")).map(d => String(d.open = true))`)
		shot("01-front-all-open")

		// An MCP URL opened in the browser.
		must("open /mcp", chromedp.Do(ctx, chromedp.Navigate(s.url+"/mcp"), chromedp.WaitVisible(chromedp.CSS("a[href='/']"))))
		// Its one style is allowed by the page's policy.
		if got := eval(`[getComputedStyle(document.body).maxWidth]`)[0]; got != "576px" {
			t.Errorf("%s: the MCP URL's page is unstyled (body max-width %q)", v.Name, got)
		}
		shot("02-mcp-url")

		// An /authorize refusal, detail open.
		must("authorize error", chromedp.Do(ctx,
			chromedp.Navigate(s.url+"/authorize?"+s.authorizeQuery(first, "https://evil.example.com/cb")),
			chromedp.WaitVisible(chromedp.ID("error-title")),
			chromedp.Click(chromedp.CSS("#error-detail summary")),
			chromedp.WaitVisible(chromedp.CSS("#error-detail dl")),
		))
		if got := eval(`[document.getElementById("error-title").textContent]`)[0]; got != "This app asked to send you somewhere it did not register" {
			t.Errorf("%s: error page title %q", v.Name, got)
		}
		shot("03-authorize-error")

		// Sign-in with a wrong password: the error is tied to the fields.
		must("sign-in error", chromedp.Do(ctx,
			chromedp.Navigate(s.url+"/login"),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), "alice"),
			chromedp.SendKeys(chromedp.ID("password"), "wrong password"),
			chromedp.Click(chromedp.ID("sign-in")),
			chromedp.WaitVisible(chromedp.ID("error")),
		))
		for _, id := range []string{"username", "password"} {
			a := eval(fmt.Sprintf(`(() => { const f = document.getElementById(%q);
				const d = document.getElementById(f.getAttribute("aria-describedby") || "-");
				return [f.getAttribute("aria-invalid") || "", d ? d.textContent : ""]; })()`, id))
			if a[0] != "true" || !strings.Contains(a[1], "Incorrect username or password") {
				t.Errorf("%s: #%s aria-invalid %q, described by %q", v.Name, id, a[0], a[1])
			}
		}
		checkContrast(v.Name, "#password")
		shot("04-sign-in-error")

		must("sign in", chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.ID("password"), sitePassword),
			chromedp.Click(chromedp.ID("sign-in")),
			chromedp.WaitVisible(chromedp.ID("apps")),
		))
		ids := eval(`Array.from(document.querySelectorAll("li.app")).map(li => li.querySelector(".client").textContent + " | " + li.querySelector(".app-id").textContent)`)
		if len(ids) != 2 || ids[0] == ids[1] || !strings.HasPrefix(ids[0], "Team Notes | ") || !strings.HasPrefix(ids[1], "Team Notes | ") {
			t.Errorf("%s: two apps named Team Notes are not told apart: %q", v.Name, ids)
		}
		all := strings.Join(ids, "\n")
		for _, want := range []string{"127.0.0.1:5173", "notes.example.org", first[len(first)-6:], second[len(second)-6:]} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: connected apps do not show %q: %q", v.Name, want, ids)
			}
		}
		shot("05-apps")

		must("consent", chromedp.Do(ctx,
			chromedp.Navigate(s.url+"/authorize?"+s.authorizeQuery(pending, "https://notes.example.org/oauth/callback")),
			chromedp.WaitVisible(chromedp.ID("approve")),
		))
		shot("06-consent")

		must("sign out", chromedp.Do(ctx,
			chromedp.Navigate(s.url+"/apps"),
			chromedp.WaitVisible(chromedp.ID("sign-out")),
			chromedp.Click(chromedp.ID("sign-out")),
			chromedp.WaitVisible(chromedp.ID("username")),
		))
		checkContrast(v.Name, "#username")
	}
}
