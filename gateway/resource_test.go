package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/login"
	"github.com/mcpgate/mcpgate/oauth"
	"github.com/mcpgate/mcpgate/sqlite"
)

const (
	resPassword  = "correct horse battery staple"
	resRedirect  = "http://127.0.0.1:9/callback"
	pkceVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789"
)

// jiraPolicy guards the upstream at /mcp/jira with scopes of its own, one
// of them described for the consent page.
var jiraPolicy = &authz.Policy{
	Tools: []authz.Rule{
		{Match: "jira_create", Scopes: []string{"jira:write"}},
		{Match: "*", Scopes: []string{"jira:read"}},
	},
	ScopeDescriptions: map[string]string{"jira:read": "Search your Jira issues"},
}

// resEnv is a gateway with its authorization server, the built-in server
// at /mcp and an upstream at /mcp/jira that counts what reaches it, a
// local user and an OAuth client.
type resEnv struct {
	store    *sqlite.DB
	as       *oauth.Server
	base     string // origin
	builtin  string // base + /mcp
	jira     string // base + /mcp/jira
	client   *mcpgate.Client
	upstream atomic.Int32
}

func newResEnv(t *testing.T) *resEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &resEnv{store: store}
	srv := httptest.NewUnstartedServer(nil)
	e.base = "http://" + srv.Listener.Addr().String()
	e.builtin, e.jira = e.base+"/mcp", e.base+"/mcp/jira"
	e.as, err = gateway.NewAuthServer(store, e.builtin, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.upstream.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"from jira"}]}}`)
	})
	gw, err := gateway.New(store, e.builtin, &gateway.Options{
		AuthServer: e.as,
		Upstreams:  []gateway.Upstream{{Name: "jira", Path: "/mcp/jira", Handler: upstream, Policy: jiraPolicy}},
		ChangePoll: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv.Config.Handler = gw.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	hash, err := login.HashPassword(resPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateUser(ctx, &mcpgate.User{Name: "alice", PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.client, _, err = e.as.AddClient(ctx, oauth.NewClient{Name: "Test App", RedirectURIs: []string{resRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var (
	resCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	resReq    = regexp.MustCompile(`name="req" value="([^"]+)"`)
	resScope  = regexp.MustCompile(`name="scope" value="([^"]+)"`)
	resAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// authorize runs the authorization request for resource ("" for none)
// and scope through the sign-in and consent pages as alice, approving
// what the consent page offers. It returns where the browser is sent back
// to the client, and the consent page it saw ("" when it saw none).
func (e *resEnv) authorize(t *testing.T, resource, scope string) (callback *url.URL, consent string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next, method, form := e.authorizeURL(resource, scope), http.MethodGet, url.Values(nil)
	for range 10 {
		if strings.HasPrefix(next, resRedirect) {
			u, err := url.Parse(next)
			if err != nil {
				t.Fatal(err)
			}
			return u, consent
		}
		req, _ := http.NewRequest(method, next, strings.NewReader(form.Encode()))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 {
			u, _ := url.Parse(next)
			l, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("redirect to %q: %v", loc, err)
			}
			next, method, form = u.ResolveReference(l).String(), http.MethodGet, nil
			continue
		}
		page := string(body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, next, resp.StatusCode, page)
		}
		action := submatch(resAction, page)
		form = url.Values{"csrf": {submatch(resCSRF, page)}, "req": {submatch(resReq, page)}}
		switch action {
		case "/login":
			form.Set("method", "password")
			form.Set("username", "alice")
			form.Set("password", resPassword)
		case "/consent":
			consent = page
			form.Set("action", "approve")
			for _, m := range resScope.FindAllStringSubmatch(page, -1) {
				form.Add("scope", m[1])
			}
		default:
			t.Fatalf("unexpected page at %s:\n%s", next, page)
		}
		next, method = e.base+action, http.MethodPost
	}
	t.Fatal("too many steps")
	return nil, ""
}

