package login

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/federation"
)

// Federation is sign-in at upstream OpenID providers, as the pages drive
// it; *federation.Federation implements it.
type Federation interface {
	// Providers lists the providers to offer on the sign-in page.
	Providers() []federation.ProviderInfo
	// Begin starts a sign-in at provider id for the pending request
	// requestID and returns where to send the browser, and the state.
	Begin(ctx context.Context, id, requestID string) (authURL, state string, err error)
	// Abort ends the sign-in with state after the provider answered with
	// an error, returning its request id.
	Abort(ctx context.Context, state string) (requestID string, err error)
	// Finish completes the sign-in with state and returns who signed in.
	Finish(ctx context.Context, state, code, iss string) (*federation.Identity, error)
	// Describe names a federated subject for the pages, or returns "".
	Describe(subject string) string
	// Forget deletes the provider tokens kept for subject.
	Forget(ctx context.Context, subject string) error
}

// federatedDisabled reports whether an administrator disabled the
// federated subject (mcpgate users disable): a user row of that name,
// disabled, marks it (DisabledFederatedUser). No row means enabled; a
// store that cannot answer counts as disabled, so an outage never lets a
// disabled person in.
func (p *Pages) federatedDisabled(ctx context.Context, subject string) bool {
	u, err := p.users.User(ctx, subject)
	switch {
	case errors.Is(err, mcpgate.ErrNotFound):
		return false
	case err != nil:
		p.log.Error("login: look up user", "err", err)
		return true
	}
	return !u.DisabledAt.IsZero() && !p.now().Before(u.DisabledAt)
}

// who names the signed-in person on the pages: a federated subject by the
// provider's name for them, anyone else by their subject.
func (p *Pages) who(subject string) string {
	if p.fed != nil {
		if d := p.fed.Describe(subject); d != "" {
			return d
		}
	}
	return subject
}

// federationCookieName holds the state of a federated sign-in in progress:
// the callback must come back to the browser that started it.
const federationCookieName = "mcpgate-oidc"

// federationCookieAge is how long a sign-in at a provider may take; the
// state in the store expires on its own clock too.
const federationCookieAge = 600

// Callback is the path providers send the browser back to: register the
// public origin followed by it as the redirect URI at every provider.
const Callback = "/login/oidc/callback"

