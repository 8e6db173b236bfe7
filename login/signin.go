package login

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/federation"
)

// Messages shown on the sign-in page. The password one is the same for an
// unknown user, a wrong password and a disabled user.
const (
	msgBadPassword = "Incorrect username or password."
	msgBadKey      = "That API key is not valid."
	msgMissing     = "Enter your username and password."
	msgMissingKey  = "Paste your mcpgate API key."
)

var errUnavailable = errors.New("sign-in unavailable")

type loginPage struct {
	Req        string
	ClientName string
	CSRF       string
	Username   string
	Error      string
	KeyLogin   bool // offer the API-key form
	KeyError   bool // the error belongs to the API-key form
	Providers  []federation.ProviderInfo
}

// nextURL is where a signed-in person goes: on to consent for a pending
// request, else to their connected apps.
func nextURL(reqID string) string {
	if reqID == "" {
		return "/apps"
	}
	return "/consent?req=" + url.QueryEscape(reqID)
}

func (p *Pages) getLogin(w http.ResponseWriter, r *http.Request) {
	reqID := r.URL.Query().Get("req")
	if s, _ := p.currentSession(r); s != nil {
		http.Redirect(w, r, nextURL(reqID), http.StatusSeeOther)
		return
	}
	p.showLogin(w, r, http.StatusOK, loginPage{Req: reqID})
}

// showLogin renders the sign-in form. For a pending request it names the
// app and lets the form's redirect chain reach the app's redirect URI
// (consent is skipped when the person approved the app before).
func (p *Pages) showLogin(w http.ResponseWriter, r *http.Request, status int, page loginPage) {
	var target string
	if page.Req != "" {
		pr, err := p.backend.PendingRequest(r.Context(), page.Req, "")
		if err != nil {
			p.requestError(w, err)
			return
		}
		page.ClientName = pr.ClientName
		if page.ClientName == "" {
			page.ClientName = pr.ClientID
		}
		target = redirectSource(pr.RedirectURI)
	}
	token, err := p.loginToken(w, r)
	if err != nil {
		p.internalError(w, "login token", err)
		return
	}
	page.CSRF = token
	page.KeyLogin = p.keys != nil
	if p.fed != nil {
		page.Providers = p.fed.Providers()
	}
	p.render(w, status, "login.html", page, target)
}

func (p *Pages) postLogin(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	form := r.PostForm
	page := loginPage{Req: form.Get("req")}
	if !tokensEqual(p.cookie(r, loginCookieName), form.Get("csrf")) {
		p.renderMessage(w, http.StatusForbidden, "Please try again",
			"The sign-in form expired. Go back, reload the page and sign in again.", "/login?req="+url.QueryEscape(page.Req))
		return
	}
	now := p.now()
	addr := addrKey(r.RemoteAddr)

	var s *session
	switch form.Get("method") {
	case "password":
		name := strings.TrimSpace(form.Get("username"))
		page.Username = name
		pw := form.Get("password")
		if name == "" || pw == "" {
			page.Error = msgMissing
			p.showLogin(w, r, http.StatusBadRequest, page)
			return
		}
		if wait := max(p.userLimit.wait(usernameKey(name), now), p.addrLimit.wait(addr, now)); wait > 0 {
			p.throttled(w, r, page, wait)
			return
		}
		u, err := p.checkPassword(r.Context(), name, pw)
		if errors.Is(err, errUnavailable) {
			p.renderMessage(w, http.StatusServiceUnavailable, "Sign-in unavailable",
				"Sign-in is unavailable right now. Try again in a minute.", "")
			return
		}
		if err != nil {
			if p.failed(r.Context(), p.userLimit, usernameKey(name), sharedUserLimit, now) {
				p.alerts(r.Context(), AlertSigninLockout, "subject", strings.ToLower(name), "addr", addr)
			}
			if p.failed(r.Context(), p.addrLimit, addr, sharedAddrLimit, now) {
				p.alerts(r.Context(), AlertSigninLockout, "addr", addr)
			}
			p.log.Warn("login: sign-in failed", "method", MethodPassword, "addr", addr)
			page.Error = msgBadPassword
			p.showLogin(w, r, http.StatusUnauthorized, page)
			return
		}
		p.userLimit.reset(usernameKey(name))
		s = &session{Subject: u.Name, Tenant: u.Tenant, Method: MethodPassword,
			Scopes: u.Scopes, Capped: len(u.Scopes) > 0, Expires: now.Add(p.ttl)}

	case "api_key":
		page.KeyError = true
		if p.keys == nil {
			p.renderMessage(w, http.StatusBadRequest, "Bad request", "API-key sign-in is not enabled.", "")
			return
		}
		key := strings.TrimSpace(form.Get("api_key"))
		if key == "" {
			page.Error = msgMissingKey
			p.showLogin(w, r, http.StatusBadRequest, page)
			return
		}
		if wait := p.addrLimit.wait(addr, now); wait > 0 {
			p.throttled(w, r, page, wait)
			return
		}
		pr, err := p.keys.Verify(r.Context(), key)
		if err != nil && !errors.Is(err, mcpgate.ErrUnauthenticated) {
			p.log.Error("login: verify API key", "err", err)
			p.renderMessage(w, http.StatusServiceUnavailable, "Sign-in unavailable",
				"Sign-in is unavailable right now. Try again in a minute.", "")
			return
		}
		// Only an API key may sign in here: an access token pasted into
		// the form must not be turned into a session that mints more.
		if err != nil || pr == nil || pr.Method != mcpgate.MethodAPIKey || pr.Subject == "" {
			if p.failed(r.Context(), p.addrLimit, addr, sharedAddrLimit, now) {
				p.alerts(r.Context(), AlertSigninLockout, "addr", addr)
			}
			p.log.Warn("login: sign-in failed", "method", mcpgate.MethodAPIKey, "addr", addr)
			page.Error = msgBadKey
			p.showLogin(w, r, http.StatusUnauthorized, page)
			return
		}
		expires := now.Add(p.ttl)
		if !pr.Expires.IsZero() && pr.Expires.Before(expires) {
			expires = pr.Expires
		}
		s = &session{Subject: pr.Subject, Tenant: pr.Tenant, Method: mcpgate.MethodAPIKey, KeyID: pr.KeyID,
			Scopes: append([]string(nil), pr.Scopes...), Capped: true, Expires: expires}

	default:
		p.renderMessage(w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}

	if err := p.startSession(w, r, s); err != nil {
		p.internalError(w, "start session", err)
		return
	}
	p.setCookie(w, loginCookieName, "", http.SameSiteStrictMode, -1)
	p.log.Info("login: signed in", "subject", s.Subject, "tenant", s.Tenant, "method", s.Method, "key_id", s.KeyID)
	http.Redirect(w, r, nextURL(page.Req), http.StatusSeeOther)
}

// checkPassword returns the enabled user name whose password is pw. An
// unknown name costs one argon2 run too, against a dummy hash, so timing
// does not tell which names exist.
func (p *Pages) checkPassword(ctx context.Context, name, pw string) (*mcpgate.User, error) {
	u, err := p.users.User(ctx, name)
	if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
		p.log.Error("login: look up user", "err", err)
		return nil, errUnavailable
	}
	// A row without a password marks a disabled federated subject (see
	// DisabledFederatedUser): it is checked against the dummy hash, as an
	// unknown name is, and never signs in with a password.
	if u != nil && (u.PasswordHash == NoPassword || strings.HasPrefix(u.Name, "oidc:")) {
		u = nil
	}
	hash := p.dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	select {
	case p.hashing <- struct{}{}:
	case <-ctx.Done():
		return nil, errUnavailable
	}
	ok, herr := CheckPassword(hash, pw)
	<-p.hashing
	if herr != nil {
		p.log.Error("login: stored password hash unusable", "user", name, "err", herr)
	}
	if u == nil || !ok || herr != nil {
		return nil, errors.New("bad credentials")
	}
	if !u.DisabledAt.IsZero() && !p.now().Before(u.DisabledAt) {
		return nil, errors.New("user disabled")
	}
	return u, nil
}

