package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate"
)

type scopeView struct {
	Name string
	Text string // plain words; empty when none are known
}

type consentPage struct {
	Req          string
	CSRF         string
	Subject      string
	ClientName   string
	ClientID     string
	Unverified   bool
	RedirectHost string
	Scopes       []scopeView // may be granted
	Withheld     []scopeView // asked for, beyond what the person may grant
	Error        string
}

// textFor returns the words for the scopes of pr's resource: its own if
// it has any, else the pages'.
func (p *Pages) textFor(pr *Request) map[string]string {
	if pr.ScopeText != nil {
		return pr.ScopeText
	}
	return p.scopeText
}

// scopeViews describes scopes in the words of text.
func scopeViews(text map[string]string, scopes []string) []scopeView {
	v := make([]scopeView, 0, len(scopes))
	for _, s := range scopes {
		v = append(v, scopeView{Name: s, Text: text[s]})
	}
	return v
}

// offer splits the requested scopes into those the session may grant and
// those beyond its cap. An app that asks for nothing is offered everything
// a capped session holds (shown on the page), or nothing from an uncapped
// one, leaving the server's defaults.
func offer(s *session, requested []string) (offered, withheld []string) {
	if len(requested) == 0 {
		if s.Capped {
			return slices.Clone(s.Scopes), nil
		}
		return nil, nil
	}
	for _, sc := range requested {
		if slices.Contains(offered, sc) || slices.Contains(withheld, sc) {
			continue
		}
		if !s.Capped || slices.Contains(s.Scopes, sc) {
			offered = append(offered, sc)
		} else {
			withheld = append(withheld, sc)
		}
	}
	return offered, withheld
}

// unverified reports whether the client named itself: registered
// dynamically (RFC 7591) or by a metadata document it hosts.
func unverified(c *mcpgate.Client, clientID string) bool {
	if strings.HasPrefix(clientID, "https://") || strings.HasPrefix(clientID, "http://") {
		return true
	}
	return c == nil || c.Source != "cli"
}

func (p *Pages) getConsent(w http.ResponseWriter, r *http.Request) {
	reqID := r.URL.Query().Get("req")
	if reqID == "" {
		p.renderMessage(w, http.StatusBadRequest, "Bad request", "No authorization request was given.", "")
		return
	}
	s, id := p.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login?req="+url.QueryEscape(reqID), http.StatusSeeOther)
		return
	}
	if !p.stillAllowed(r.Context(), s) {
		p.endSession(w, id)
		http.Redirect(w, r, "/login?req="+url.QueryEscape(reqID), http.StatusSeeOther)
		return
	}
	pr, err := p.backend.PendingRequest(r.Context(), reqID, s.Subject)
	if err != nil {
		p.requestError(w, err)
		return
	}
	offered, withheld := offer(s, pr.Scopes)
	if pr.PriorApproval && len(withheld) == 0 && (len(offered) > 0 || !s.Capped) {
		p.approve(w, r, s, pr, offered)
		return
	}
	p.showConsent(w, r, http.StatusOK, s, pr, "")
}

func (p *Pages) showConsent(w http.ResponseWriter, r *http.Request, status int, s *session, pr *Request, errMsg string) {
	offered, withheld := offer(s, pr.Scopes)
	c, err := p.backend.Client(r.Context(), pr.ClientID)
	if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
		p.log.Warn("login: look up client", "client_id", pr.ClientID, "err", err)
	}
	name := pr.ClientName
	if name == "" {
		name = pr.ClientID
	}
	page := consentPage{
		Req:          pr.ID,
		CSRF:         s.CSRF,
		Subject:      p.who(s.Subject),
		ClientName:   name,
		ClientID:     pr.ClientID,
		Unverified:   unverified(c, pr.ClientID),
		RedirectHost: redirectHost(pr.RedirectURI),
		Scopes:       scopeViews(p.textFor(pr), offered),
		Withheld:     scopeViews(p.textFor(pr), withheld),
		Error:        errMsg,
	}
	p.render(w, status, "consent.html", page, redirectSource(pr.RedirectURI))
}

func (p *Pages) postConsent(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	form := r.PostForm
	reqID := form.Get("req")
	s, id := p.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login?req="+url.QueryEscape(reqID), http.StatusSeeOther)
		return
	}
	if !tokensEqual(s.CSRF, form.Get("csrf")) {
		p.csrfRefused(w)
		return
	}
	pr, err := p.backend.PendingRequest(r.Context(), reqID, s.Subject)
	if err != nil {
		p.requestError(w, err)
		return
	}
	switch form.Get("action") {
	case "deny":
		to, err := p.backend.Deny(r.Context(), pr.ID)
		if err != nil {
			p.requestError(w, err)
			return
		}
		p.log.Info("login: consent denied", "subject", s.Subject, "tenant", s.Tenant, "client_id", pr.ClientID)
		http.Redirect(w, r, to, http.StatusSeeOther)
	case "approve":
		if !p.stillAllowed(r.Context(), s) {
			p.endSession(w, id)
			http.Redirect(w, r, "/login?req="+url.QueryEscape(reqID), http.StatusSeeOther)
			return
		}
		offered, withheld := offer(s, pr.Scopes)
		if len(offered) == 0 && len(withheld) > 0 {
			p.showConsent(w, r, http.StatusForbidden, s, pr, "Your account cannot grant any of the permissions this app asks for.")
			return
		}
		var chosen []string
		for _, sc := range offered {
			if slices.Contains(form["scope"], sc) {
				chosen = append(chosen, sc)
			}
		}
		if len(offered) > 0 && len(chosen) == 0 {
			p.showConsent(w, r, http.StatusBadRequest, s, pr, "Choose at least one permission, or deny access.")
			return
		}
		p.approve(w, r, s, pr, chosen)
	default:
		p.renderMessage(w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
	}
}

func (p *Pages) approve(w http.ResponseWriter, r *http.Request, s *session, pr *Request, scopes []string) {
	to, err := p.backend.Approve(r.Context(), pr.ID, s.principal(scopes), scopes)
	if err != nil {
		p.requestError(w, err)
		return
	}
	p.log.Info("login: consent approved", "subject", s.Subject, "tenant", s.Tenant,
		"client_id", pr.ClientID, "scopes", strings.Join(scopes, " "), "prior", pr.PriorApproval)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// stillAllowed reports whether a session may still approve: a password
// session's user still exists and is enabled, and an API-key session's key
// is neither revoked nor expired, and a federated session's subject is not
// disabled. Disabling the user or revoking the key
// stops new approvals at once, since a code approved now could not be
// exchanged anyway.
func (p *Pages) stillAllowed(ctx context.Context, s *session) bool {
	switch s.Method {
	case MethodPassword:
		u, err := p.users.User(ctx, s.Subject)
		if err != nil {
			if !errors.Is(err, mcpgate.ErrNotFound) {
				p.log.Error("login: look up user", "err", err)
			}
			return false
		}
		return u.Tenant == s.Tenant && (u.DisabledAt.IsZero() || p.now().Before(u.DisabledAt))
	case mcpgate.MethodAPIKey:
		if p.keys == nil {
			return false
		}
		err := p.keys.CheckKey(ctx, s.KeyID)
		if err != nil && !errors.Is(err, mcpgate.ErrUnauthenticated) {
			p.log.Error("login: check API key", "key_id", s.KeyID, "err", err)
		}
		return err == nil
	case mcpgate.MethodFederated:
		return p.fed != nil && !p.federatedDisabled(ctx, s.Subject)
	}
	return true
}