// startFederated sends the browser to the provider chosen on the sign-in
// page (GET /login/oidc/start?provider=ID&req=REQ). It is a link, not a
// form, so that the redirect to the provider's origin is not subject to
// the page's form-action policy.
func (p *Pages) startFederated(w http.ResponseWriter, r *http.Request) {
	if p.fed == nil {
		p.renderMessage(w, http.StatusNotFound, "Not found", "Sign-in with an identity provider is not enabled.", "/login")
		return
	}
	q := r.URL.Query()
	reqID := q.Get("req")
	back := "/login?req=" + url.QueryEscape(reqID)
	if wait := p.allowStart(r.Context(), addrKey(r.RemoteAddr)); wait > 0 {
		p.log.Warn("login: federated sign-in starts refused", "why", "too many from this address", "addr", addrKey(r.RemoteAddr))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		p.renderMessage(w, http.StatusTooManyRequests, "Too many sign-ins",
			"Too many sign-ins were started from your network. Try again in "+humanWait(wait)+".", back)
		return
	}
	if reqID != "" {
		if _, err := p.backend.PendingRequest(r.Context(), reqID, ""); err != nil {
			p.requestError(w, err)
			return
		}
	}
	to, state, err := p.fed.Begin(r.Context(), q.Get("provider"), reqID)
	switch {
	case errors.Is(err, federation.ErrUnknownProvider):
		p.renderMessage(w, http.StatusNotFound, "Not found", "There is no such sign-in option.", back)
		return
	case errors.Is(err, federation.ErrUnavailable):
		p.renderMessage(w, http.StatusBadGateway, "Sign-in unavailable",
			"The identity provider is not answering. Try again in a minute, or sign in another way.", back)
		return
	case err != nil:
		p.internalError(w, "begin federated sign-in", err)
		return
	}
	// Lax, not Strict: the provider sends the browser back with a
	// cross-site top-level navigation, which must carry the cookie.
	p.setCookie(w, federationCookieName, state, http.SameSiteLaxMode, federationCookieAge)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// federatedCallback finishes a sign-in at a provider (GET
// /login/oidc/callback?code=…&state=…). The state must equal the one in
// this browser's cookie and be known to the store, once; otherwise
// nothing is exchanged or linked.
func (p *Pages) federatedCallback(w http.ResponseWriter, r *http.Request) {
	if p.fed == nil {
		p.renderMessage(w, http.StatusNotFound, "Not found", "Sign-in with an identity provider is not enabled.", "/login")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	cookie := p.cookie(r, federationCookieName)
	p.setCookie(w, federationCookieName, "", http.SameSiteLaxMode, -1)
	if state == "" || !tokensEqual(cookie, state) {
		p.log.Warn("login: federated sign-in refused", "why", "state does not match this browser's", "addr", addrKey(r.RemoteAddr))
		p.renderMessage(w, http.StatusBadRequest, "Sign-in link not valid",
			"This sign-in did not start in this browser, or it was finished already. Start again from the sign-in page.", "/login")
		return
	}
	if e := q.Get("error"); e != "" {
		reqID, err := p.fed.Abort(r.Context(), state)
		if err != nil && !errors.Is(err, federation.ErrState) {
			p.log.Error("login: end federated sign-in", "err", err)
		}
		p.log.Info("login: federated sign-in ended by the provider", "error", e)
		p.renderMessage(w, http.StatusUnauthorized, "Sign-in cancelled",
			"The identity provider did not sign you in. Try again, or sign in another way.", "/login?req="+url.QueryEscape(reqID))
		return
	}
	id, err := p.fed.Finish(r.Context(), state, q.Get("code"), q.Get("iss"))
	switch {
	case errors.Is(err, federation.ErrState):
		p.log.Warn("login: federated sign-in refused", "why", "state unknown, expired or used", "addr", addrKey(r.RemoteAddr))
		p.renderMessage(w, http.StatusBadRequest, "Sign-in link not valid",
			"This sign-in expired or was finished already. Start again from the sign-in page.", "/login")
		return
	case errors.Is(err, federation.ErrIdentity), errors.Is(err, federation.ErrUnknownProvider):
		p.log.Warn("login: federated sign-in refused", "err", err, "addr", addrKey(r.RemoteAddr))
		p.renderMessage(w, http.StatusUnauthorized, "Sign-in failed",
			"The identity provider's answer could not be verified, so you were not signed in. Start again from the sign-in page.", "/login")
		return
	case errors.Is(err, federation.ErrUnavailable):
		p.log.Warn("login: federated sign-in failed", "err", err)
		p.renderMessage(w, http.StatusBadGateway, "Sign-in unavailable",
			"The identity provider is not answering. Try again in a minute, or sign in another way.", "/login")
		return
	case err != nil:
		p.internalError(w, "finish federated sign-in", err)
		return
	}
	if p.federatedDisabled(r.Context(), id.Subject) {
		// Finish kept the provider's tokens; a disabled person keeps none.
		if err := p.fed.Forget(r.Context(), id.Subject); err != nil {
			p.log.Error("login: delete provider tokens", "subject", id.Subject, "err", err)
		}
		p.log.Warn("login: federated sign-in refused", "why", "subject disabled", "subject", id.Subject, "addr", addrKey(r.RemoteAddr))
		p.renderMessage(w, http.StatusForbidden, "Account disabled",
			"Your account is disabled here, so you were not signed in. Ask the administrator of this server.", "")
		return
	}
	s := &session{Subject: id.Subject, Method: mcpgate.MethodFederated, Expires: p.now().Add(p.ttl)}
	if err := p.startSession(w, r, s); err != nil {
		p.internalError(w, "start session", err)
		return
	}
	p.log.Info("login: signed in", "subject", s.Subject, "method", s.Method, "issuer", id.Issuer)
	http.Redirect(w, r, nextURL(id.RequestID), http.StatusSeeOther)
}
