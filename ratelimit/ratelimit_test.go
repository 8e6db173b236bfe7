package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/ratelimit"
	"github.com/mcpgate/mcpgate/refusal"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func mustLimit(t *testing.T, s string) mcpgate.Limit {
	t.Helper()
	l, err := mcpgate.ParseLimit(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newLimiter(t *testing.T, p *ratelimit.Policy, opts *ratelimit.Options) (*ratelimit.Limiter, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l, err := ratelimit.New(inmem.New(&inmem.Options{Now: c.now}), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

var (
	alice = &mcpgate.Principal{Subject: "alice", Tenant: "acme", KeyID: "k-alice", Scopes: []string{"notes:write"}}
	bob   = &mcpgate.Principal{Subject: "bob", Tenant: "other", KeyID: "k-bob"}
)

func tool(name string) []authz.Call {
	return []authz.Call{{Method: "tools/call", Name: name, ID: []byte("1")}}
}

var policy = &authz.Policy{Tools: []authz.Rule{{Match: "create_note", Scopes: []string{"notes:write"}}, {Match: "*", Scopes: []string{}}}}

func TestLimitPerPrincipal(t *testing.T) {
	l, c := newLimiter(t, &ratelimit.Policy{Default: mustLimit(t, "3/1m")}, nil)
	ctx := context.Background()
	for i := range 3 {
		h := http.Header{}
		if rf := l.Limit(ctx, alice, tool("search"), policy, h); rf != nil {
			t.Fatalf("call %d refused: %v", i+1, rf)
		}
		if got, want := h.Get("RateLimit"), fmt.Sprintf(`"default";r=%d;t=%d`, 2-i, 20*(i+1)); got != want {
			t.Errorf("call %d: RateLimit %q, want %q", i+1, got, want)
		}
		if got := h.Get("RateLimit-Policy"); got != `"default";q=3;w=60` {
			t.Errorf("RateLimit-Policy %q", got)
		}
	}
	rf := l.Limit(ctx, alice, tool("search"), policy, http.Header{})
	if rf == nil || rf.Kind != refusal.RateLimited {
		t.Fatalf("4th call: %v, want a 429", rf)
	}
	w := httptest.NewRecorder()
	refusal.Write(w, rf)
	if w.Code != 429 || w.Header().Get("Retry-After") != "20" || w.Header().Get("RateLimit") != `"default";r=0;t=60` {
		t.Errorf("429: status %d, headers %v", w.Code, w.Header())
	}
	want := `{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"rate limit \"default\" exceeded (3/1m)","data":{"policy":"default","retry_after":20}}}`
	if got := strings.TrimSpace(w.Body.String()); got != want {
		t.Errorf("body %s\nwant %s", got, want)
	}
	if rf := l.Limit(ctx, bob, tool("search"), policy, http.Header{}); rf != nil {
		t.Errorf("another principal was limited with alice: %v", rf)
	}
	c.advance(20 * time.Second)
	if rf := l.Limit(ctx, alice, tool("search"), policy, http.Header{}); rf != nil {
		t.Errorf("after the retry-after: %v", rf)
	}
}

func TestRulesFirstMatchWins(t *testing.T) {
	p := &ratelimit.Policy{
		Default: mustLimit(t, "100/1m"),
		Rules: []ratelimit.Rule{
			{Tool: "search_*", Limit: mustLimit(t, "2/1m")},
			{Scope: "notes:write", Limit: mustLimit(t, "1/1m"), Name: "writes"},
			{Tenant: "other", Limit: mustLimit(t, "off")},
			{Key: "k-alice", Limit: mustLimit(t, "10/1m burst 4"), Cost: 2},
		},
	}
	l, _ := newLimiter(t, p, nil)
	ctx := context.Background()
	count := func(pr *mcpgate.Principal, calls []authz.Call, n int) (allowed int, last http.Header) {
		for range n {
			h := http.Header{}
			if l.Limit(ctx, pr, calls, policy, h) == nil {
				allowed++
				last = h
			}
		}
		return allowed, last
	}
	if n, h := count(alice, tool("search_docs"), 5); n != 2 || !strings.HasPrefix(h.Get("RateLimit"), `"rule-1"`) {
		t.Errorf("tool rule: %d allowed (want 2), %v", n, h)
	}
	if n, _ := count(alice, tool("create_note"), 5); n != 1 {
		t.Errorf("scope rule: %d allowed, want 1", n)
	}
	if n, h := count(bob, tool("anything"), 200); n != 200 || h.Get("RateLimit") != "" {
		t.Errorf("tenant rule off: %d allowed (want 200), headers %v", n, h)
	}
	// alice's key: burst 4 at cost 2 a call: 2 calls.
	if n, _ := count(alice, tool("other"), 5); n != 2 {
		t.Errorf("key rule with cost 2: %d allowed, want 2", n)
	}
}

// A batch is charged per call, to each call's own limit.
func TestBatchChargedPerCall(t *testing.T) {
	l, _ := newLimiter(t, &ratelimit.Policy{Default: mustLimit(t, "5/1m")}, nil)
	batch := append(tool("a"), tool("b")...)
	batch = append(batch, tool("c")...)
	ctx := context.Background()
	if rf := l.Limit(ctx, alice, batch, policy, http.Header{}); rf != nil {
		t.Fatal(rf)
	}
	if rf := l.Limit(ctx, alice, batch, policy, http.Header{}); rf == nil {
		t.Error("a second batch of 3 passed a limit of 5")
	}
	if rf := l.Limit(ctx, alice, tool("d"), policy, http.Header{}); rf != nil {
		t.Errorf("one call within the 2 left: %v", rf)
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []ratelimit.Policy{
		{Rules: []ratelimit.Rule{{Limit: mustLimit(t, "1/1m")}}},
		{Rules: []ratelimit.Rule{{Tool: "a", Scope: "b", Limit: mustLimit(t, "1/1m")}}},
		{Rules: []ratelimit.Rule{{Tool: "a", Limit: mustLimit(t, "10/1m burst 2"), Cost: 3}}},
		{Rules: []ratelimit.Rule{{Tool: "a", Name: "x"}, {Tool: "b", Name: "x"}}},
		{Rules: []ratelimit.Rule{{Tool: "a", Name: "has space"}}},
	} {
		if _, err := ratelimit.New(inmem.New(nil), &p, nil); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func request(remote string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.RemoteAddr = remote
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func TestAuthFailuresPerAddress(t *testing.T) {
	lim := mustLimit(t, "3/1m")
	var alerts []string
	l, _ := newLimiter(t, nil, &ratelimit.Options{
		AuthFailures:   &lim,
		TrustedProxies: []string{"10.0.0.0/8"},
		Alert:          func(kind, p string, _ map[string]any) { alerts = append(alerts, kind+" "+p) },
	})
	fail := func(r *http.Request, n int) (refused int) {
		for range n {
			if rf := l.AuthFailed(r); rf != nil {
				if rf.Kind != refusal.RateLimited {
					t.Fatalf("refusal %v", rf)
				}
				refused++
			}
		}
		return refused
	}
	if got := fail(request("192.0.2.1:1000", nil), 5); got != 2 {
		t.Errorf("IPv4: %d of 5 refused, want 2", got)
	}
	if got := fail(request("192.0.2.2:1000", nil), 3); got != 0 {
		t.Errorf("another address was refused with the first: %d", got)
	}
	// One IPv6 host holds a /64: its addresses share a limit.
	fail(request("[2001:db8:1:2::1]:1", nil), 3)
	if got := fail(request("[2001:db8:1:2:ffff::9]:1", nil), 1); got != 1 {
		t.Error("another address of the same /64 was not limited with it")
	}
	if got := fail(request("[2001:db8:1:3::1]:1", nil), 1); got != 0 {
		t.Error("another /64 was limited")
	}
	// Forwarded addresses count only from a trusted proxy.
	fail(request("10.1.1.1:1", map[string]string{"X-Forwarded-For": "198.51.100.7, 10.2.2.2"}), 3)
	if got := fail(request("10.1.1.1:1", map[string]string{"X-Forwarded-For": "198.51.100.8"}), 1); got != 0 {
		t.Error("clients behind one trusted proxy were limited together")
	}
	if got := fail(request("10.1.1.1:1", map[string]string{"Forwarded": `for="198.51.100.7:4711"`}), 1); got != 1 {
		t.Error("Forwarded: the client's limit was not applied")
	}
	if got := fail(request("203.0.113.5:1", map[string]string{"X-Forwarded-For": "198.51.100.99"}), 4); got != 1 {
		t.Errorf("an untrusted peer's X-Forwarded-For was believed: %d of 4 refused, want 1", got)
	}
	if len(alerts) == 0 || !strings.HasPrefix(alerts[0], "auth_failures 192.0.2.1") {
		t.Errorf("alerts %v", alerts)
	}
}

func TestAuthFailuresOff(t *testing.T) {
	l, _ := newLimiter(t, nil, &ratelimit.Options{AuthFailures: &mcpgate.Off})
	for range 100 {
		if rf := l.AuthFailed(request("192.0.2.1:1", nil)); rf != nil {
			t.Fatal(rf)
		}
	}
}

// failing is a limiter that cannot decide.
type failing struct{}

func (failing) Allow(context.Context, string, mcpgate.Limit, int) (mcpgate.Decision, error) {
	return mcpgate.Decision{}, mcpgate.ErrLimiterUnavailable
}

func TestUnavailableLimiter(t *testing.T) {
	l, err := ratelimit.New(failing{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rf := l.Limit(context.Background(), alice, tool("x"), policy, http.Header{})
	if rf == nil || rf.Kind != refusal.LimiterUnavailable || rf.Kind.Status() != 503 {
		t.Errorf("%v, want 503", rf)
	}
	if rf := l.AuthFailed(request("192.0.2.1:1", nil)); rf != nil {
		t.Errorf("a failed authentication became %v; the 401 must stand", rf)
	}
}
