package inmem

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

var _ mcpgate.SigninSessionStore = (*SigninSessions)(nil)

// SigninSessions keeps sign-in sessions of the login pages in this
// process's memory, for pages whose store does not keep them (a single
// process; several replicas need the store's). At most a fixed number are
// kept: when full, expired sessions are dropped first, then the one closest
// to expiry.
type SigninSessions struct {
	limit int
	now   func() time.Time

	mu        sync.Mutex
	seq       int64
	m         map[[32]byte]*signinEntry
	bySubject map[string]map[[32]byte]struct{}
}

type signinEntry struct {
	s   mcpgate.SigninSession
	seq int64 // creation order
}

// NewSigninSessions returns an empty session store holding at most limit
// sessions (100,000 when limit <= 0); now is its clock (time.Now when nil),
// used to tell expired sessions when it is full.
func NewSigninSessions(limit int, now func() time.Time) *SigninSessions {
	if limit <= 0 {
		limit = 100_000
	}
	if now == nil {
		now = time.Now
	}
	return &SigninSessions{limit: limit, now: now,
		m: make(map[[32]byte]*signinEntry), bySubject: make(map[string]map[[32]byte]struct{})}
}

// CreateSigninSession stores a copy of s and keeps at most maxPerSubject
// sessions of its subject, the newest.
func (st *SigninSessions) CreateSigninSession(_ context.Context, s *mcpgate.SigninSession, maxPerSubject int) error {
	if s == nil || len(s.IDHash) != 32 {
		return errors.New("inmem: create sign-in session: the id hash must be 32 bytes")
	}
	if s.Subject == "" {
		return errors.New("inmem: create sign-in session: empty subject")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = st.now().UTC()
	}
	k := [32]byte(s.IDHash)
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.m[k]; ok {
		return mcpgate.ErrConflict
	}
	if len(st.m) >= st.limit {
		st.evict()
	}
	st.seq++
	c := copySession(s)
	st.m[k] = &signinEntry{s: *c, seq: st.seq}
	sub := st.bySubject[s.Subject]
	if sub == nil {
		sub = make(map[[32]byte]struct{})
		st.bySubject[s.Subject] = sub
	}
	sub[k] = struct{}{}
	for maxPerSubject > 0 && len(sub) > maxPerSubject {
		var oldest [32]byte
		var oldestSeq int64 = -1
		for h := range sub {
			if e := st.m[h]; oldestSeq < 0 || e.seq < oldestSeq {
				oldest, oldestSeq = h, e.seq
			}
		}
		st.remove(oldest)
	}
	return nil
}

// SigninSession returns a copy of the session with hash, or
// mcpgate.ErrNotFound.
func (st *SigninSessions) SigninSession(_ context.Context, hash []byte) (*mcpgate.SigninSession, error) {
	if len(hash) != 32 {
		return nil, mcpgate.ErrNotFound
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	e := st.m[[32]byte(hash)]
	if e == nil {
		return nil, mcpgate.ErrNotFound
	}
	return copySession(&e.s), nil
}

// DeleteSigninSession ends the session with hash, if there is one.
func (st *SigninSessions) DeleteSigninSession(_ context.Context, hash []byte) error {
	if len(hash) != 32 {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.remove([32]byte(hash))
	return nil
}

// DeleteSubjectSigninSessions ends every session of subject.
func (st *SigninSessions) DeleteSubjectSigninSessions(_ context.Context, subject string) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.bySubject[subject]
	n := len(sub)
	for h := range sub {
		st.remove(h)
	}
	return n, nil
}

// remove is called with st.mu held.
func (st *SigninSessions) remove(k [32]byte) {
	e := st.m[k]
	if e == nil {
		return
	}
	delete(st.m, k)
	if sub := st.bySubject[e.s.Subject]; sub != nil {
		delete(sub, k)
		if len(sub) == 0 {
			delete(st.bySubject, e.s.Subject)
		}
	}
}

// evict is called with st.mu held, when the store is full.
func (st *SigninSessions) evict() {
	now := st.now()
	var soonest [32]byte
	var soonestAt time.Time
	found, dropped := false, false
	for k, e := range st.m {
		if !now.Before(e.s.ExpiresAt) {
			st.remove(k)
			dropped = true
			continue
		}
		if !found || e.s.ExpiresAt.Before(soonestAt) {
			soonest, soonestAt, found = k, e.s.ExpiresAt, true
		}
	}
	if !dropped && found {
		st.remove(soonest)
	}
}

func copySession(s *mcpgate.SigninSession) *mcpgate.SigninSession {
	c := *s
	c.IDHash = bytes.Clone(s.IDHash)
	c.CreatedAt, c.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	c.Scopes = slices.Clone(s.Scopes)
	return &c
}