// failed records a failed sign-in of key: in this process's throttle, and
// on the limiter shared by every replica, whose verdict locks the key here
// until it would admit another failure. It reports whether key is newly
// locked. A shared limiter that cannot decide leaves the local throttle in
// charge.
func (p *Pages) failed(ctx context.Context, t *throttle, key string, shared mcpgate.Limit, now time.Time) bool {
	locked := t.fail(key, now)
	if p.limiter == nil {
		return locked
	}
	d, err := p.limiter.Allow(ctx, "signin|"+key, shared, 1)
	if err != nil || d.Allowed {
		return locked
	}
	return t.lockUntil(key, now.Add(d.RetryAfter), now) || locked
}

func (p *Pages) throttled(w http.ResponseWriter, r *http.Request, page loginPage, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	page.Error = "Too many failed sign-in attempts. Try again in " + humanWait(wait) + "."
	p.showLogin(w, r, http.StatusTooManyRequests, page)
}

func humanWait(d time.Duration) string {
	if d <= time.Minute {
		s := int(math.Ceil(d.Seconds()))
		if s == 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", s)
	}
	m := int(math.Ceil(d.Minutes()))
	return fmt.Sprintf("%d minutes", m)
}

func (p *Pages) postLogout(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	s, id := p.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !tokensEqual(s.CSRF, r.PostForm.Get("csrf")) {
		p.csrfRefused(w)
		return
	}
	p.endSession(w, id)
	p.log.Info("login: signed out", "subject", s.Subject, "tenant", s.Tenant)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// requestError answers for a pending request that could not be loaded.
func (p *Pages) requestError(w http.ResponseWriter, err error) {
	if errors.Is(err, mcpgate.ErrNotFound) {
		p.renderMessage(w, http.StatusBadRequest, "Request expired",
			"This sign-in request is unknown or has expired. Return to your app and connect again.", "")
		return
	}
	p.internalError(w, "load authorization request", err)
}

func (p *Pages) internalError(w http.ResponseWriter, what string, err error) {
	p.log.Error("login: "+what, "err", err)
	p.renderMessage(w, http.StatusInternalServerError, "Something went wrong",
		"The server could not complete this request. Try again later.", "")
}

func (p *Pages) csrfRefused(w http.ResponseWriter) {
	p.renderMessage(w, http.StatusForbidden, "Request refused",
		"This form is out of date or did not come from this site. Reload the page and try again.", "")
}
