package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// RunSigninSessions runs the conformance suite of
// mcpgate.SigninSessionStore. open must return a new, empty store and close
// it when the test ends. A store that is also an mcpgate.Pruner must prune
// expired sessions.
//
// Beyond the interface comments, stores must keep Scopes in order, read
// times back in UTC at Precision, refuse an id hash that is not 32 bytes
// and an empty subject, and keep the per-subject bound under concurrent
// sign-ins of one subject.
func RunSigninSessions(t *testing.T, open func(t *testing.T) mcpgate.SigninSessionStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testSigninRoundTrip(t, open(t)) })
	t.Run("Delete", func(t *testing.T) { testSigninDelete(t, open(t)) })
	t.Run("PerSubject", func(t *testing.T) { testSigninPerSubject(t, open(t)) })
	t.Run("DeleteSubject", func(t *testing.T) { testSigninDeleteSubject(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testSigninInvalid(t, open(t)) })
	t.Run("ConcurrentPerSubject", func(t *testing.T) { testSigninConcurrent(t, open(t)) })
	t.Run("Prune", func(t *testing.T) { testSigninPrune(t, open(t)) })
}

func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func newSignin(id, subject string, created time.Time) *mcpgate.SigninSession {
	return &mcpgate.SigninSession{IDHash: sessionHash(id), Subject: subject, Method: "password",
		CreatedAt: created, ExpiresAt: created.Add(8 * time.Hour)}
}

// present reports which of ids have a session in s.
func present(t *testing.T, s mcpgate.SigninSessionStore, ids ...string) []string {
	t.Helper()
	var got []string
	for _, id := range ids {
		_, err := s.SigninSession(t.Context(), sessionHash(id))
		switch {
		case err == nil:
			got = append(got, id)
		case !errors.Is(err, mcpgate.ErrNotFound):
			t.Fatalf("SigninSession(%s): %v", id, err)
		}
	}
	return got
}

func testSigninRoundTrip(t *testing.T, s mcpgate.SigninSessionStore) {
	ctx := t.Context()
	want := &mcpgate.SigninSession{IDHash: sessionHash("one"), Subject: "alice", Tenant: "acme", Method: mcpgate.MethodAPIKey,
		KeyID: "k1", Scopes: []string{"notes:write", "docs:read"}, Capped: true, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateSigninSession(ctx, want, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.SigninSession(ctx, sessionHash("one"))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !bytes.Equal(got.IDHash, want.IDHash), got.Subject != "alice", got.Tenant != "acme", got.Method != mcpgate.MethodAPIKey,
		got.KeyID != "k1", !slices.Equal(got.Scopes, want.Scopes), !got.Capped:
		t.Errorf("SigninSession = %+v, want %+v", got, want)
	case !sameTime(got.CreatedAt, base) || got.CreatedAt.Location() != time.UTC,
		!sameTime(got.ExpiresAt, base.Add(time.Hour)) || got.ExpiresAt.Location() != time.UTC:
		t.Errorf("times %v, %v; want %v, %v in UTC", got.CreatedAt, got.ExpiresAt, base, base.Add(time.Hour))
	}
	// An uncapped password session with no scopes reads back as such.
	if err := s.CreateSigninSession(ctx, newSignin("two", "bob", base), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SigninSession(ctx, sessionHash("two")); err != nil || got.Capped || len(got.Scopes) != 0 || got.KeyID != "" || got.Tenant != "" {
		t.Errorf("uncapped session = %+v, %v", got, err)
	}
	if err := s.CreateSigninSession(ctx, newSignin("one", "mallory", base), 0); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("second session with the same id hash: %v, want ErrConflict", err)
	}
	if got := present(t, s, "one"); len(got) != 1 {
		t.Fatal("a conflicting create removed the session")
	}
	if got, _ := s.SigninSession(ctx, sessionHash("one")); got.Subject != "alice" {
		t.Errorf("a conflicting create replaced the session: subject %q", got.Subject)
	}
	if _, err := s.SigninSession(ctx, sessionHash("unknown")); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
	// The id is not a hash: looking the id itself up finds nothing.
	if _, err := s.SigninSession(ctx, []byte("one")); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("look-up by a short value: %v, want ErrNotFound", err)
	}
}

