package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// session is an operator signed in to the dashboard with an API key that
// carries the admin scope. It lives in this process's memory only: the
// admin listener of each replica has its own sign-ins.
type session struct {
	KeyID   string
	Subject string
	Tenant  string
	CSRF    string // every form of the session carries it
	Expires time.Time
}

// sessions keeps sessions keyed by the SHA-256 of their id, at most limit;
// when full, the one closest to expiry is dropped.
type sessions struct {
	limit int
	mu    sync.Mutex
	m     map[[32]byte]*session
}

func newSessions(limit int) *sessions {
	return &sessions{limit: limit, m: make(map[[32]byte]*session)}
}

// create stores s under a new random id and returns the id.
func (st *sessions) create(s *session, now time.Time) (string, error) {
	id, err := randomToken()
	if err != nil {
		return "", err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) >= st.limit {
		var soonest [32]byte
		var at time.Time
		for k, v := range st.m {
			if at.IsZero() || v.Expires.Before(at) {
				soonest, at = k, v.Expires
			}
		}
		delete(st.m, soonest)
	}
	st.m[sha256.Sum256([]byte(id))] = s
	return id, nil
}

// get returns a copy of the live session with id, or nil.
func (st *sessions) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.m[k]
	if s == nil {
		return nil
	}
	if !now.Before(s.Expires) {
		delete(st.m, k)
		return nil
	}
	c := *s
	return &c
}

func (st *sessions) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, sha256.Sum256([]byte(id)))
}

// endKey ends every session of the key with id.
func (st *sessions) endKey(keyID string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, s := range st.m {
		if s.KeyID == keyID {
			delete(st.m, k)
		}
	}
}

// randomToken returns 256 random bits, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tokensEqual compares a form's CSRF token with the expected one in
// constant time; an empty expected token never matches.
func tokensEqual(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// Cookie names; with Secure cookies they get the __Host- prefix.
const (
	sessionCookie = "mcpgate-admin"
	signinCookie  = "mcpgate-admin-signin"
)

// secureRequest reports whether cookies set in answer to r may be Secure:
// the request came over TLS, or to a loopback host, which browsers treat
// as secure. An admin listener reached over plain HTTP on another address
// gets cookies without Secure, or the browser would never send them back.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func cookieName(r *http.Request, base string) string {
	if secureRequest(r) {
		return "__Host-" + base
	}
	return base
}

// setCookie sets a host-only, HttpOnly, SameSite=Strict cookie on path /.
// maxAge 0 makes a browser-session cookie; negative deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName(r, base),
		Value:    value,
		Path:     "/",
		Secure:   secureRequest(r),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		MaxAge:   maxAge,
	})
}

func cookie(r *http.Request, base string) string {
	c, err := r.Cookie(cookieName(r, base))
	if err != nil {
		return ""
	}
	return c.Value
}
