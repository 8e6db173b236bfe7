package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/clientconfig"
	"github.com/mcpgate/mcpgate/login"
	"github.com/mcpgate/mcpgate/oauth"
	"github.com/mcpgate/mcpgate/sqlite"
)

const sitePassword = "correct horse battery"

// site is a gateway on SQLite with the built-in server at /mcp and an
// upstream at /mcp/everything, and, with OAuth, the user alice.
type site struct {
	url   string // origin, e.g. http://127.0.0.1:1234
	store *sqlite.DB
	auth  *oauth.Server // nil without OAuth
}

func serveSite(t *testing.T, withOAuth bool) *site {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	front := httptest.NewUnstartedServer(nil)
	s := &site{url: "http://" + front.Listener.Addr().String(), store: store}
	public := s.url + "/mcp"
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})
	opts := &Options{Upstreams: []Upstream{{Name: "everything", Path: "/mcp/everything", Handler: upstream}}}
	if withOAuth {
		hash, err := login.HashPassword(sitePassword)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateUser(ctx, &mcpgate.User{Name: "alice", PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		s.auth, err = NewAuthServer(store, public, &OAuthOptions{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		opts.AuthServer = s.auth
	}
	gw, err := New(store, public, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	front.Config.Handler = gw.Handler()
	front.Start()
	t.Cleanup(front.Close)
	return s
}

func get(t *testing.T, u string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestFrontPage: / says what the server is, lists every MCP URL (the
// built-in server and each upstream), shows how to connect each common
// client to the one chosen, and links to sign in and to the connected
// apps when people sign in; without OAuth it shows the API-key setup and
// still gets its stylesheet. Other paths stay 404.
func TestFrontPage(t *testing.T) {
	for _, withOAuth := range []bool{true, false} {
		s := serveSite(t, withOAuth)
		status, hdr, body := get(t, s.url+"/")
		if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			t.Fatalf("oauth %v: GET / = %d %s", withOAuth, status, hdr.Get("Content-Type"))
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q", csp)
		}
		for _, want := range []string{s.url + "/mcp", s.url + "/mcp/everything", "Built-in server", "everything"} {
			if !strings.Contains(body, want) {
				t.Errorf("oauth %v: front page lacks %q", withOAuth, want)
			}
		}
		for _, c := range clientconfig.Clients {
			if !strings.Contains(body, "<summary>"+c+"</summary>") {
				t.Errorf("oauth %v: no setup for %s", withOAuth, c)
			}
		}
		// The snippets are those of package connect, for the built-in
		// server: by OAuth when people sign in, with a key either way.
		oauthCode := clientconfig.Snippets(clientconfig.Options{URL: s.url + "/mcp", Name: "mcpgate"})[0].Text
		keyCode := clientconfig.Snippets(clientconfig.Options{URL: s.url + "/mcp", Name: "mcpgate", APIKey: true})[0].Text
		if got := strings.Contains(body, htmlEscape(oauthCode)+"</code>"); got != withOAuth {
			t.Errorf("oauth %v: OAuth Claude Code snippet shown = %v", withOAuth, got)
		}
		if !strings.Contains(body, htmlEscape(keyCode)) {
			t.Errorf("oauth %v: API-key Claude Code snippet missing", withOAuth)
		}
		signIn := strings.Contains(body, `href="/login"`) && strings.Contains(body, `href="/apps"`)
		if signIn != withOAuth {
			t.Errorf("oauth %v: sign-in and connected-apps links shown = %v", withOAuth, signIn)
		}
		if strings.Contains(body, "mcpg_") {
			t.Errorf("front page shows something shaped like a key")
		}

		// ?server=1 shows the setup of the upstream.
		_, _, body = get(t, s.url+"/?server=1")
		up := clientconfig.Snippets(clientconfig.Options{URL: s.url + "/mcp/everything", Name: "mcpgate-everything", APIKey: true})[0].Text
		if !strings.Contains(body, htmlEscape(up)) || !strings.Contains(body, "Connect an app to everything") {
			t.Errorf("?server=1 does not show the upstream's setup")
		}
		// Out of range or junk: the first server.
		if _, _, b := get(t, s.url+"/?server=7"); !strings.Contains(b, "Connect an app to Built-in server") {
			t.Errorf("?server=7 does not fall back to the first server")
		}

		if status, _, _ := get(t, s.url+login.StylesheetPath); status != http.StatusOK {
			t.Errorf("oauth %v: stylesheet %d", withOAuth, status)
		}
		if status, _, _ := get(t, s.url+"/nope"); status != http.StatusNotFound {
			t.Errorf("oauth %v: GET /nope = %d, want 404", withOAuth, status)
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// TestBrowserOpensMCPURL: a browser opening an MCP URL gets the same 401
// and challenge as any client, with a short page pointing to the front
// page; every MCP client's request (an event-stream GET, a POST, no
// Accept at all) still gets the JSON body, byte for byte.
func TestBrowserOpensMCPURL(t *testing.T) {
	s := serveSite(t, true)
	const jsonBody = `{"error":"unauthorized","error_description":"a valid bearer credential is required"}` + "\n"
	browser := "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	for _, path := range []string{"/mcp", "/mcp/everything"} {
		_, jsonHdr, _ := get(t, s.url+path, "Accept", "text/event-stream")
		challenge := jsonHdr.Get("WWW-Authenticate")
		if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, "resource_metadata=") {
			t.Fatalf("%s: challenge %q", path, challenge)
		}

		status, hdr, body := get(t, s.url+path, "Accept", browser)
		if status != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") != challenge {
			t.Errorf("%s from a browser: %d, challenge %q; want 401 and %q", path, status, hdr.Get("WWW-Authenticate"), challenge)
		}
		if !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, `<a href="/">`) || !strings.Contains(body, "MCP server") {
			t.Errorf("%s from a browser: %s\n%s", path, hdr.Get("Content-Type"), body)
		}
		if hdr.Get("Cache-Control") != "no-store" || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s from a browser: headers %v", path, hdr)
		}

		for _, tc := range []struct {
			name, method string
			hdr          []string
		}{
			{"event stream GET", "GET", []string{"Accept", "text/event-stream"}},
			{"GET accepting both", "GET", []string{"Accept", "text/html, text/event-stream"}},
			{"GET without Accept", "GET", nil},
			{"JSON GET", "GET", []string{"Accept", "application/json"}},
			{"POST accepting HTML", "POST", []string{"Accept", "text/html", "Content-Type", "application/json"}},
			{"MCP POST", "POST", []string{"Accept", "application/json, text/event-stream", "Content-Type", "application/json"}},
		} {
			req, _ := http.NewRequest(tc.method, s.url+path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			if tc.method == "GET" {
				req.Body, req.ContentLength = nil, 0
			}
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/json" || string(b) != jsonBody || resp.Header.Get("WWW-Authenticate") != challenge {
				t.Errorf("%s %s: %d %s %q %q", path, tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), b, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
}

// TestAuthorizeErrorPageInLayout: the gateway's /authorize refusals are
// the site's pages (its stylesheet, the front page one click away), and
// an API client still gets the JSON error.
func TestAuthorizeErrorPageInLayout(t *testing.T) {
	s := serveSite(t, true)
	v := url.Values{"response_type": {"code"}, "client_id": {"mcpc_nope"}, "redirect_uri": {"https://app.example.com/cb"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	status, hdr, body := get(t, s.url+"/authorize?"+v.Encode(), "Accept", "text/html")
	if status != http.StatusBadRequest || hdr.Get("Location") != "" {
		t.Fatalf("status %d Location %q", status, hdr.Get("Location"))
	}
	for _, want := range []string{login.StylesheetPath, `href="/"`, "This app is not known to this server", "<details", "mcpc_nope"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	status, hdr, body = get(t, s.url+"/authorize?"+v.Encode(), "Accept", "application/json")
	var e struct{ Error, ErrorDescription string }
	if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
		t.Errorf("JSON caller: %d %s %s", status, hdr.Get("Content-Type"), body)
	}
}
