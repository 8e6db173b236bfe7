package login

import (
	"errors"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate"
)

type appView struct {
	GrantID    string
	ClientName string
	ClientID   string
	Unverified bool
	Scopes     []scopeView
	Resource   string
	Created    time.Time
	LastUsed   time.Time
}

type appsPage struct {
	Subject string
	CSRF    string
	Apps    []appView
	Notice  string
}

func (p *Pages) getApps(w http.ResponseWriter, r *http.Request) {
	s, _ := p.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	grants, err := p.grants.ListGrants(r.Context(), s.Subject)
	if err != nil {
		p.internalError(w, "list grants", err)
		return
	}
	page := appsPage{Subject: s.Subject, CSRF: s.CSRF}
	if r.URL.Query().Get("done") == "revoked" {
		page.Notice = "Access revoked. The app's tokens no longer work."
	}
	clients := map[string]*mcpgate.Client{}
	for _, g := range grants {
		if g.Tenant != s.Tenant || !g.RevokedAt.IsZero() {
			continue
		}
		c, seen := clients[g.ClientID]
		if !seen {
			c, err = p.backend.Client(r.Context(), g.ClientID)
			if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
				p.log.Warn("login: look up client", "client_id", g.ClientID, "err", err)
			}
			clients[g.ClientID] = c
		}
		name := g.ClientID
		if c != nil && c.Name != "" {
			name = c.Name
		}
		page.Apps = append(page.Apps, appView{
			GrantID:    g.ID,
			ClientName: name,
			ClientID:   g.ClientID,
			Unverified: unverified(c, g.ClientID),
			Scopes:     p.scopeViews(g.Scopes),
			Resource:   g.Resource,
			Created:    g.CreatedAt,
			LastUsed:   g.LastUsed,
		})
	}
	p.render(w, http.StatusOK, "apps.html", page)
}

// postApps revokes one of the signed-in person's grants. A grant of anyone
// else, or in another tenant, is reported as not found.
func (p *Pages) postApps(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	s, _ := p.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !tokensEqual(s.CSRF, r.PostForm.Get("csrf")) {
		p.csrfRefused(w)
		return
	}
	id := r.PostForm.Get("grant")
	notFound := func() {
		p.renderMessage(w, http.StatusNotFound, "Not found", "That connected app was not found.", "/apps")
	}
	g, err := p.grants.Grant(r.Context(), id)
	switch {
	case errors.Is(err, mcpgate.ErrNotFound):
		notFound()
		return
	case err != nil:
		p.internalError(w, "load grant", err)
		return
	case g.Subject != s.Subject || g.Tenant != s.Tenant:
		notFound()
		return
	}
	err = p.grants.RevokeGrant(r.Context(), s.Subject, id, p.now())
	switch {
	case errors.Is(err, mcpgate.ErrNotFound):
		notFound()
		return
	case err != nil:
		p.internalError(w, "revoke grant", err)
		return
	}
	p.log.Info("login: grant revoked", "subject", s.Subject, "tenant", s.Tenant, "grant_id", id, "client_id", g.ClientID)
	http.Redirect(w, r, "/apps?done=revoked", http.StatusSeeOther)
}
