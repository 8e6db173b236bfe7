package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
)

func TestLoginPassword(t *testing.T) {
	e := newEnv(t, nil)
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read")

	tests := []struct {
		name       string
		user, pw   string
		wantStatus int
		wantError  string
	}{
		{"wrong password", "alice", "not the password", http.StatusUnauthorized, msgBadPassword},
		{"unknown user", "mallory", alicePassword, http.StatusUnauthorized, msgBadPassword},
		{"disabled user", "carol", alicePassword, http.StatusUnauthorized, msgBadPassword},
		{"empty password", "alice", "", http.StatusBadRequest, msgMissing},
		{"right password", "alice", alicePassword, http.StatusSeeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.agent()
			res := a.login(req, tt.user, tt.pw)
			wantStatus(t, res, tt.wantStatus)
			if tt.wantError != "" {
				if !strings.Contains(res.Body, tt.wantError) {
					t.Errorf("page lacks %q:\n%s", tt.wantError, res.Body)
				}
				if _, ok := a.cookies["mcpgate-session"]; ok {
					t.Error("failed sign-in set a session cookie")
				}
				return
			}
			wantRedirect(t, res, "/consent?req="+req)
			if a.cookies["mcpgate-session"] == "" {
				t.Error("no session cookie after sign-in")
			}
		})
	}
}

// TestLoginSameAnswerForUnknownUser checks that an unknown user and a wrong
// password get byte-identical pages, and that an unknown user still costs
// an argon2 run.
func TestLoginSameAnswerForUnknownUser(t *testing.T) {
	e := newEnv(t, nil)
	a := e.agent()
	page := a.get("/login")
	token := csrf(t, page)
	post := func(user string) (*response, time.Duration) {
		start := time.Now()
		r := a.post("/login", url.Values{"csrf": {token}, "method": {"password"}, "username": {user}, "password": {"wrong password"}})
		return r, time.Since(start)
	}
	wrong, _ := post("alice")
	unknown, _ := post("zed")
	if wrong.Status != unknown.Status {
		t.Errorf("status %d for wrong password, %d for unknown user", wrong.Status, unknown.Status)
	}
	norm := func(s, user string) string { return strings.ReplaceAll(s, `value="`+user+`"`, `value="USER"`) }
	if norm(wrong.Body, "alice") != norm(unknown.Body, "zed") {
		t.Errorf("pages differ:\n%s\n----\n%s", wrong.Body, unknown.Body)
	}

	// One argon2 check with the production parameters, as a floor.
	ah, _ := testHashes(t)
	hashCost := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		if _, err := CheckPassword(ah, "x"); err != nil {
			t.Fatal(err)
		}
		hashCost = min(hashCost, time.Since(start))
	}
	for i := range 3 {
		_, d := post("unknown-" + strconv.Itoa(i))
		if d < hashCost/2 {
			t.Errorf("unknown user answered in %v; one password check takes %v, so none was done", d, hashCost)
		}
	}
}

func TestLoginThrottlePerUsername(t *testing.T) {
	e := newEnv(t, nil)
	a := e.agent()
	for i := range throttleFree {
		res := a.login("", "alice", "wrong "+strconv.Itoa(i))
		wantStatus(t, res, http.StatusUnauthorized)
	}
	// Locked now, even with the right password, and for the case-folded name.
	for _, user := range []string{"alice", "ALICE"} {
		res := a.login("", user, alicePassword)
		wantStatus(t, res, http.StatusTooManyRequests)
		if got := res.Header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After %q, want 1", got)
		}
		if !strings.Contains(res.Body, "Too many failed sign-in attempts") {
			t.Errorf("no throttle message:\n%s", res.Body)
		}
	}
	// An unknown name is throttled the same way, so lockout tells nothing.
	for i := range throttleFree {
		wantStatus(t, a.login("", "nobody", "wrong "+strconv.Itoa(i)), http.StatusUnauthorized)
	}
	wantStatus(t, a.login("", "nobody", "x"), http.StatusTooManyRequests)

	e.clock.Advance(time.Second)
	// One more failure doubles the lock.
	wantStatus(t, a.login("", "alice", "wrong again"), http.StatusUnauthorized)
	res := a.login("", "alice", alicePassword)
	wantStatus(t, res, http.StatusTooManyRequests)
	if got := res.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q after 6 failures, want 2", got)
	}
	e.clock.Advance(2 * time.Second)
	wantRedirect(t, a.login("", "alice", alicePassword), "/apps")
	// Success clears the username's count.
	a2 := e.agent()
	wantStatus(t, a2.login("", "alice", "wrong"), http.StatusUnauthorized)
	wantRedirect(t, a2.login("", "alice", alicePassword), "/apps")
}

