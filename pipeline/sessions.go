package pipeline

import (
	"net/http"
	"sync"
	"time"
)

// A SessionServer is an MCP handler with sessions (Streamable HTTP of the
// protocol revisions before 2026-07-28) that the pipeline can bound. The
// pipeline sees every session start (a response carrying a new
// Mcp-Session-Id), use and end (DELETE, or 404 for a session the server
// no longer knows), and asks the server to end a session it evicts.
//
// The rule is the same for every kind of server: at most
// MaxSessionsPerPrincipal sessions per principal, the principal's own
// least recently used session ended to make room for a new one; at most
// MaxSessions in all, beyond which a new session is refused with 503.
type SessionServer interface {
	http.Handler
	// EndSession ends the session with this id, if it still exists.
	EndSession(id string)
	// SessionTTL is how long the server keeps an idle session; the
	// pipeline forgets one idle for longer.
	SessionTTL() time.Duration
}

// sessionTable tracks the sessions of one SessionServer by principal.
type sessionTable struct {
	server       SessionServer
	ttl          time.Duration
	max, perUser int

	mu      sync.Mutex
	byID    map[string]*trackedSession
	byOwner map[string][]*trackedSession
	swept   time.Time
}

type trackedSession struct {
	id, owner string
	used      time.Time
}

func newSessionTable(s SessionServer, max, perUser int) *sessionTable {
	return &sessionTable{
		server:  s,
		ttl:     s.SessionTTL(),
		max:     max,
		perUser: perUser,
		byID:    make(map[string]*trackedSession),
		byOwner: make(map[string][]*trackedSession),
	}
}

// room reports whether owner may start a session now: the table has room,
// or owner is at its own bound, so the new session replaces one of its own.
func (t *sessionTable) room(owner string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byID) < t.max {
		return true
	}
	if now.Sub(t.swept) > time.Second {
		t.sweepLocked(now)
	}
	return len(t.byID) < t.max || len(t.byOwner[owner]) >= t.perUser
}

// observe records what the response to a request says about sessions:
// method and sid are the request's, status and newSID the response's.
func (t *sessionTable) observe(owner, method, sid string, status int, newSID string, now time.Time) {
	switch {
	case sid == "" && newSID != "" && status < 300:
		if evicted := t.start(newSID, owner, now); evicted != "" {
			// In the background: this runs while the server writes the
			// new session's response header, perhaps under its own
			// locks, and ending a session may take a while (a stdio child
			// exits).
			go t.server.EndSession(evicted)
		}
	case sid == "":
	case status == http.StatusNotFound, method == http.MethodDelete && status < 300:
		t.forget(sid, owner)
	default:
		t.touch(sid, owner, now)
	}
}

// start records a new session of owner, and returns the id of owner's
// least recently used session if owner is now over its bound.
func (t *sessionTable) start(id, owner string, now time.Time) (evicted string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byID[id]; ok {
		return ""
	}
	mine := t.byOwner[owner]
	if len(mine) >= t.perUser {
		oldest := 0
		for i, s := range mine {
			if s.used.Before(mine[oldest].used) {
				oldest = i
			}
		}
		evicted = mine[oldest].id
		delete(t.byID, evicted)
		mine = append(mine[:oldest], mine[oldest+1:]...)
	}
	s := &trackedSession{id: id, owner: owner, used: now}
	t.byID[id] = s
	t.byOwner[owner] = append(mine, s)
	return evicted
}

func (t *sessionTable) touch(id, owner string, now time.Time) {
	t.mu.Lock()
	if s, ok := t.byID[id]; ok && s.owner == owner {
		s.used = now
	}
	t.mu.Unlock()
}

func (t *sessionTable) forget(id, owner string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.byID[id]; ok && s.owner == owner {
		t.removeLocked(s)
	}
}

func (t *sessionTable) removeLocked(s *trackedSession) {
	delete(t.byID, s.id)
	mine := t.byOwner[s.owner]
	for i, m := range mine {
		if m == s {
			mine = append(mine[:i], mine[i+1:]...)
			break
		}
	}
	if len(mine) == 0 {
		delete(t.byOwner, s.owner)
	} else {
		t.byOwner[s.owner] = mine
	}
}

// sweepLocked forgets sessions idle for longer than the server keeps them.
func (t *sessionTable) sweepLocked(now time.Time) {
	t.swept = now
	for _, s := range t.byID {
		if now.Sub(s.used) > t.ttl {
			t.removeLocked(s)
		}
	}
}
