package login

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Failed sign-ins are also charged to the limiter every replica shares
// (Options.Limiter): past these budgets a username or an address is locked
// on whichever replica sees its next failure, so spreading guesses over
// replicas buys a guesser only one more try per replica.
var (
	sharedUserLimit = mcpgate.Limit{Rate: 10, Per: 15 * time.Minute, Burst: 10}
	sharedAddrLimit = mcpgate.Limit{Rate: 40, Per: 15 * time.Minute, Burst: 40}
)

// startLimit bounds the federated sign-ins one client address may begin
// (GET /login/oidc/start), each of which stores a state until it expires:
// a person needs one, an office behind one address a few a minute, and a
// script looping on the link is refused before it writes a row.
var startLimit = mcpgate.Limit{Rate: 30, Per: time.Minute, Burst: 30}

// allowStart charges a federated sign-in begun from addr to the limiter
// every replica shares, or, when there is none or it cannot decide, to
// this process's. It returns how long to wait when refused, else 0.
func (p *Pages) allowStart(ctx context.Context, addr string) time.Duration {
	key := "oidc-start|" + addr
	if p.limiter != nil {
		d, err := p.limiter.Allow(ctx, key, startLimit, 1)
		if err == nil {
			if d.Allowed {
				return 0
			}
			return max(d.RetryAfter, time.Second)
		}
		p.log.Warn("login: shared limiter cannot decide; limiting sign-in starts in this process", "err", err)
	}
	d, err := p.starts.Allow(ctx, key, startLimit, 1)
	if err != nil || d.Allowed {
		return 0
	}
	return max(d.RetryAfter, time.Second)
}

// throttle counts failed sign-ins per key (a username or a client address)
// and, after free failures, locks the key for base·2^(n-free), at most max.
// A key's failures are forgotten once it has been quiet for forget.
//
// Its methods decide only; callers record outcomes. It keeps at most limit
// keys, dropping the stalest when full, so a flood of made-up usernames
// costs bounded memory.
type throttle struct {
	free   int
	base   time.Duration
	max    time.Duration
	forget time.Duration
	limit  int

	mu      sync.Mutex
	entries map[string]*attempts
}

type attempts struct {
	failures int
	last     time.Time // last failure
	until    time.Time // locked until
}

func newThrottle(free int, base, max, forget time.Duration, limit int) *throttle {
	return &throttle{free: free, base: base, max: max, forget: forget, limit: limit,
		entries: make(map[string]*attempts)}
}

// wait returns how long key must wait before its next attempt; zero means
// it may try now.
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.entries[key]
	if a == nil {
		return 0
	}
	if t.stale(a, now) {
		delete(t.entries, key)
		return 0
	}
	if now.Before(a.until) {
		return a.until.Sub(now)
	}
	return 0
}

// fail records a failed attempt for key at now. It reports whether this
// failure locked key out, as opposed to a lock that was already on or a
// free failure.
func (t *throttle) fail(key string, now time.Time) (locked bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.entries[key]
	if a != nil && t.stale(a, now) {
		a = nil
	}
	if a == nil {
		if len(t.entries) >= t.limit {
			t.evict(now)
		}
		a = &attempts{}
		t.entries[key] = a
	}
	a.failures++
	a.last = now
	if over := a.failures - t.free; over >= 0 {
		d := t.max
		if over < 32 {
			d = min(t.base<<over, t.max)
		}
		a.until = now.Add(d)
		return over == 0
	}
	return false
}

// lockUntil locks key until until, unless it is locked longer already. It
// reports whether the key was not locked before.
func (t *throttle) lockUntil(key string, until, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.entries[key]
	if a == nil {
		if len(t.entries) >= t.limit {
			t.evict(now)
		}
		a = &attempts{}
		t.entries[key] = a
	}
	was := now.Before(a.until)
	a.last = now
	if until.After(a.until) {
		a.until = until
	}
	return !was
}

// reset forgets key's failures, after a successful sign-in.
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

func (t *throttle) stale(a *attempts, now time.Time) bool {
	return !now.Before(a.until) && now.Sub(a.last) >= t.forget
}

// evict drops stale entries, and if none were, the one whose last failure
// is oldest. Called with t.mu held.
func (t *throttle) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	dropped := false
	for k, a := range t.entries {
		if t.stale(a, now) {
			delete(t.entries, k)
			dropped = true
			continue
		}
		if oldestKey == "" || a.last.Before(oldest) {
			oldestKey, oldest = k, a.last
		}
	}
	if !dropped && oldestKey != "" {
		delete(t.entries, oldestKey)
	}
}

// usernameKey is the throttle key of a username: case-folded, so "Alice"
// and "alice" share a counter.
func usernameKey(name string) string {
	return "user:" + strings.ToLower(strings.TrimSpace(name))
}

// addrKey is the throttle key of a client address: the IPv4 address, or the
// /64 an IPv6 address belongs to (one host usually holds a whole /64).
func addrKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "addr:" + host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + ip.String()
}