func TestLoginThrottlePerAddress(t *testing.T) {
	e := newEnv(t, nil)
	a := e.agent()
	// Many names, each failing once: the address runs out.
	for i := range throttleFreeAddr {
		wantStatus(t, a.login("", "user"+strconv.Itoa(i), "wrong"), http.StatusUnauthorized)
	}
	wantStatus(t, a.login("", "alice", alicePassword), http.StatusTooManyRequests)
	wantStatus(t, a.loginKey("", testAPIKey), http.StatusTooManyRequests)
	e.clock.Advance(throttleMax)
	wantRedirect(t, a.login("", "alice", alicePassword), "/apps")
}

func TestThrottleBackoff(t *testing.T) {
	th := newThrottle(2, time.Second, 10*time.Second, time.Hour, 3)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var got []time.Duration
	for range 7 {
		th.fail("k", now)
		got = append(got, th.wait("k", now))
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("after %d failures wait %v, want %v", i+1, got[i], want[i])
		}
	}
	// Forgotten after an hour of quiet once the lock is over.
	if w := th.wait("k", now.Add(time.Hour+10*time.Second)); w != 0 {
		t.Errorf("wait after quiet hour %v, want 0", w)
	}
	// Bounded: a fourth key evicts one.
	for _, k := range []string{"a", "b", "c", "d"} {
		th.fail(k, now)
	}
	if n := len(th.entries); n > 3 {
		t.Errorf("%d entries kept, limit 3", n)
	}
}

func TestAddrKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7:5555", "addr:192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "addr:2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "addr:2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:1", "addr:192.0.2.7"},
		{"garbage", "addr:garbage"},
	}
	for _, tt := range tests {
		if got := addrKey(tt.in); got != tt.want {
			t.Errorf("addrKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLoginAPIKey(t *testing.T) {
	e := newEnv(t, nil)
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read", "notes:write")

	t.Run("access token refused", func(t *testing.T) {
		res := e.agent().loginKey(req, testToken)
		wantStatus(t, res, http.StatusUnauthorized)
		if !strings.Contains(res.Body, msgBadKey) {
			t.Errorf("no error message:\n%s", res.Body)
		}
	})
	t.Run("unknown key refused", func(t *testing.T) {
		wantStatus(t, e.agent().loginKey(req, "mcpg_nope_nope"), http.StatusUnauthorized)
	})
	t.Run("key caps scopes", func(t *testing.T) {
		a := e.agent()
		wantRedirect(t, a.loginKey(req, testAPIKey), "/consent?req="+req)
		page := a.get("/consent?req=" + req)
		wantStatus(t, page, http.StatusOK)
		if !strings.Contains(page.Body, "cannot grant") || !strings.Contains(page.Body, "notes:write") {
			t.Errorf("consent does not show notes:write as withheld:\n%s", page.Body)
		}
		// A forged form asking for the withheld scope too.
		res := a.post("/consent", url.Values{"csrf": {csrf(t, page)}, "req": {req}, "action": {"approve"},
			"scope": {"notes:read", "notes:write"}})
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), appRedirect+"?") {
			t.Fatalf("approve: status %d Location %q", res.Status, res.Header.Get("Location"))
		}
		got, ok := e.backend.lastApproval()
		if !ok {
			t.Fatal("no approval reached the server")
		}
		if strings.Join(got.Scopes, " ") != "notes:read" || strings.Join(got.Asked, " ") != "notes:read" {
			t.Errorf("approved scopes %q (asked %q), want only notes:read", got.Scopes, got.Asked)
		}
		if got.User.Subject != "dave" || got.User.Tenant != "acme" || got.User.Method != mcpgate.MethodAPIKey || got.User.KeyID != "key1" {
			t.Errorf("approver %+v, want dave/acme by api key key1", got.User)
		}
	})
}

