package login

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/oauth"
	"github.com/mcpgate/mcpgate/sqlite"
)

// realSite is the embedded authorization server and the pages on one
// origin, over a real SQLite store, with the real API-key verifier.
type realSite struct {
	t      *testing.T
	db     *sqlite.DB
	server *oauth.Server
	http   *httptest.Server
	client *mcpgate.Client
}

const realVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789"

func newRealSite(t *testing.T) *realSite {
	t.Helper()
	return newRealSiteFor(t, "http://127.0.0.1:43210/callback", false)
}

// newRealSiteFor is newRealSite for a client with redirectURI; secure sets
// Secure, __Host- cookies (the production setting).
func newRealSiteFor(t *testing.T, redirectURI string, secure bool) *realSite {
	t.Helper()
	db, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := oauth.New(db, &oauth.Options{
		Resource:        hs.URL + "/mcp",
		ScopesSupported: []string{"docs:read", "notes:read", "notes:write"},
		Logger:          quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := authn.NewKeyVerifier(db, nil)
	t.Cleanup(func() { keys.Close() })
	pages, err := New(OAuthBackend(srv, db), db, srv.Grants(), keys, &Options{Issuer: srv.Issuer(), Logger: quiet, SecureCookies: secure})
	if err != nil {
		t.Fatal(err)
	}
	ph := pages.Handler()
	for _, p := range []string{"/login", "/login/", "/consent", "/apps", "/logout"} {
		mux.Handle(p, ph)
	}
	mux.Handle("/", srv.Handler())

	ah, _ := testHashes(t)
	if err := db.CreateUser(t.Context(), &mcpgate.User{Name: "alice", Tenant: "acme", PasswordHash: ah}); err != nil {
		t.Fatal(err)
	}
	c, _, err := srv.AddClient(t.Context(), oauth.NewClient{Name: "Team Notes", RedirectURIs: []string{redirectURI}})
	if err != nil {
		t.Fatal(err)
	}
	return &realSite{t: t, db: db, server: srv, http: hs, client: c}
}

// authorizePath is the path of an authorization request for scope, as an
// MCP client sends the browser to it.
func (s *realSite) authorizePath(scope string) string {
	h := sha256.Sum256([]byte(realVerifier))
	v := url.Values{
		"response_type":         {"code"},
		"client_id":             {s.client.ID},
		"redirect_uri":          {s.client.RedirectURIs[0]},
		"state":                 {"xyz"},
		"scope":                 {scope},
		"resource":              {s.server.Resource()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(h[:])},
		"code_challenge_method": {"S256"},
	}
	return "/authorize?" + v.Encode()
}

// authorize starts an authorization request for scope and returns the
// path the server sends the browser to.
func (s *realSite) authorize(a *agent, scope string) string {
	s.t.Helper()
	res := a.get(s.authorizePath(scope))
	if res.Status != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), "/login?req=") {
		s.t.Fatalf("authorize: %d to %q: %s", res.Status, res.Header.Get("Location"), res.Body)
	}
	return res.Header.Get("Location")
}

// token redeems the code in a redirect to the client and returns the
// access token.
func (s *realSite) token(redirect string) string {
	s.t.Helper()
	u, err := url.Parse(redirect)
	if err != nil || u.Query().Get("code") == "" || u.Query().Get("state") != "xyz" || u.Query().Get("iss") != s.server.Issuer() {
		s.t.Fatalf("redirect to the client %q lacks code, state or iss", redirect)
	}
	res, err := http.PostForm(s.http.URL+oauth.PathToken, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {u.Query().Get("code")},
		"redirect_uri":  {s.client.RedirectURIs[0]},
		"client_id":     {s.client.ID},
		"code_verifier": {realVerifier},
		"resource":      {s.server.Resource()},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		s.t.Fatalf("token: %d %v %q", res.StatusCode, err, tr.Error)
	}
	return tr.AccessToken
}

