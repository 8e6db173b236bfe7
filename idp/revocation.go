package idp

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate"
)

// revocations are the token, subject and client changes of the change feed
// as they apply to identity providers' tokens. Each is kept for horizon
// after it was made: by then every token it covers has expired, since no
// token living longer than the horizon is accepted.
type revocations struct {
	horizon time.Duration
	count   atomic.Int64 // entries held; 0 lets a check skip the lock

	mu       sync.RWMutex
	tokens   map[scoped]time.Time // jti
	subjects map[scoped]time.Time // subject or Principal.ID: tokens issued until then
	clients  map[scoped]time.Time // client id
}

// scoped is a revoked value and the issuer it applies to; "" is every
// issuer.
type scoped struct{ issuer, value string }

func newRevocations(horizon time.Duration) *revocations {
	return &revocations{
		horizon:  horizon,
		tokens:   map[scoped]time.Time{},
		subjects: map[scoped]time.Time{},
		clients:  map[scoped]time.Time{},
	}
}

// pruneEvery is how many entries a map may grow by before expired ones
// are dropped.
const pruneEvery = 1024

// apply records c if it is a revocation still in force at now, and reports
// whether it was one.
func (r *revocations) apply(c mcpgate.Change, now time.Time) bool {
	var m map[scoped]time.Time
	switch c.Kind {
	case mcpgate.ChangeToken:
		m = r.tokens
	case mcpgate.ChangeSubject:
		m = r.subjects
	case mcpgate.ChangeClient:
		m = r.clients
	default:
		return false
	}
	if !now.Before(c.At.Add(r.horizon)) {
		return false
	}
	iss, v := c.Scope()
	if v == "" {
		return false
	}
	k := scoped{iss, v}
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := m[k]; !ok || c.At.After(at) {
		m[k] = c.At
	}
	if len(m)%pruneEvery == 0 {
		for k, at := range m {
			if !now.Before(at.Add(r.horizon)) {
				delete(m, k)
			}
		}
	}
	r.count.Store(int64(len(r.tokens) + len(r.subjects) + len(r.clients)))
	return true
}

// check returns what revoked the token of p issued at issuedAt (zero when
// unknown), or "". Revocations older than the horizon no longer count.
func (r *revocations) check(p *mcpgate.Principal, issuedAt, now time.Time) string {
	if r.count.Load() == 0 {
		return ""
	}
	since := now.Add(-r.horizon)
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, iss := range [2]string{p.Issuer, ""} {
		if p.TokenID != "" {
			if at, ok := r.tokens[scoped{iss, p.TokenID}]; ok && at.After(since) {
				return "token"
			}
		}
		if p.ClientID != "" {
			if at, ok := r.clients[scoped{iss, p.ClientID}]; ok && at.After(since) {
				return "client"
			}
		}
		if len(r.subjects) > 0 {
			for _, s := range [2]string{p.Subject, p.ID()} {
				if at, ok := r.subjects[scoped{iss, s}]; ok && at.After(since) && (issuedAt.IsZero() || !issuedAt.After(at)) {
					return "subject"
				}
			}
		}
	}
	return ""
}

// covers reports whether revocation c applies to p, whenever it was issued.
func covers(c mcpgate.Change, p *mcpgate.Principal) bool {
	iss, v := c.Scope()
	if iss != "" && iss != p.Issuer {
		return false
	}
	switch c.Kind {
	case mcpgate.ChangeToken:
		return v == p.TokenID
	case mcpgate.ChangeClient:
		return v == p.ClientID
	case mcpgate.ChangeSubject:
		return v == p.Subject || v == p.ID()
	}
	return false
}
