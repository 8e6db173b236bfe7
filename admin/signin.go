package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Failed sign-ins are charged to the limiter per client address and in
// all; past either budget, sign-in from that address (or from everywhere)
// is refused until the budget comes back. A key's secret is 256 random
// bits, so this is not what keeps it from being guessed: it keeps a
// scripted guesser from making the dashboard read the store for every try,
// and makes one show up in the log.
var (
	signinAddrLimit = mcpgate.Limit{Rate: 10, Per: 15 * time.Minute, Burst: 10}
	signinAllLimit  = mcpgate.Limit{Rate: 100, Per: 15 * time.Minute, Burst: 100}
)

// maxLocks bounds the addresses remembered as locked out.
const maxLocks = 10_000

// signinThrottle refuses sign-in from an address whose failures spent its
// budget, until the limiter would admit another failure.
type signinThrottle struct {
	limiter mcpgate.Limiter
	mu      sync.Mutex
	until   map[string]time.Time // "" is every address
}

// wait returns how long addr must wait before trying again; zero means it
// may try now.
func (t *signinThrottle) wait(addr string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, k := range []string{addr, ""} {
		if u, ok := t.until[k]; ok {
			if now.Before(u) {
				d = max(d, u.Sub(now))
			} else {
				delete(t.until, k)
			}
		}
	}
	return d
}

// fail charges a failed sign-in from addr, and reports how long addr is
// now locked out (zero: not).
func (t *signinThrottle) fail(ctx context.Context, addr string, now time.Time) (time.Duration, error) {
	var lock time.Duration
	for _, c := range []struct {
		key, lockKey string
		limit        mcpgate.Limit
	}{
		{"admin-signin:" + addr, addr, signinAddrLimit},
		{"admin-signin", "", signinAllLimit},
	} {
		d, err := t.limiter.Allow(ctx, c.key, c.limit, 1)
		if err != nil {
			return 0, err
		}
		if d.Allowed {
			continue
		}
		retry := max(d.RetryAfter, time.Second)
		lock = max(lock, retry)
		t.mu.Lock()
		if len(t.until) >= maxLocks {
			for k, u := range t.until {
				if !now.Before(u) || len(t.until) >= maxLocks {
					delete(t.until, k)
				}
			}
		}
		t.until[c.lockKey] = now.Add(retry)
		t.mu.Unlock()
	}
	return lock, nil
}

// clientAddr is the address of the peer: the admin listener trusts no
// forwarding header.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type signinPage struct {
	CSRF      string
	Error     string
	PlainHTTP bool // served over plain HTTP to a non-loopback address
}

func (d *Dashboard) getSignin(w http.ResponseWriter, r *http.Request) {
	if s, _, _, _ := d.currentSession(r); s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	msg := ""
	switch r.URL.Query().Get("ended") {
	case "key":
		msg = "Your session ended: the key it was signed in with is no longer valid."
	case "expired":
		msg = "Your session expired. Sign in again."
	}
	d.renderSignin(w, r, http.StatusOK, msg)
}

func (d *Dashboard) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token, err := d.signinToken(w, r)
	if err != nil {
		d.internalError(w, "sign-in token", err)
		return
	}
	d.render(w, status, "signin.html", signinPage{CSRF: token, Error: msg, PlainHTTP: !secureRequest(r)})
}

// signinToken returns the sign-in form's CSRF token: before sign-in there
// is no session to hold one, so the form and a Strict cookie carry it
// (double submit), on top of the cross-origin check every POST passes.
func (d *Dashboard) signinToken(w http.ResponseWriter, r *http.Request) (string, error) {
	if t := cookie(r, signinCookie); len(t) == 43 {
		return t, nil
	}
	t, err := randomToken()
	if err != nil {
		return "", err
	}
	setCookie(w, r, signinCookie, t, int(time.Hour.Seconds()))
	return t, nil
}

