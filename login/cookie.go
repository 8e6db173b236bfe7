package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Cookie names without the __Host- prefix, which is added whenever cookies
// are Secure (the prefix requires it).
const (
	sessionCookieName = "mcpgate-session"
	loginCookieName   = "mcpgate-login"
)

func (p *Pages) cookieName(base string) string {
	if p.secure {
		return "__Host-" + base
	}
	return base
}

// setCookie sets a host-only, HttpOnly cookie on path /. maxAge 0 makes a
// browser-session cookie, negative deletes it.
func (p *Pages) setCookie(w http.ResponseWriter, base, value string, sameSite http.SameSite, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     p.cookieName(base),
		Value:    value,
		Path:     "/",
		Secure:   p.secure,
		HttpOnly: true,
		SameSite: sameSite,
		MaxAge:   maxAge,
	})
}

func (p *Pages) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(p.cookieName(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// currentSession returns the live session the request's cookie names, and
// its id, or nil. A store that cannot be read counts as no session: the
// person is asked to sign in, and signing in then reports the outage.
func (p *Pages) currentSession(r *http.Request) (*session, string) {
	id := p.cookie(r, sessionCookieName)
	if id == "" {
		return nil, ""
	}
	st, err := p.sessions.SigninSession(r.Context(), sessionHash(id))
	if err != nil {
		if !errors.Is(err, mcpgate.ErrNotFound) {
			p.log.Error("login: read sign-in session", "err", err)
		}
		return nil, ""
	}
	if !p.now().Before(st.ExpiresAt) {
		return nil, ""
	}
	return loaded(st, id), id
}

// startSession stores s and sets the session cookie. Any session the
// browser had before is ended, so a session id planted before sign-in is
// never promoted to a signed-in one.
func (p *Pages) startSession(w http.ResponseWriter, r *http.Request, s *session) error {
	if old := p.cookie(r, sessionCookieName); old != "" {
		if err := p.sessions.DeleteSigninSession(r.Context(), sessionHash(old)); err != nil {
			return err
		}
	}
	id, err := randomToken()
	if err != nil {
		return err
	}
	s.CSRF = sessionCSRF(id)
	if err := p.sessions.CreateSigninSession(r.Context(), s.stored(id, p.now()), maxSessionsPerSubject); err != nil {
		return err
	}
	// SameSite=Lax: an app's authorization request arrives as a cross-site
	// top-level navigation and must still find the session.
	p.setCookie(w, sessionCookieName, id, http.SameSiteLaxMode, 0)
	return nil
}

// endSession ends the session with id in the store, for every replica, and
// clears the cookie. The store is written even if the browser has gone:
// a sign-out must not depend on the person waiting for the answer.
func (p *Pages) endSession(w http.ResponseWriter, id string) {
	if id != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.sessions.DeleteSigninSession(ctx, sessionHash(id)); err != nil {
			p.log.Error("login: end sign-in session", "err", err)
		}
	}
	p.setCookie(w, sessionCookieName, "", http.SameSiteLaxMode, -1)
}

// loginToken returns the sign-in form's CSRF token, reusing the one in the
// browser's cookie so two open tabs both work, or setting a new one. Before
// sign-in there is no session to hold a token, so the form and a Strict
// cookie carry it (double submit).
func (p *Pages) loginToken(w http.ResponseWriter, r *http.Request) (string, error) {
	if t := p.cookie(r, loginCookieName); len(t) == 43 {
		return t, nil
	}
	t, err := randomToken()
	if err != nil {
		return "", err
	}
	p.setCookie(w, loginCookieName, t, http.SameSiteStrictMode, int((time.Hour).Seconds()))
	return t, nil
}

// tokensEqual compares a form's CSRF token with the expected one in
// constant time; an empty expected token never matches.
func tokensEqual(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}
