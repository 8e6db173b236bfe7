package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
)

func TestConsentPage(t *testing.T) {
	e := newEnv(t, nil)
	e.backend.addClient(&mcpgate.Client{ID: "https://tool.example/client.json", Name: "Doc Tool", Source: "cimd"})
	tests := []struct {
		name           string
		client         string
		redirect       string
		scopes         []string
		wantName       string
		wantHost       string
		wantUnverified bool
		wantText       []string
	}{
		{"pre-registered", "cli-app", appRedirect, []string{"notes:write"}, "Team Notes", "app.example.com", false,
			[]string{"Create notes on your behalf"}},
		{"dynamic registration", "dcr-app", "http://127.0.0.1:33418/cb", []string{"notes:read", "docs:read"},
			"Claude &lt;script&gt;alert(1)&lt;/script&gt;", "127.0.0.1:33418", true,
			[]string{"Read your notes", "Read your organisation&#39;s documents"}},
		{"metadata document", "https://tool.example/client.json", "https://tool.example/cb", []string{"custom:thing"},
			"Doc Tool", "tool.example", true, []string{"<code>custom:thing</code>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := e.backend.addRequest(tt.client, tt.redirect, tt.scopes...)
			a := e.agent()
			wantRedirect(t, a.login(req, "alice", alicePassword), "/consent?req="+req)
			page := a.get("/consent?req=" + req)
			wantStatus(t, page, http.StatusOK)
			if !strings.Contains(page.Body, `id="client-name">`+tt.wantName+`<`) {
				t.Errorf("client name %q not shown escaped:\n%s", tt.wantName, page.Body)
			}
			if strings.Contains(page.Body, "<script>") {
				t.Error("client name not escaped")
			}
			if !strings.Contains(page.Body, `id="redirect-host">`+tt.wantHost+`<`) {
				t.Errorf("redirect host %q not shown:\n%s", tt.wantHost, page.Body)
			}
			if got := strings.Contains(page.Body, `id="unverified"`); got != tt.wantUnverified {
				t.Errorf("unverified mark %v, want %v", got, tt.wantUnverified)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(page.Body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
		})
	}
}

func TestConsentApproveAndDeny(t *testing.T) {
	e := newEnv(t, nil)

	t.Run("approve with one scope unticked", func(t *testing.T) {
		req := e.backend.addRequest("cli-app", appRedirect, "notes:read", "notes:write")
		a := e.agent()
		wantRedirect(t, a.login(req, "alice", alicePassword), "/consent?req="+req)
		page := a.get("/consent?req=" + req)
		res := a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
		wantRedirect(t, res, appRedirect+"?code=code-"+req+"&state=st")
		got, _ := e.backend.lastApproval()
		if !slices.Equal(got.Scopes, []string{"notes:read"}) || got.User.Subject != "alice" || got.User.Method != MethodPassword {
			t.Errorf("approval %+v", got)
		}
		// Answered: the request is gone.
		wantStatus(t, a.get("/consent?req="+req), http.StatusBadRequest)
	})
	t.Run("approve with nothing ticked", func(t *testing.T) {
		req := e.backend.addRequest("dcr-app", appRedirect, "notes:read")
		a := e.agent()
		wantRedirect(t, a.login(req, "bob", bobPassword), "/consent?req="+req)
		page := a.get("/consent?req=" + req)
		res := a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"}})
		wantStatus(t, res, http.StatusBadRequest)
		if !strings.Contains(res.Body, "Choose at least one permission") {
			t.Errorf("no error:\n%s", res.Body)
		}
	})
	t.Run("deny", func(t *testing.T) {
		req := e.backend.addRequest("dcr-app", "http://127.0.0.1:33418/cb", "notes:read")
		a := e.agent()
		wantRedirect(t, a.login(req, "alice", alicePassword), "/consent?req="+req)
		page := a.get("/consent?req=" + req)
		res := a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"deny"}})
		wantRedirect(t, res, "http://127.0.0.1:33418/cb?error=access_denied&state=st")
	})
	t.Run("not signed in", func(t *testing.T) {
		req := e.backend.addRequest("cli-app", appRedirect, "notes:read")
		a := e.agent()
		wantRedirect(t, a.get("/consent?req="+req), "/login?req="+req)
		wantRedirect(t, a.post("/consent", url.Values{"req": {req}, "action": {"approve"}}), "/login?req="+req)
	})
}

