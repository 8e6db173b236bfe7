package login

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

const (
	alicePassword = "correct horse battery"
	bobPassword   = "tr0ub4dor&3 staple"
	appRedirect   = "https://app.example.com/callback"
)

var (
	hashOnce   sync.Once
	aliceHash  string
	bobHash    string
	hashErr    error
	testAPIKey = "mcpg_key1_secretsecretsecret"
	testToken  = "eyJhbGciOiJFUzI1NiJ9.token.sig"
)

func testHashes(t testing.TB) (string, string) {
	t.Helper()
	hashOnce.Do(func() {
		aliceHash, hashErr = HashPassword(alicePassword)
		if hashErr == nil {
			bobHash, hashErr = HashPassword(bobPassword)
		}
	})
	if hashErr != nil {
		t.Fatalf("HashPassword: %v", hashErr)
	}
	return aliceHash, bobHash
}

// env is a running set of pages over fakes of everything they depend on.
type env struct {
	t       *testing.T
	backend *fakeBackend
	users   *fakeUsers
	grants  *fakeGrants
	keys    fakeKeys
	clock   *fakeClock
	pages   *Pages
	srv     *httptest.Server
}

// newEnv starts the pages with users alice (no scope cap), bob (capped to
// notes:read, tenant acme) and carol (disabled), an API key for dave capped
// to notes:read, and an OAuth access token that must not sign in. edit may
// adjust the options.
func newEnv(t *testing.T, edit func(*Options)) *env {
	t.Helper()
	ah, bh := testHashes(t)
	clock := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	e := &env{t: t, backend: newFakeBackend(), users: newFakeUsers(), grants: newFakeGrants(), clock: clock}
	e.backend.grants = e.grants
	e.backend.now = clock.Now
	for _, u := range []*mcpgate.User{
		{Name: "alice", PasswordHash: ah},
		{Name: "bob", Tenant: "acme", PasswordHash: bh, Scopes: []string{"notes:read"}},
		{Name: "carol", PasswordHash: ah, DisabledAt: clock.t.Add(-time.Hour)},
	} {
		if err := e.users.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	keys := fakeKeys{byToken: map[string]*mcpgate.Principal{
		testAPIKey: {Subject: "dave", Tenant: "acme", KeyID: "key1", Scopes: []string{"notes:read"}, Method: mcpgate.MethodAPIKey},
		testToken:  {Subject: "erin", Scopes: []string{"notes:read", "notes:write"}, Method: mcpgate.MethodOAuth},
	}, revoked: &sync.Map{}}
	e.keys = keys
	e.backend.addClient(&mcpgate.Client{ID: "cli-app", Name: "Team Notes", RedirectURIs: []string{appRedirect}, Source: "cli"})
	e.backend.addClient(&mcpgate.Client{ID: "dcr-app", Name: "Claude <script>alert(1)</script>", RedirectURIs: []string{"http://127.0.0.1:33418/cb"}, Source: "dcr"})
	opts := &Options{
		Now:    clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Issuer: "http://127.0.0.1:8080",
	}
	if edit != nil {
		edit(opts)
	}
	p, err := New(e.backend, e.users, e.grants, keys, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.pages = p
	e.srv = httptest.NewServer(p.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// agent is a browser-like client: it keeps cookies by name (whatever their
// Secure flag, so secure-mode pages can be driven over plain http) and
// never follows redirects.
type agent struct {
	t       *testing.T
	base    string
	cookies map[string]string
	header  http.Header // added to every request
}

func (e *env) agent() *agent {
	return &agent{t: e.t, base: e.srv.URL, cookies: map[string]string{}, header: http.Header{}}
}

type response struct {
	Status  int
	Header  http.Header
	Body    string
	Cookies []*http.Cookie
}

func (a *agent) do(method, path string, form url.Values) *response {
	a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, a.base+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range a.header {
		req.Header[k] = v
	}
	for name, value := range a.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(a.cookies, ck.Name)
		} else {
			a.cookies[ck.Name] = ck.Value
		}
	}
	return &response{Status: res.StatusCode, Header: res.Header, Body: string(b), Cookies: res.Cookies()}
}

func (a *agent) get(path string) *response { a.t.Helper(); return a.do(http.MethodGet, path, nil) }

func (a *agent) post(path string, form url.Values) *response {
	a.t.Helper()
	return a.do(http.MethodPost, path, form)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token in a page's form.
func csrf(t *testing.T, r *response) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no csrf field in page (status %d):\n%s", r.Status, r.Body)
	}
	return m[1]
}

// login signs in with a password through the form and returns the answer
// to the POST.
func (a *agent) login(reqID, user, pw string) *response {
	a.t.Helper()
	page := a.get("/login?req=" + url.QueryEscape(reqID))
	return a.post("/login", url.Values{"csrf": {csrf(a.t, page)}, "req": {reqID},
		"method": {"password"}, "username": {user}, "password": {pw}})
}

func (a *agent) loginKey(reqID, key string) *response {
	a.t.Helper()
	page := a.get("/login?req=" + url.QueryEscape(reqID))
	return a.post("/login", url.Values{"csrf": {csrf(a.t, page)}, "req": {reqID},
		"method": {"api_key"}, "api_key": {key}})
}

func wantStatus(t *testing.T, r *response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body:\n%s", r.Status, want, r.Body)
	}
}

func wantRedirect(t *testing.T, r *response, want string) {
	t.Helper()
	if r.Status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303 to %s; body:\n%s", r.Status, want, r.Body)
	}
	if got := r.Header.Get("Location"); got != want {
		t.Fatalf("Location %q, want %q", got, want)
	}
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}