func testSigninDelete(t *testing.T, s mcpgate.SigninSessionStore) {
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		if err := s.CreateSigninSession(ctx, newSignin(id, "alice", base), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSigninSession(ctx, sessionHash("a")); err != nil {
		t.Fatal(err)
	}
	if got := present(t, s, "a", "b"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after deleting a: %v, want [b]", got)
	}
	if err := s.DeleteSigninSession(ctx, sessionHash("a")); err != nil {
		t.Errorf("deleting an ended session again: %v, want nil", err)
	}
}

func testSigninPerSubject(t *testing.T, s mcpgate.SigninSessionStore) {
	ctx := t.Context()
	if err := s.CreateSigninSession(ctx, newSignin("bob1", "bob", base), 3); err != nil {
		t.Fatal(err)
	}
	// Creation order decides, not CreatedAt: clocks of replicas differ.
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("alice%d", i)
		ids = append(ids, id)
		if err := s.CreateSigninSession(ctx, newSignin(id, "alice", base.Add(-time.Duration(i)*time.Minute)), 3); err != nil {
			t.Fatal(err)
		}
	}
	if got := present(t, s, ids...); !slices.Equal(got, ids[2:]) {
		t.Errorf("alice's sessions after 5 with a bound of 3: %v, want %v", got, ids[2:])
	}
	if got := present(t, s, "bob1"); len(got) != 1 {
		t.Error("another subject's sign-ins ended bob's session")
	}
	// No bound: nothing is deleted.
	if err := s.CreateSigninSession(ctx, newSignin("alice5", "alice", base), 0); err != nil {
		t.Fatal(err)
	}
	if got := present(t, s, append(ids, "alice5")...); len(got) != 4 {
		t.Errorf("with no bound: %v, want 4 sessions", got)
	}
}

func testSigninDeleteSubject(t *testing.T, s mcpgate.SigninSessionStore) {
	ctx := t.Context()
	for _, c := range []struct{ id, subject string }{{"a1", "alice"}, {"a2", "alice"}, {"b1", "bob"}, {"A1", "Alice"}} {
		if err := s.CreateSigninSession(ctx, newSignin(c.id, c.subject, base), 0); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteSubjectSigninSessions(ctx, "alice")
	if err != nil || n != 2 {
		t.Errorf("DeleteSubjectSigninSessions(alice) = %d, %v; want 2", n, err)
	}
	if got := present(t, s, "a1", "a2", "b1", "A1"); !slices.Equal(got, []string{"b1", "A1"}) {
		t.Errorf("left: %v, want [b1 A1] (subjects match exactly)", got)
	}
	if n, err := s.DeleteSubjectSigninSessions(ctx, "nobody"); err != nil || n != 0 {
		t.Errorf("DeleteSubjectSigninSessions(nobody) = %d, %v; want 0, nil", n, err)
	}
}

func testSigninInvalid(t *testing.T, s mcpgate.SigninSessionStore) {
	ctx := t.Context()
	for name, bad := range map[string]*mcpgate.SigninSession{
		"nil":           nil,
		"short hash":    {IDHash: []byte("short"), Subject: "alice", ExpiresAt: base},
		"no hash":       {Subject: "alice", ExpiresAt: base},
		"empty subject": {IDHash: sessionHash("x"), ExpiresAt: base},
	} {
		if err := s.CreateSigninSession(ctx, bad, 3); err == nil {
			t.Errorf("%s: created, want an error", name)
		}
	}
	if got := present(t, s, "x"); len(got) != 0 {
		t.Error("a session without a subject was stored")
	}
}

func testSigninConcurrent(t *testing.T, s mcpgate.SigninSessionStore) {
	ctx := t.Context()
	const n, bound = 12, 3
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("c%d", i)
		wg.Go(func() {
			errs <- s.CreateSigninSession(ctx, newSignin(ids[i], "alice", base), bound)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if got := present(t, s, ids...); len(got) != bound {
		t.Errorf("after %d concurrent sign-ins with a bound of %d: %d sessions (%v)", n, bound, len(got), got)
	}
}

func testSigninPrune(t *testing.T, s mcpgate.SigninSessionStore) {
	p, ok := s.(mcpgate.Pruner)
	if !ok {
		t.Skip("the store does not prune")
	}
	ctx := t.Context()
	old := newSignin("old", "alice", base.Add(-48*time.Hour))
	old.ExpiresAt = base.Add(-25 * time.Hour)
	live := newSignin("live", "alice", base)
	for _, ss := range []*mcpgate.SigninSession{old, live} {
		if err := s.CreateSigninSession(ctx, ss, 0); err != nil {
			t.Fatal(err)
		}
	}
	if pr, err := p.Prune(ctx, time.Time{}, time.Time{}); err != nil || pr.SigninSessions != 0 {
		t.Fatalf("Prune(zero, zero) = %+v, %v; want no sessions pruned", pr, err)
	}
	pr, err := p.Prune(ctx, time.Time{}, base.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if pr.SigninSessions != 1 {
		t.Errorf("Prune: %d sessions deleted, want 1", pr.SigninSessions)
	}
	if got := present(t, s, "old", "live"); !slices.Equal(got, []string{"live"}) {
		t.Errorf("after Prune: %v, want [live]", got)
	}
}
