package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/sqlite"
)

const inspectorOrigin = "http://localhost:6274" // the MCP Inspector's web UI

func corsRequest(t *testing.T, method, u, origin, credential, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", "POST")
		hdrs := "authorization, content-type, mcp-protocol-version" // an MCP client's
		if !strings.Contains(u, "/mcp") {
			hdrs = "content-type" // a browser OAuth client's
		}
		req.Header.Set("Access-Control-Request-Headers", hdrs)
	} else {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
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

func exposes(h http.Header, name string) bool {
	for _, v := range strings.Split(h.Get("Access-Control-Expose-Headers"), ",") {
		if strings.EqualFold(strings.TrimSpace(v), name) {
			return true
		}
	}
	return false
}

// TestCORSPreflights: the MCP endpoints, built-in and upstream, answer a
// preflight from an allowed (loopback, by default) page and refuse any
// other with 403; registration answers every origin; the pages answer
// none.
func TestCORSPreflights(t *testing.T) {
	e := newResEnv(t)
	for _, tc := range []struct {
		url, origin string
		status      int
		acao        string
	}{
		{e.builtin, inspectorOrigin, 204, inspectorOrigin},
		{e.jira, inspectorOrigin, 204, inspectorOrigin},
		{e.builtin, e.base, 204, e.base},
		{e.builtin, "https://evil.example", 403, ""},
		{e.jira, "https://evil.example", 403, ""},
		{e.builtin, "null", 403, ""},
		{e.base + "/register", "https://any.example", 204, "*"},
		{e.base + "/register", inspectorOrigin, 204, "*"},
		{e.base + "/token", inspectorOrigin, 204, "*"},
		{e.base + "/.well-known/oauth-authorization-server", inspectorOrigin, 204, "*"},
		{e.base + "/authorize", "https://any.example", 0, ""},
		{e.base + "/login", "https://any.example", 0, ""},
		{e.base + "/apps", "https://any.example", 0, ""},
	} {
		resp, body := corsRequest(t, http.MethodOptions, tc.url, tc.origin, "", "")
		h := resp.Header
		if tc.status != 0 && resp.StatusCode != tc.status || h.Get("Access-Control-Allow-Origin") != tc.acao {
			t.Errorf("preflight %s from %s: %d, ACAO %q; want %d, %q\n%s", tc.url, tc.origin, resp.StatusCode, h.Get("Access-Control-Allow-Origin"), tc.status, tc.acao, body)
		}
		if tc.acao != "" && !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") {
			t.Errorf("preflight %s: Allow-Headers %q", tc.url, h.Get("Access-Control-Allow-Headers"))
		}
		if _, ok := h["Access-Control-Allow-Credentials"]; ok {
			t.Errorf("preflight %s: credentials allowed", tc.url)
		}
	}
	if n := e.upstream.Load(); n != 0 {
		t.Errorf("the upstream saw %d preflight(s)", n)
	}
}

// TestCORSCalls: a page of an allowed origin initializes with an API key
// and can read the session id; its 401 exposes the challenge; a foreign
// page is refused before the upstream; a browser registers a client.
func TestCORSCalls(t *testing.T) {
	e := newResEnv(t)
	key, err := authn.CreateKey(context.Background(), e.store, mcpgate.APIKey{Name: "k", Subject: "carol", Scopes: []string{"jira:read", "notes:read"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{e.builtin, e.jira} {
		resp, body := corsRequest(t, http.MethodPost, u, inspectorOrigin, key, initialize)
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != inspectorOrigin {
			t.Errorf("initialize %s: %d, ACAO %q\n%s", u, resp.StatusCode, h.Get("Access-Control-Allow-Origin"), body)
		}
		if u == e.builtin && (h.Get("Mcp-Session-Id") == "" || !exposes(h, "Mcp-Session-Id")) {
			t.Errorf("initialize %s: session %q, exposed %q", u, h.Get("Mcp-Session-Id"), h.Get("Access-Control-Expose-Headers"))
		}

		resp, _ = corsRequest(t, http.MethodPost, u, inspectorOrigin, "", initialize)
		h = resp.Header
		if resp.StatusCode != 401 || h.Get("WWW-Authenticate") == "" || h.Get("Access-Control-Allow-Origin") != inspectorOrigin || !exposes(h, "WWW-Authenticate") {
			t.Errorf("no credential %s: %d, challenge %q, ACAO %q, exposed %q", u, resp.StatusCode, h.Get("WWW-Authenticate"), h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Expose-Headers"))
		}
	}
	before := e.upstream.Load()
	resp, _ := corsRequest(t, http.MethodPost, e.jira, "https://evil.example", key, jiraSearch)
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" || e.upstream.Load() != before {
		t.Errorf("foreign origin: %d, ACAO %q, upstream reached %d time(s)", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), e.upstream.Load()-before)
	}

	resp, body := corsRequest(t, http.MethodPost, e.base+"/register", "https://app.example",
		"", `{"client_name":"web app","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("register: %d, ACAO %q\n%s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), body)
	}
}

// TestCORSOriginsOption: configured origins replace the loopback default,
// and a malformed one stops the gateway from starting.
func TestCORSOriginsOption(t *testing.T) {
	store, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := gateway.New(store, "http://127.0.0.1:1/mcp", &gateway.Options{CORSOrigins: []string{"https://app.example/path"}}); err == nil {
		t.Error("an origin with a path was accepted")
	}
	gw, err := gateway.New(store, "https://mcp.example.com/mcp", &gateway.Options{CORSOrigins: []string{"https://app.example"}})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	for origin, want := range map[string]int{"https://app.example": 204, inspectorOrigin: 403, "https://mcp.example.com": 204} {
		req, _ := http.NewRequest(http.MethodOptions, "https://mcp.example.com/mcp", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		gw.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", origin, rec.Code, want)
		}
	}
}