func TestConsentSkippedAfterPriorApproval(t *testing.T) {
	e := newEnv(t, nil)
	first := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	a := e.agent()
	wantRedirect(t, a.login(first, "bob", bobPassword), "/consent?req="+first)
	page := a.get("/consent?req=" + first)
	wantStatus(t, page, http.StatusOK)
	wantStatus(t, a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {first}, "action": {"approve"}, "scope": {"notes:read"}}),
		http.StatusSeeOther)

	// Same client again: no page, straight back to the app.
	second := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	wantRedirect(t, a.get("/consent?req="+second), appRedirect+"?code=code-"+second+"&state=st")

	// Asking for more than bob may grant is shown, not skipped.
	third := e.backend.addRequest("cli-app", appRedirect, "notes:read", "notes:write")
	wantStatus(t, a.get("/consent?req="+third), http.StatusOK)
}

func TestConsentNothingGrantable(t *testing.T) {
	e := newEnv(t, nil)
	req := e.backend.addRequest("cli-app", appRedirect, "notes:write")
	a := e.agent()
	wantRedirect(t, a.login(req, "bob", bobPassword), "/consent?req="+req)
	page := a.get("/consent?req=" + req)
	wantStatus(t, page, http.StatusOK)
	if strings.Contains(page.Body, `id="approve"`) {
		t.Error("Allow offered though nothing can be granted")
	}
	res := a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"}, "scope": {"notes:write"}})
	if res.Status == http.StatusSeeOther {
		t.Fatalf("approved a scope beyond the cap: %s", res.Header.Get("Location"))
	}
	if _, ok := e.backend.lastApproval(); ok {
		t.Fatal("approval reached the server")
	}
}

func TestConsentDisabledUser(t *testing.T) {
	e := newEnv(t, nil)
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	a := e.agent()
	wantRedirect(t, a.login(req, "alice", alicePassword), "/consent?req="+req)
	page := a.get("/consent?req=" + req)
	e.users.disable("alice", e.clock.Now())
	res := a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
	wantRedirect(t, res, "/login?req="+req)
	if _, ok := e.backend.lastApproval(); ok {
		t.Fatal("disabled user approved")
	}
}

func TestOffer(t *testing.T) {
	tests := []struct {
		name                   string
		s                      session
		requested              []string
		wantOffered, wantWithh []string
	}{
		{"uncapped", session{}, []string{"a", "b", "a"}, []string{"a", "b"}, nil},
		{"capped", session{Capped: true, Scopes: []string{"a"}}, []string{"a", "b"}, []string{"a"}, []string{"b"}},
		{"capped asks nothing", session{Capped: true, Scopes: []string{"a", "c"}}, nil, []string{"a", "c"}, nil},
		{"uncapped asks nothing", session{}, nil, nil, nil},
		{"capped to nothing", session{Capped: true}, []string{"a"}, nil, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, w := offer(&tt.s, tt.requested)
			if !slices.Equal(o, tt.wantOffered) || !slices.Equal(w, tt.wantWithh) {
				t.Errorf("offer = %q, %q; want %q, %q", o, w, tt.wantOffered, tt.wantWithh)
			}
		})
	}
}

// A session begun with an API key ends when the key is revoked: consent
// is neither given with a page loaded before nor shown again, since a code
// approved now could not be exchanged.
func TestConsentKeyRevoked(t *testing.T) {
	e := newEnv(t, nil)
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	a, b := e.agent(), e.agent()
	wantRedirect(t, a.loginKey(req, testAPIKey), "/consent?req="+req)
	wantRedirect(t, b.loginKey(req, testAPIKey), "/consent?req="+req)
	page := a.get("/consent?req=" + req)
	wantStatus(t, page, http.StatusOK)

	e.keys.revoke("key1")
	res := a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
	wantRedirect(t, res, "/login?req="+req)
	if _, ok := e.backend.lastApproval(); ok {
		t.Fatal("approved with a revoked key's session")
	}
	wantRedirect(t, b.get("/consent?req="+req), "/login?req="+req)
	if len(b.cookies) != 0 {
		t.Errorf("session cookie kept after the key was revoked: %v", b.cookies)
	}
}
