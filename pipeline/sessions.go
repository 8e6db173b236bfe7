package pipeline

import (
	"iter"
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
	// OpenSessions yields the ids of the sessions the server holds: a
	// server may end sessions by itself (one that failed to initialize,
	// an idle one), and the pipeline asks before it refuses a new session
	// for want of room.
	OpenSessions() iter.Seq[string]
	// SessionTTL is how long the server keeps an idle session; the
	// pipeline forgets one idle for longer.
	SessionTTL() time.Duration
}

// sessionTable tracks the sessions of one SessionServer by principal.
type sessionTable struct {
	server       SessionServer
	ttl          time.Duration
	max, perUser int

	mu       sync.Mutex
	byID     map[string]*trackedSession
	byOwner  map[string][]*trackedSession
	reserved int // sessions admitted by room and not yet started or given up
	swept    time.Time
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

// room reports whether owner may start a session now, and if so reserves
// a place for it until start or release: the table has room, counting the
// sessions being opened, or owner is at its own bound, so the new session
// replaces one of its own. When the table looks full it first forgets the
// sessions the server no longer holds.
func (t *sessionTable) room(owner string, now time.Time) (ok, reserved bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byOwner[owner]) >= t.perUser {
		return true, false // replaces one of its own
	}
	if len(t.byID)+t.reserved >= t.max {
		t.sweepLocked(now)
	}
	if len(t.byID)+t.reserved >= t.max {
		return false, false
	}
	t.reserved++
	return true, true
}

// release gives up a reservation that no session used.
func (t *sessionTable) release() {
	t.mu.Lock()
	if t.reserved > 0 {
		t.reserved--
	}
	t.mu.Unlock()
}

// observe records what the response to a request says about sessions:
// method and sid are the request's, status and newSID the response's.
// reserved says whether room reserved a place for this request; observe
// reports whether it used it.
func (t *sessionTable) observe(owner, method, sid string, status int, newSID string, now time.Time, reserved bool) (used bool) {
	switch {
	case sid == "" && newSID != "" && status < 300:
		// Ending a session happens in the background: this runs while the
		// server writes the new session's response header, perhaps under
		// its own locks, and it may take a while (a stdio child exits).
		evicted, ok := t.start(newSID, owner, now, reserved)
		if evicted != "" {
			go t.server.EndSession(evicted)
		}
		if !ok {
			// A session the server opened without room for it (its
			// initialize raced others, or it opens sessions on other
			// requests): ended at once rather than held past the bound.
			go t.server.EndSession(newSID)
		}
		return reserved
	case sid == "":
	case status == http.StatusNotFound, method == http.MethodDelete && status < 300:
		t.forget(sid, owner)
	default:
		t.touch(sid, owner, now)
	}
	return false
}

// start records a new session of owner, consuming a reservation if it had
// one, and returns the id of owner's least recently used session if owner
// is now over its bound. It reports false, recording nothing, when the
// table has no room for the session.
func (t *sessionTable) start(id, owner string, now time.Time, reserved bool) (evicted string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if reserved && t.reserved > 0 {
		t.reserved--
	}
	if _, ok := t.byID[id]; ok {
		return "", true
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
	} else if len(t.byID)+t.reserved >= t.max {
		return "", false
	}
	s := &trackedSession{id: id, owner: owner, used: now}
	t.byID[id] = s
	t.byOwner[owner] = append(mine, s)
	return evicted, true
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

// sweepLocked forgets sessions idle for longer than the server keeps
// them, and those the server no longer holds. It asks the server at most
// once a second.
func (t *sessionTable) sweepLocked(now time.Time) {
	if now.Sub(t.swept) < time.Second {
		return
	}
	t.swept = now
	open := make(map[string]struct{}, len(t.byID))
	for id := range t.server.OpenSessions() {
		open[id] = struct{}{}
	}
	for _, s := range t.byID {
		if _, ok := open[s.id]; !ok || now.Sub(s.used) > t.ttl {
			t.removeLocked(s)
		}
	}
}
