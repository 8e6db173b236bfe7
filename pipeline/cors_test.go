package pipeline_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/pipeline"
)

func preflight(t *testing.T, u, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-protocol-version")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// listHas reports whether the comma-separated header value list names v.
func listHas(list, v string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(x), v) {
			return true
		}
	}
	return false
}

// TestCORSPreflight: a preflight from an allowed origin gets 204 and the
// full grant without reaching the MCP handler or the audit; one from any
// other origin gets 403 and no grant.
func TestCORSPreflight(t *testing.T) {
	pub, _ := url.Parse("https://mcp.example.com/mcp")
	for _, tc := range []struct {
		name    string
		origins []string
		allowed []string
		refused []string
	}{
		{"default: public and loopback", nil,
			[]string{"https://mcp.example.com", "http://localhost:6274", "http://127.0.0.1:3000", "http://[::1]:8080"},
			[]string{"https://evil.example", "null", "http://localhost.evil.example", "https://mcp.example.com.evil.example"}},
		{"exact list", []string{"https://app.example.com", "http://localhost:6274"},
			[]string{"https://app.example.com", "HTTPS://APP.example.com", "https://mcp.example.com", "http://localhost:6274"},
			[]string{"http://app.example.com", "https://app.example.com:8443", "http://localhost:3000", "https://evil.example"}},
		{"any", []string{"*"},
			[]string{"https://evil.example", "http://localhost:1"},
			[]string{"null", "file://"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &spy{}
			srv, a := newPipeline(t, &pipeline.Options{PublicURL: pub, CORSOrigins: tc.origins}, next)
			for _, origin := range tc.allowed {
				resp := preflight(t, srv.URL+"/mcp", origin)
				h := resp.Header
				if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin {
					t.Errorf("%s: status %d, ACAO %q; want 204 and the origin", origin, resp.StatusCode, h.Get("Access-Control-Allow-Origin"))
				}
				for _, m := range []string{"GET", "POST", "DELETE"} {
					if !listHas(h.Get("Access-Control-Allow-Methods"), m) {
						t.Errorf("%s: Allow-Methods %q lacks %s", origin, h.Get("Access-Control-Allow-Methods"), m)
					}
				}
				for _, n := range []string{"authorization", "content-type", "accept", "mcp-protocol-version", "mcp-session-id", "last-event-id", "mcp-method", "mcp-name"} {
					if !listHas(h.Get("Access-Control-Allow-Headers"), n) {
						t.Errorf("%s: Allow-Headers %q lacks %s", origin, h.Get("Access-Control-Allow-Headers"), n)
					}
				}
				if !listHas(h.Get("Vary"), "Origin") || h.Get("Access-Control-Max-Age") == "" {
					t.Errorf("%s: Vary %q, Max-Age %q", origin, h.Get("Vary"), h.Get("Access-Control-Max-Age"))
				}
				if _, ok := h["Access-Control-Allow-Credentials"]; ok {
					t.Errorf("%s: credentials allowed", origin)
				}
			}
			for _, origin := range tc.refused {
				resp := preflight(t, srv.URL+"/mcp", origin)
				if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("%s: status %d, ACAO %q; want 403 and none", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
				}
			}
			if next.count() != 0 {
				t.Errorf("the MCP handler saw %d preflight(s)", next.count())
			}
			// Only the refused preflights are audited, as foreign origins.
			if evs := a.all(); len(evs) != len(tc.refused) {
				t.Errorf("%d audit events, want %d: %+v", len(evs), len(tc.refused), evs)
			}
		})
	}
}

// TestCORSResponses: answers to an allowed origin, refusals included,
// carry the grant, so that a page reads the session id and the challenge;
// a foreign origin's POST is refused before the handler.
func TestCORSResponses(t *testing.T) {
	next := &sessionServer{live: map[string]bool{}}
	srv, _ := newPipeline(t, &pipeline.Options{CORSOrigins: []string{"https://app.example.com"}}, next)
	const origin = "https://app.example.com"
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`

	resp := do(t, http.MethodPost, srv.URL+"/mcp", "tok-alice", init, map[string]string{"Origin": origin})
	if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: status %d, session %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"))
	}
	checkGrant(t, "initialize", resp.Header, origin)

	resp = do(t, http.MethodPost, srv.URL+"/mcp", "", init, map[string]string{"Origin": origin})
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credential: status %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	checkGrant(t, "401", resp.Header, origin)

	sessions := len(next.live)
	for _, o := range []string{"https://evil.example", "http://localhost:6274"} {
		resp = do(t, http.MethodPost, srv.URL+"/mcp", "tok-alice", init, map[string]string{"Origin": o})
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: status %d, ACAO %q; want 403 and none", o, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	if len(next.live) != sessions {
		t.Errorf("a refused origin opened a session")
	}

	// Without Origin (not a browser) nothing is granted.
	resp = do(t, http.MethodPost, srv.URL+"/mcp", "tok-alice", init, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no Origin: status %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func checkGrant(t *testing.T, what string, h http.Header, origin string) {
	t.Helper()
	if got := h.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("%s: ACAO %q, want %q", what, got, origin)
	}
	for _, n := range []string{"Mcp-Session-Id", "Mcp-Protocol-Version", "WWW-Authenticate", "RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-Id"} {
		if !listHas(h.Get("Access-Control-Expose-Headers"), n) {
			t.Errorf("%s: Expose-Headers %q lacks %s", what, h.Get("Access-Control-Expose-Headers"), n)
		}
	}
	if !listHas(h.Get("Vary"), "Origin") {
		t.Errorf("%s: Vary %q", what, h.Get("Vary"))
	}
	if _, ok := h["Access-Control-Allow-Credentials"]; ok {
		t.Errorf("%s: credentials allowed", what)
	}
}

func TestValidateOrigins(t *testing.T) {
	for _, ok := range [][]string{nil, {"*"}, {"loopback"}, {"https://app.example.com", "http://localhost:6274", "http://[::1]:80"}} {
		if err := pipeline.ValidateOrigins(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"app.example.com", "https://app.example.com/", "https://app.example.com/mcp", "ftp://x", "https://u@x", "https://x?", "null", ""} {
		if err := pipeline.ValidateOrigins([]string{bad}); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
