package login

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
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
	// What tells apart two apps of one name: where the app lives (the
	// host of its metadata document, or where it has people sent back
	// to), when it registered, and the end of its client id.
	From       string
	Registered time.Time
	IDSuffix   string
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
	page := appsPage{Subject: p.who(s.Subject), CSRF: s.CSRF}
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
			Scopes:     scopeViews(p.scopeText, g.Scopes),
			Resource:   g.Resource,
			Created:    g.CreatedAt,
			LastUsed:   g.LastUsed,
			From:       clientFrom(c, g.ClientID),
			Registered: registered(c),
			IDSuffix:   idSuffix(g.ClientID),
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

// clientFrom says where a client lives: the host of its metadata document
// URL, or the hosts (at most two) of its redirect URIs.
func clientFrom(c *mcpgate.Client, id string) string {
	if u, err := url.Parse(id); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		return u.Host
	}
	if c == nil {
		return ""
	}
	var hosts []string
	for _, r := range c.RedirectURIs {
		if h := redirectHost(r); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) > 2 {
		hosts = append(hosts[:2], "…")
	}
	return strings.Join(hosts, ", ")
}

func registered(c *mcpgate.Client) time.Time {
	if c == nil {
		return time.Time{}
	}
	return c.CreatedAt
}

// idSuffix is the end of a client id, enough to tell two apart; a URL
// client id is named by its host instead.
func idSuffix(id string) string {
	if strings.Contains(id, "://") {
		return ""
	}
	const n = 6
	if len(id) <= n+2 {
		return id
	}
	return "…" + id[len(id)-n:]
}