func TestWithOAuthServer(t *testing.T) {
	site := newRealSite(t)
	a := &agent{t: t, base: site.http.URL, cookies: map[string]string{}, header: http.Header{}}

	loginPath := site.authorize(a, "notes:read notes:write")
	reqID := strings.TrimPrefix(loginPath, "/login?req=")
	page := a.get(loginPath)
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, "Team Notes") {
		t.Errorf("sign-in page does not name the client")
	}
	res := a.post("/login", url.Values{"csrf": {csrf(t, page)}, "req": {reqID}, "method": {"password"},
		"username": {"alice"}, "password": {alicePassword}})
	wantRedirect(t, res, "/consent?req="+url.QueryEscape(reqID))
	consent := a.get(res.Header.Get("Location"))
	wantStatus(t, consent, http.StatusOK)
	for _, want := range []string{"Team Notes", "127.0.0.1:43210", "Read your notes", "Create notes on your behalf"} {
		if !strings.Contains(consent.Body, want) {
			t.Errorf("consent lacks %q", want)
		}
	}
	if strings.Contains(consent.Body, `id="unverified"`) {
		t.Error("a client added by the administrator is marked unverified")
	}
	if csp := consent.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:43210;") {
		t.Errorf("consent CSP %q", csp)
	}
	res = a.post("/consent", url.Values{"csrf": {csrf(t, consent)}, "req": {reqID}, "action": {"approve"},
		"scope": {"notes:read", "notes:write"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", res.Status, res.Body)
	}
	token := site.token(res.Header.Get("Location"))
	p, err := site.server.Verifier().Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != "alice" || p.Tenant != "acme" || !slices.Equal(p.Scopes, []string{"notes:read", "notes:write"}) {
		t.Errorf("token principal %+v", p)
	}

	// Approved before: the next request goes straight back to the app.
	loginPath = site.authorize(a, "notes:read")
	res = a.get(loginPath)
	wantRedirect(t, res, "/consent?req="+url.QueryEscape(strings.TrimPrefix(loginPath, "/login?req=")))
	res = a.get(res.Header.Get("Location"))
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), site.client.RedirectURIs[0]+"?") {
		t.Fatalf("prior approval: %d to %q", res.Status, res.Header.Get("Location"))
	}
	token2 := site.token(res.Header.Get("Location"))

	// Connected apps shows the grant; revoking it stops both tokens at once.
	apps := a.get("/apps")
	wantStatus(t, apps, http.StatusOK)
	if !strings.Contains(apps.Body, "Team Notes") || strings.Count(apps.Body, `name="grant"`) != 1 {
		t.Fatalf("apps page:\n%s", apps.Body)
	}
	grants, err := site.db.ListGrants(t.Context(), "alice")
	if err != nil || len(grants) != 1 {
		t.Fatalf("ListGrants = %v, %v", grants, err)
	}
	res = a.post("/apps", url.Values{"csrf": {csrf(t, apps)}, "grant": {grants[0].ID}})
	wantRedirect(t, res, "/apps?done=revoked")
	for _, tok := range []string{token, token2} {
		if _, err := site.server.Verifier().Verify(t.Context(), tok); !errors.Is(err, mcpgate.ErrUnauthenticated) {
			t.Errorf("token of a revoked grant: Verify = %v, want ErrUnauthenticated", err)
		}
	}
}

func TestWithOAuthServerAPIKey(t *testing.T) {
	site := newRealSite(t)
	key, id, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := site.db.CreateKey(t.Context(), &mcpgate.APIKey{ID: id, Name: "dave's laptop", Subject: "dave", Tenant: "acme",
		Scopes: []string{"notes:read"}, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, base: site.http.URL, cookies: map[string]string{}, header: http.Header{}}
	loginPath := site.authorize(a, "notes:read notes:write")
	reqID := strings.TrimPrefix(loginPath, "/login?req=")
	page := a.get(loginPath)
	res := a.post("/login", url.Values{"csrf": {csrf(t, page)}, "req": {reqID}, "method": {"api_key"}, "api_key": {key}})
	wantRedirect(t, res, "/consent?req="+url.QueryEscape(reqID))
	consent := a.get(res.Header.Get("Location"))
	res = a.post("/consent", url.Values{"csrf": {csrf(t, consent)}, "req": {reqID}, "action": {"approve"},
		"scope": {"notes:read", "notes:write"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", res.Status, res.Body)
	}
	p, err := site.server.Verifier().Verify(t.Context(), site.token(res.Header.Get("Location")))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "dave" || p.Tenant != "acme" || !slices.Equal(p.Scopes, []string{"notes:read"}) {
		t.Errorf("token of a key sign-in: %+v, want dave/acme with notes:read only", p)
	}
}
