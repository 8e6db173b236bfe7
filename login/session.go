package login

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// session is a signed-in person: who they are and what they may hand on to
// an app. It lives in memory only; see sessionStore.
type session struct {
	Subject string
	Tenant  string
	// Method is MethodPassword or mcpgate.MethodAPIKey.
	Method string
	KeyID  string
	// Scopes caps what consent may grant when Capped is set. A local user
	// with no scopes listed is not capped; an API key always is.
	Scopes []string
	Capped bool
	// CSRF is the token every form of this session must carry.
	CSRF    string
	Expires time.Time
}

// principal is the session as the authorization server sees the approver
// of scopes. The server grants only scopes the principal carries, so an
// uncapped person carries exactly the scopes being approved.
func (s *session) principal(approving []string) *mcpgate.Principal {
	scopes := s.Scopes
	if !s.Capped {
		scopes = approving
	}
	return &mcpgate.Principal{
		Subject: s.Subject,
		Tenant:  s.Tenant,
		KeyID:   s.KeyID,
		Scopes:  slices.Clone(scopes),
		Expires: s.Expires,
		Method:  s.Method,
	}
}

// sessionStore keeps sessions in memory, keyed by the SHA-256 of their id so
// the id itself is not held in a map that lookups probe. At most limit
// sessions are kept; when full, expired ones are dropped and then the one
// closest to expiry.
type sessionStore struct {
	limit int
	mu    sync.Mutex
	m     map[[32]byte]*session
}

func newSessionStore(limit int) *sessionStore {
	return &sessionStore{limit: limit, m: make(map[[32]byte]*session)}
}

// create stores s under a new random 256-bit id and returns the id.
func (st *sessionStore) create(s *session, now time.Time) (string, error) {
	id, err := randomToken()
	if err != nil {
		return "", err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) >= st.limit {
		st.evict(now)
	}
	st.m[sha256.Sum256([]byte(id))] = s
	return id, nil
}

// get returns the live session with id, or nil.
func (st *sessionStore) get(id string, now time.Time) *session {
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
	return s
}

// delete ends the session with id.
func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, sha256.Sum256([]byte(id)))
}

// evict is called with st.mu held.
func (st *sessionStore) evict(now time.Time) {
	var soonest [32]byte
	var soonestAt time.Time
	found, dropped := false, false
	for k, s := range st.m {
		if !now.Before(s.Expires) {
			delete(st.m, k)
			dropped = true
			continue
		}
		if !found || s.Expires.Before(soonestAt) {
			soonest, soonestAt, found = k, s.Expires, true
		}
	}
	if !dropped && found {
		delete(st.m, soonest)
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
