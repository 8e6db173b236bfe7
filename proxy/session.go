package proxy

import (
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// sessions remembers which principal created each MCP session, and the ids
// of the list requests made in it, so that list responses replayed on a
// resumed (GET) stream are filtered too.
type sessions struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]*session
}

type session struct {
	owner string
	pr    *mcpgate.Principal // the owner, to end the session upstream in its name
	seen  time.Time
	lists []listCall // recent list requests, oldest first, at most maxListCalls
}

// listCall is a list request whose response must be filtered.
type listCall struct {
	id     string // idKey of the request id
	method string
}

const maxListCalls = 64

func newSessions(ttl time.Duration, max int) *sessions {
	return &sessions{ttl: ttl, max: max, m: make(map[string]*session)}
}

// bind records that owner created session id.
func (s *sessions) bind(id, owner string, pr *mcpgate.Principal, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok && len(s.m) >= s.max {
		s.evictLocked(now)
	}
	s.m[id] = &session{owner: owner, pr: pr, seen: now}
}

// evictLocked forgets expired sessions, or if there are none, the least
// recently used one.
func (s *sessions) evictLocked(now time.Time) {
	var oldest string
	var oldestSeen time.Time
	for id, ss := range s.m {
		if now.Sub(ss.seen) > s.ttl {
			delete(s.m, id)
			continue
		}
		if oldest == "" || ss.seen.Before(oldestSeen) {
			oldest, oldestSeen = id, ss.seen
		}
	}
	if len(s.m) >= s.max && oldest != "" {
		delete(s.m, oldest)
	}
}

// use reports whether session id exists and belongs to owner, and if so
// marks it used and records the list calls made in this request. It
// returns the session's recent list calls.
func (s *sessions) use(id, owner string, now time.Time, calls []listCall) ([]listCall, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return nil, false
	}
	if now.Sub(ss.seen) > s.ttl {
		delete(s.m, id)
		return nil, false
	}
	if ss.owner != owner {
		return nil, false
	}
	ss.seen = now
	for _, c := range calls {
		if c.method != "" {
			ss.lists = append(ss.lists, c)
		}
	}
	if len(calls) > 0 {
		if n := len(ss.lists) - maxListCalls; n > 0 {
			ss.lists = append(ss.lists[:0:0], ss.lists[n:]...)
		}
	}
	return ss.lists, true
}

// remove forgets session id, and returns its owner if it was known.
func (s *sessions) remove(id string) (*mcpgate.Principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return nil, false
	}
	delete(s.m, id)
	return ss.pr, true
}

func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// ids yields a snapshot of the session ids.
func (s *sessions) ids() iter.Seq[string] {
	s.mu.Lock()
	ids := make([]string, 0, len(s.m))
	for id := range s.m {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	return slices.Values(ids)
}
