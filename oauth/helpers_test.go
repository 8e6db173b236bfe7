package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
)

// clock is a settable time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is an authorization server on a real SQLite store behind httptest.
type env struct {
	t      testing.TB
	srv    *Server
	store  Storage
	http   *httptest.Server
	clock  *clock
	alerts *alertLog

	mu   sync.Mutex
	root http.Handler // what the test server serves
}

// serve replaces what the test server serves.
func (e *env) serve(h http.Handler) {
	e.mu.Lock()
	e.root = h
	e.mu.Unlock()
}

type alertLog struct {
	mu    sync.Mutex
	kinds []string
}

func (a *alertLog) record(_ context.Context, kind string, _ ...any) {
	a.mu.Lock()
	a.kinds = append(a.kinds, kind)
	a.mu.Unlock()
}

func (a *alertLog) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.kinds...)
}

var testScopes = []string{"docs:read", "notes:read", "notes:write"}

// newEnv starts a server on a new SQLite store; edit may change the
// options before New.
func newEnv(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return newEnvOn(t, db, edit)
}

// newEnvOn starts a server on store.
func newEnvOn(t testing.TB, db Storage, edit func(*Options)) *env {
	t.Helper()
	var err error
	e := &env{t: t, store: db, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, alerts: &alertLog{}}
	mux := http.NewServeMux()
	e.http = httptest.NewServer(mux)
	t.Cleanup(e.http.Close)
	opts := &Options{
		Resource:        e.http.URL + "/mcp",
		ScopesSupported: testScopes,
		Now:             e.clock.Now,
		Alerts:          e.alerts.record,
		Logger:          discardLogger(),
	}
	if edit != nil {
		edit(opts)
	}
	e.srv, err = New(db, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.root = e.srv.Handler()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		h := e.root
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	return e
}

// client returns an HTTP client that does not follow redirects.
func noRedirectClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) addPublicClient(redirects ...string) *mcpgate.Client {
	e.t.Helper()
	c, _, err := e.srv.AddClient(context.Background(), NewClient{Name: "Test App", RedirectURIs: redirects})
	if err != nil {
		e.t.Fatalf("AddClient: %v", err)
	}
	return c
}

func pkce(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789"

// authorizeParams are a valid authorization request for client c.
func authorizeParams(c *mcpgate.Client) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ID},
		"redirect_uri":          {c.RedirectURIs[0]},
		"state":                 {"st-\u00e9 xyz"},
		"scope":                 {"notes:read notes:write"},
		"code_challenge":        {pkce(testVerifier)},
		"code_challenge_method": {"S256"},
	}
}

// authorize sends an authorization request and returns the response.
func (e *env) authorize(v url.Values) *http.Response {
	e.t.Helper()
	resp, err := noRedirectClient().Get(e.http.URL + PathAuthorize + "?" + v.Encode())
	if err != nil {
		e.t.Fatalf("GET /authorize: %v", err)
	}
	resp.Body.Close()
	return resp
}

// login follows an authorization request to the login redirect and
// returns the pending request id.
func (e *env) login(v url.Values) string {
	e.t.Helper()
	resp := e.authorize(v)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Path != "/login" || loc.Query().Get("req") == "" {
		e.t.Fatalf("authorize redirected to %s, want /login?req=…", loc)
	}
	return loc.Query().Get("req")
}

var alice = &mcpgate.Principal{Subject: "alice", Tenant: "acme", Scopes: testScopes, Method: "password"}

// code runs authorize and approval and returns the authorization code.
func (e *env) code(v url.Values) string {
	e.t.Helper()
	id := e.login(v)
	to, err := e.srv.Approve(context.Background(), id, alice, strings.Fields(v.Get("scope")))
	if err != nil {
		e.t.Fatalf("Approve: %v", err)
	}
	u, _ := url.Parse(to)
	return u.Query().Get("code")
}

type tokenResponse struct {
	status       int
	header       http.Header
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// post sends a form to path, with basic auth if user is not empty.
func (e *env) post(path string, form url.Values, user, pass string) *tokenResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	tr := &tokenResponse{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(body, tr); err != nil && len(body) > 0 {
		e.t.Fatalf("POST %s: body %q: %v", path, body, err)
	}
	return tr
}

func (e *env) exchange(c *mcpgate.Client, code string, edit func(url.Values)) *tokenResponse {
	e.t.Helper()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {c.RedirectURIs[0]},
		"client_id":     {c.ID},
		"code_verifier": {testVerifier},
	}
	if edit != nil {
		edit(form)
	}
	return e.post(PathToken, form, "", "")
}

func (e *env) refresh(c *mcpgate.Client, rt string) *tokenResponse {
	e.t.Helper()
	return e.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ID}}, "", "")
}

func (e *env) verify(token string) (*mcpgate.Principal, error) {
	return e.srv.Verifier().Verify(context.Background(), token)
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