// authorizeURL is the authorization request of the test client for
// resource ("" for none) and scope, with PKCE.
func (e *resEnv) authorizeURL(resource, scope string) string {
	sum := sha256.Sum256([]byte(pkceVerifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {e.client.ID},
		"redirect_uri":          {resRedirect},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"state":                 {"st-1"},
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	return e.base + "/authorize?" + q.Encode()
}

func submatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

type tokenResponse struct {
	status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

func (e *resEnv) token(t *testing.T, form url.Values, basic ...string) tokenResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tr := tokenResponse{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// grant runs the whole flow for resource and scope and exchanges the
// code; extra adds parameters to the exchange.
func (e *resEnv) grant(t *testing.T, resource, scope string, extra url.Values) (tokenResponse, string) {
	t.Helper()
	cb, consent := e.authorize(t, resource, scope)
	code := cb.Query().Get("code")
	if code == "" {
		t.Fatalf("authorization for %q answered %s", resource, cb)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {resRedirect},
		"client_id": {e.client.ID}, "code_verifier": {pkceVerifier}}
	for k, v := range extra {
		form[k] = v
	}
	return e.token(t, form), consent
}

// call posts a JSON-RPC request with credential (none if empty).
func call(t *testing.T, endpoint, credential, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const (
	initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	jiraSearch = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"jira_search","arguments":{}}}`
	jiraCreate = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"jira_create","arguments":{}}}`
)

// TestEndpointMetadata: each endpoint's protected resource metadata names
// that endpoint as the resource, with its own scopes; the authorization
// server's metadata stays one, offering every endpoint's scopes.
func TestEndpointMetadata(t *testing.T) {
	e := newResEnv(t)
	type prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	for _, tc := range []struct {
		path   string
		want   prm
		status int
	}{
		{"/.well-known/oauth-protected-resource/mcp", prm{e.builtin, []string{e.base}, demo.Scopes()}, 200},
		{"/.well-known/oauth-protected-resource/mcp/jira", prm{e.jira, []string{e.base}, []string{"jira:write", "jira:read"}}, 200},
		{"/.well-known/oauth-protected-resource", prm{e.builtin, []string{e.base}, demo.Scopes()}, 200},
		{"/.well-known/oauth-protected-resource/mcp/nothing", prm{}, 404},
	} {
		resp, err := http.Get(e.base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var got prm
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
			continue
		}
		if tc.status == 200 && (got.Resource != tc.want.Resource || !slices.Equal(got.AuthorizationServers, tc.want.AuthorizationServers) ||
			!slices.Equal(got.ScopesSupported, tc.want.ScopesSupported)) {
			t.Errorf("%s: %+v, want %+v", tc.path, got, tc.want)
		}
	}

	resp, err := http.Get(e.base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var as struct {
		Issuer          string   `json:"issuer"`
		ScopesSupported []string `json:"scopes_supported"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&as)
	resp.Body.Close()
	if as.Issuer != e.base || !slices.Equal(as.ScopesSupported, append(demo.Scopes(), "jira:write", "jira:read")) {
		t.Errorf("authorization server metadata: %+v", as)
	}
}

// TestEndpointChallenge: a request without a credential is sent to the
// metadata and scopes of the endpoint it was for; so is a 403 for a
// missing scope.
func TestEndpointChallenge(t *testing.T) {
	e := newResEnv(t)
	for _, tc := range []struct{ endpoint, prm, scope string }{
		{e.builtin, e.base + "/.well-known/oauth-protected-resource/mcp", strings.Join(demo.Scopes(), " ")},
		{e.jira, e.base + "/.well-known/oauth-protected-resource/mcp/jira", "jira:write jira:read"},
	} {
		resp, _ := call(t, tc.endpoint, "", initialize)
		want := fmt.Sprintf(`Bearer resource_metadata="%s", scope="%s"`, tc.prm, tc.scope)
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != want {
			t.Errorf("%s: %d %q, want 401 %q", tc.endpoint, resp.StatusCode, got, want)
		}
	}
	key, err := authn.CreateKey(context.Background(), e.store, mcpgate.APIKey{Name: "reader", Subject: "bob", Scopes: []string{"jira:read"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := call(t, e.jira, key, jiraCreate)
	want := fmt.Sprintf(`Bearer error="insufficient_scope", scope="jira:write", resource_metadata="%s/.well-known/oauth-protected-resource/mcp/jira"`, e.base)
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 403 || got != want {
		t.Errorf("jira_create with jira:read: %d %q, want 403 %q", resp.StatusCode, got, want)
	}
}

// TestTokensBoundToEndpoint: the authorization server issues a token for
// the endpoint the client names (RFC 8707), with that endpoint's scopes,
// after a consent page in its words; the token opens that endpoint only,
// before and after a refresh, and the refusal elsewhere is the generic
// 401 with the reason in the audit trail. A resource that is not one of
// the gateway's endpoints is invalid_target.
func TestTokensBoundToEndpoint(t *testing.T) {
	e := newResEnv(t)

	// A token for the upstream. The client asks for the built-in
	// server's scope, which the upstream does not have: it is offered the
	// upstream's own.
	jira, consent := e.grant(t, e.jira, "notes:read", nil)
	if jira.status != 200 || jira.Scope != "jira:write jira:read" {
		t.Fatalf("token for the upstream: %+v", jira)
	}
	for _, want := range []string{`value="jira:write"`, `value="jira:read"`, "Search your Jira issues", "Use the <code>jira:write</code> permission"} {
		if !strings.Contains(consent, want) {
			t.Errorf("upstream's consent page lacks %s:\n%s", want, consent)
		}
	}
	for _, bad := range []string{"notes", "Read your notes"} {
		if strings.Contains(consent, bad) {
			t.Errorf("upstream's consent page shows %q", bad)
		}
	}
	// A token for the built-in server, with its words.
	builtin, consent := e.grant(t, e.builtin, "notes:read", nil)
	if builtin.status != 200 || builtin.Scope != "notes:read" || !strings.Contains(consent, "Read your notes") || strings.Contains(consent, "jira") {
		t.Fatalf("token for the built-in server: %+v\n%s", builtin, consent)
	}

	// Each opens its own endpoint only.
	_, garbage := call(t, e.jira, "not-a-token", initialize)
	check := func(name, token string, jiraStatus, builtinStatus int) {
		t.Helper()
		before := e.upstream.Load()
		resp, _ := call(t, e.jira, token, jiraSearch)
		if resp.StatusCode != jiraStatus {
			t.Errorf("%s at the upstream: %d, want %d", name, resp.StatusCode, jiraStatus)
		}
		if reached := e.upstream.Load() - before; (jiraStatus == 200) != (reached == 1) {
			t.Errorf("%s at the upstream: %d requests reached it", name, reached)
		}
		resp, body := call(t, e.builtin, token, initialize)
		if resp.StatusCode != builtinStatus {
			t.Errorf("%s at the built-in server: %d, want %d", name, resp.StatusCode, builtinStatus)
		}
		if resp.StatusCode == 401 && (body != garbage || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)) {
			t.Errorf("%s refused with %q %q, not the generic 401 %q", name, resp.Header.Get("WWW-Authenticate"), body, garbage)
		}
	}
	check("token for the upstream", jira.AccessToken, 200, 401)
	check("token for the built-in server", builtin.AccessToken, 401, 200)
	waitAudit(t, e.store, func(ev *mcpgate.AuditEvent) bool {
		return ev.Reason == mcpgate.ReasonWrongAudience && ev.Subject == "" && ev.Decision == mcpgate.DecisionUnauthenticated
	})

	// A refresh keeps the audience; it cannot move the grant to another
	// endpoint.
	moved := e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {jira.RefreshToken}, "client_id": {e.client.ID}, "resource": {e.builtin}})
	if moved.status != 400 || moved.Error != "invalid_target" {
		t.Errorf("refresh toward the built-in server: %+v, want 400 invalid_target", moved)
	}
	refreshed := e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {jira.RefreshToken}, "client_id": {e.client.ID}})
	if refreshed.status != 200 || refreshed.AccessToken == "" {
		t.Fatalf("refresh: %+v", refreshed)
	}
	check("refreshed token for the upstream", refreshed.AccessToken, 200, 401)
	again := e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed.RefreshToken}, "client_id": {e.client.ID}, "resource": {e.jira}})
	if again.status != 200 {
		t.Errorf("refresh naming its own resource: %+v", again)
	}

	// A code is redeemed for the resource it was issued for only.
	other, _ := e.grant(t, e.jira, "", url.Values{"resource": {e.builtin}})
	if other.status != 400 || other.Error != "invalid_target" {
		t.Errorf("code for the upstream redeemed for the built-in server: %+v", other)
	}
	// No resource means the public URL's endpoint.
	plain, _ := e.grant(t, "", "notes:read", nil)
	check("token of a request naming no resource", plain.AccessToken, 401, 200)

	// Resources this gateway does not serve.
	for _, r := range []string{"https://evil.example/mcp", e.base + "/mcp/nothing", e.jira + "/", e.base + "/mcp/JIRA"} {
		cb, consent := e.authorize(t, r, "")
		if cb.Query().Get("error") != "invalid_target" || cb.Query().Get("state") != "st-1" || consent != "" {
			t.Errorf("authorize for %s: sent back to %s", r, cb)
		}
	}
}

// TestMachineTokenBoundToEndpoint: client credentials name a resource too.
func TestMachineTokenBoundToEndpoint(t *testing.T) {
	e := newResEnv(t)
	bot, secret, err := e.as.AddClient(context.Background(), oauth.NewClient{Name: "bot", Confidential: true,
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"jira:read", "notes:read"}, Subject: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	tr := e.token(t, url.Values{"grant_type": {"client_credentials"}, "resource": {e.jira}}, bot.ID, secret)
	if tr.status != 200 || tr.Scope != "jira:read" {
		t.Fatalf("client credentials for the upstream: %+v", tr)
	}
	if resp, _ := call(t, e.jira, tr.AccessToken, jiraSearch); resp.StatusCode != 200 {
		t.Errorf("at the upstream: %d", resp.StatusCode)
	}
	if resp, _ := call(t, e.builtin, tr.AccessToken, initialize); resp.StatusCode != 401 {
		t.Errorf("at the built-in server: %d, want 401", resp.StatusCode)
	}
	if tr := e.token(t, url.Values{"grant_type": {"client_credentials"}, "resource": {e.base + "/other"}}, bot.ID, secret); tr.status != 400 || tr.Error != "invalid_target" {
		t.Errorf("client credentials for an unknown resource: %+v", tr)
	}
}

// TestAPIKeyEveryEndpoint: an API key names no audience; it opens every
// endpoint, as far as its scopes go.
func TestAPIKeyEveryEndpoint(t *testing.T) {
	e := newResEnv(t)
	key, err := authn.CreateKey(context.Background(), e.store, mcpgate.APIKey{Name: "k", Subject: "carol", Scopes: []string{"jira:read", "notes:read"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		endpoint, body string
		status         int
	}{
		{e.builtin, initialize, 200},
		{e.jira, initialize, 200},
		{e.jira, jiraSearch, 200},
		{e.jira, jiraCreate, 403},
	} {
		if resp, body := call(t, tc.endpoint, key, tc.body); resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.endpoint, tc.body, resp.StatusCode, body, tc.status)
		}
	}
}

// waitAudit waits up to 2 s for an audit event matching ok.
func waitAudit(t *testing.T, store mcpgate.AuditStore, ok func(*mcpgate.AuditEvent) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		evs, err := store.ListAudit(context.Background(), time.Now().Add(-time.Minute), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(evs, ok) {
			return
		}
		if time.Now().After(deadline) {
			for _, ev := range evs {
				t.Logf("audit: %+v", *ev)
			}
			t.Fatal("no matching audit event")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