func TestLoginKeyDisabledWithoutVerifier(t *testing.T) {
	ah, _ := testHashes(t)
	users := newFakeUsers()
	_ = users.CreateUser(t.Context(), &mcpgate.User{Name: "alice", PasswordHash: ah})
	p, err := New(newFakeBackend(), users, newFakeGrants(), nil, &Options{Issuer: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t}
	e.srv = newServer(t, p.Handler())
	a := e.agent()
	page := a.get("/login")
	if strings.Contains(page.Body, "api_key") {
		t.Error("API-key form shown without a verifier")
	}
	res := a.post("/login", url.Values{"csrf": {csrf(t, page)}, "method": {"api_key"}, "api_key": {"k"}})
	wantStatus(t, res, http.StatusBadRequest)
}

func TestLoginStoreDown(t *testing.T) {
	e := newEnv(t, nil)
	e.users.err = errors.New("database is locked")
	res := e.agent().login("", "alice", alicePassword)
	wantStatus(t, res, http.StatusServiceUnavailable)
	if strings.Contains(res.Body, "database") {
		t.Error("internal error leaked to the page")
	}
}

func TestLoginExpiredRequest(t *testing.T) {
	e := newEnv(t, nil)
	res := e.agent().get("/login?req=unknown")
	wantStatus(t, res, http.StatusBadRequest)
	if !strings.Contains(res.Body, "expired") {
		t.Errorf("no expiry message:\n%s", res.Body)
	}
}

func TestLoginReplacesPlantedSession(t *testing.T) {
	e := newEnv(t, nil)
	attacker := e.agent()
	wantRedirect(t, attacker.login("", "alice", alicePassword), "/apps")
	planted := attacker.cookies["mcpgate-session"]

	// The victim's browser carries the planted id when it signs in.
	victim := e.agent()
	token := csrf(t, victim.get("/login"))
	victim.cookies["mcpgate-session"] = planted
	res := victim.post("/login", url.Values{"csrf": {token}, "method": {"password"}, "username": {"bob"}, "password": {bobPassword}})
	wantRedirect(t, res, "/apps")
	if got := victim.cookies["mcpgate-session"]; got == planted || got == "" {
		t.Fatal("sign-in kept the planted session id")
	}
	// The planted session is over, so it cannot ride the victim's sign-in.
	wantRedirect(t, attacker.get("/apps"), "/login")
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	a := e.agent()
	wantRedirect(t, a.login("", "alice", alicePassword), "/apps")
	sid := a.cookies["mcpgate-session"]
	apps := a.get("/apps")
	wantStatus(t, apps, http.StatusOK)
	wantStatus(t, a.post("/logout", url.Values{"csrf": {"wrong"}}), http.StatusForbidden)
	wantRedirect(t, a.post("/logout", url.Values{"csrf": {csrf(t, apps)}}), "/login")
	if _, ok := a.cookies["mcpgate-session"]; ok {
		t.Error("session cookie not cleared")
	}
	b := e.agent()
	b.cookies["mcpgate-session"] = sid
	wantRedirect(t, b.get("/apps"), "/login")
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SessionTTL = time.Hour })
	a := e.agent()
	wantRedirect(t, a.login("", "alice", alicePassword), "/apps")
	wantStatus(t, a.get("/apps"), http.StatusOK)
	e.clock.Advance(time.Hour)
	wantRedirect(t, a.get("/apps"), "/login")
}

func TestLoginFormTooLarge(t *testing.T) {
	e := newEnv(t, nil)
	a := e.agent()
	page := a.get("/login")
	res := a.post("/login", url.Values{"csrf": {csrf(t, page)}, "method": {"password"}, "username": {"alice"},
		"password": {strings.Repeat("x", maxFormBytes)}})
	wantStatus(t, res, http.StatusBadRequest)
}

// A lockout raises a security alert, once per lock, as a refresh token
// used twice does.
func TestLoginLockoutRaisesAlert(t *testing.T) {
	var mu sync.Mutex
	var got []string
	e := newEnv(t, func(o *Options) {
		o.Alerts = func(_ context.Context, kind string, attrs ...any) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintln(append([]any{kind}, attrs...)...))
		}
	})
	a := e.agent()
	for i := range throttleFree + 1 {
		a.login("", "Alice", "wrong "+strconv.Itoa(i))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], AlertSigninLockout) || !strings.Contains(got[0], "subject alice") {
		t.Errorf("alerts %q, want one signin lockout of alice", got)
	}
}

// A lockout holds across replicas: failed sign-ins are also charged to the
// limiter they share, so guesses spread over two replicas lock the name on
// both long after either one's own throttle has let go.
func TestLoginLockoutHoldsAcrossReplicas(t *testing.T) {
	limiterClock := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	shared := inmem.New(&inmem.Options{Now: limiterClock.Now})
	a := newEnv(t, func(o *Options) { o.Limiter = shared })
	b := newEnv(t, func(o *Options) { o.Limiter = shared })
	clocks := []*fakeClock{a.clock, b.clock, limiterClock}
	advance := func(d time.Duration) {
		for _, c := range clocks {
			c.Advance(d)
		}
	}
	aa, ba := a.agent(), b.agent()
	// Ten failures, five on each replica: each replica's own throttle
	// locks alice for a second, and the shared budget is spent.
	for i := range sharedUserLimit.Burst {
		ag := aa
		if i%2 == 1 {
			ag = ba
		}
		wantStatus(t, ag.login("", "alice", "wrong "+strconv.Itoa(i)), http.StatusUnauthorized)
	}
	advance(2 * time.Second)
	// The next failure, on either replica, is over the shared budget.
	wantStatus(t, aa.login("", "alice", "wrong again"), http.StatusUnauthorized)
	advance(10 * time.Second) // well past the 2 s this replica alone would lock for
	res := aa.login("", "alice", alicePassword)
	wantStatus(t, res, http.StatusTooManyRequests)
	if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); ra < 60 {
		t.Errorf("Retry-After %d s: the shared lockout did not hold", ra)
	}
	wantStatus(t, ba.login("", "alice", "wrong on b"), http.StatusUnauthorized)
	advance(10 * time.Second)
	wantStatus(t, ba.login("", "alice", alicePassword), http.StatusTooManyRequests)
}
