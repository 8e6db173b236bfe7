package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func TestAppsListsOwnGrants(t *testing.T) {
	e := newEnv(t, nil)
	created := e.clock.Now().Add(-48 * time.Hour)
	e.grants.add(&mcpgate.Grant{ID: "g-alice", Subject: "alice", ClientID: "cli-app", Scopes: []string{"notes:write"},
		CreatedAt: created, LastUsed: created.Add(time.Hour)})
	e.grants.add(&mcpgate.Grant{ID: "g-dcr", Subject: "alice", ClientID: "dcr-app", Scopes: []string{"docs:read"}, CreatedAt: created})
	e.grants.add(&mcpgate.Grant{ID: "g-bob", Subject: "bob", Tenant: "acme", ClientID: "cli-app", Scopes: []string{"notes:read"}})
	// Same subject name in another tenant: not alice's.
	e.grants.add(&mcpgate.Grant{ID: "g-other-tenant", Subject: "alice", Tenant: "acme", ClientID: "cli-app"})

	a := e.agent()
	wantRedirect(t, a.login("", "alice", alicePassword), "/apps")
	page := a.get("/apps")
	wantStatus(t, page, http.StatusOK)
	for _, want := range []string{"Team Notes", "Create notes on your behalf", "24 Nov 2026 09:00 UTC", "24 Nov 2026 10:00 UTC",
		"Claude &lt;script&gt;", "unverified", "Last used never", `value="g-alice"`, `value="g-dcr"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("apps page lacks %q", want)
		}
	}
	for _, notWant := range []string{"g-bob", "g-other-tenant"} {
		if strings.Contains(page.Body, notWant) {
			t.Errorf("apps page shows %s", notWant)
		}
	}
}

func TestAppsRevoke(t *testing.T) {
	e := newEnv(t, nil)
	e.grants.add(&mcpgate.Grant{ID: "g-alice", Subject: "alice", ClientID: "cli-app"})
	e.grants.add(&mcpgate.Grant{ID: "g-bob", Subject: "bob", Tenant: "acme", ClientID: "cli-app"})
	e.grants.add(&mcpgate.Grant{ID: "g-other-tenant", Subject: "alice", Tenant: "acme", ClientID: "cli-app"})
	a := e.agent()
	wantRedirect(t, a.login("", "alice", alicePassword), "/apps")
	token := csrf(t, a.get("/apps"))

	for _, id := range []string{"g-bob", "g-other-tenant", "g-missing", ""} {
		t.Run("not yours "+id, func(t *testing.T) {
			res := a.post("/apps", url.Values{"csrf": {token}, "grant": {id}})
			wantStatus(t, res, http.StatusNotFound)
		})
	}
	if got := e.grants.revocations(); len(got) != 0 {
		t.Fatalf("revoked %q, want nothing", got)
	}

	res := a.post("/apps", url.Values{"csrf": {token}, "grant": {"g-alice"}})
	wantRedirect(t, res, "/apps?done=revoked")
	if got := e.grants.revocations(); !slices.Equal(got, []string{"g-alice"}) {
		t.Fatalf("revoked %q, want [g-alice]", got)
	}
	g, _ := e.grants.Grant(t.Context(), "g-alice")
	if !g.RevokedAt.Equal(e.clock.Now()) {
		t.Errorf("revoked at %v, want the clock's %v", g.RevokedAt, e.clock.Now())
	}
	page := a.get("/apps?done=revoked")
	if !strings.Contains(page.Body, "Access revoked") || !strings.Contains(page.Body, `id="no-apps"`) {
		t.Errorf("apps page after revoke:\n%s", page.Body)
	}
}

func TestAppsNeedsSession(t *testing.T) {
	e := newEnv(t, nil)
	a := e.agent()
	wantRedirect(t, a.get("/apps"), "/login")
	wantRedirect(t, a.post("/apps", url.Values{"grant": {"g"}}), "/login")
}