// postSignin checks the posted API key with the gateway's own key
// verifier (constant-time digest comparison, the same cache and change
// feed as the MCP endpoint) and starts a session if the key carries the
// admin scope.
func (d *Dashboard) postSignin(w http.ResponseWriter, r *http.Request) {
	if !d.parseForm(w, r) {
		return
	}
	if !tokensEqual(cookie(r, signinCookie), r.PostForm.Get("csrf")) {
		d.csrfRefused(w)
		return
	}
	addr, now := clientAddr(r), d.now()
	if wait := d.throttle.wait(addr, now); wait > 0 {
		d.tooMany(w, r, wait)
		return
	}
	refuse := func(reason, msg string, status int, attrs ...any) {
		lock, err := d.throttle.fail(r.Context(), addr, now)
		if err != nil {
			d.log.Warn("admin: charging a failed sign-in", "err", err)
		}
		d.log.Warn("admin: sign-in refused", append([]any{"reason", reason, "remote", addr}, attrs...)...)
		if lock > 0 {
			d.tooMany(w, r, lock)
			return
		}
		d.renderSignin(w, r, status, msg)
	}
	key := r.PostForm.Get("api_key")
	if key == "" {
		d.renderSignin(w, r, http.StatusBadRequest, "Enter an mcpgate API key.")
		return
	}
	p, err := d.keys.Verify(r.Context(), key)
	switch {
	case errors.Is(err, mcpgate.ErrUnauthenticated):
		refuse(mcpgate.Reason(err), "That key was not accepted.", http.StatusUnauthorized)
		return
	case err != nil:
		d.log.Error("admin: verifying a key", "err", err)
		d.renderSignin(w, r, http.StatusServiceUnavailable, "The key could not be checked right now. Try again shortly.")
		return
	case p.Method != mcpgate.MethodAPIKey || p.KeyID == "":
		refuse("not_api_key", "That key was not accepted.", http.StatusUnauthorized)
		return
	case !p.HasScope(Scope):
		refuse(mcpgate.ReasonInsufficientScope, "This key does not carry the "+Scope+" scope.",
			http.StatusForbidden, "key_id", p.KeyID, "subject", p.Subject)
		return
	}
	csrf, err := randomToken()
	if err != nil {
		d.internalError(w, "session", err)
		return
	}
	expires := now.Add(d.ttl)
	if !p.Expires.IsZero() && p.Expires.Before(expires) {
		expires = p.Expires
	}
	if old := cookie(r, sessionCookie); old != "" {
		d.sessions.delete(old)
	}
	id, err := d.sessions.create(&session{KeyID: p.KeyID, Subject: p.Subject, Tenant: p.Tenant, CSRF: csrf, Expires: expires}, now)
	if err != nil {
		d.internalError(w, "session", err)
		return
	}
	setCookie(w, r, sessionCookie, id, 0)
	setCookie(w, r, signinCookie, "", -1)
	d.log.Info("admin: signed in", "key_id", p.KeyID, "subject", p.Subject, "remote", addr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (d *Dashboard) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	d.renderSignin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins. Try again in "+strconv.Itoa(secs)+" seconds.")
}

func (d *Dashboard) postSignout(w http.ResponseWriter, r *http.Request) {
	if !d.parseForm(w, r) {
		return
	}
	s, id := d.requireSession(w, r)
	if s == nil {
		return
	}
	if !tokensEqual(s.CSRF, r.PostForm.Get("csrf")) {
		d.csrfRefused(w)
		return
	}
	d.sessions.delete(id)
	setCookie(w, r, sessionCookie, "", -1)
	d.log.Info("admin: signed out", "key_id", s.KeyID, "subject", s.Subject)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// currentSession returns the request's live session and its id, or nil,
// and why a session the cookie named is gone ("" if none was named).
// A session lasts only as long as its key: the key is checked on every
// request through the verifier's cache, which the change feed keeps
// current, so revoking the key ends the session within the feed's delay.
// err is set when the key could not be checked.
func (d *Dashboard) currentSession(r *http.Request) (s *session, id, ended string, err error) {
	id = cookie(r, sessionCookie)
	if id == "" {
		return nil, "", "", nil
	}
	s = d.sessions.get(id, d.now())
	if s == nil {
		return nil, "", "expired", nil
	}
	if err := d.keys.CheckKey(r.Context(), s.KeyID); err != nil {
		if !errors.Is(err, mcpgate.ErrUnauthenticated) {
			return nil, "", "", err
		}
		d.sessions.endKey(s.KeyID)
		d.log.Info("admin: session ended with its key", "key_id", s.KeyID, "subject", s.Subject, "reason", mcpgate.Reason(err))
		return nil, "", "key", nil
	}
	return s, id, "", nil
}

// requireSession returns the request's session, or answers (a redirect to
// sign-in, or 503) and returns nil.
func (d *Dashboard) requireSession(w http.ResponseWriter, r *http.Request) (*session, string) {
	s, id, ended, err := d.currentSession(r)
	switch {
	case err != nil:
		d.log.Error("admin: checking a session's key", "err", err)
		d.renderMessage(w, http.StatusServiceUnavailable, "Unavailable", "The store could not be read. Try again shortly.")
		return nil, ""
	case s == nil:
		to := "/signin"
		if ended != "" {
			to += "?ended=" + ended
			setCookie(w, r, sessionCookie, "", -1)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil, ""
	}
	return s, id
}
