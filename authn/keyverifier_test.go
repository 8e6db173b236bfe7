package authn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
)

// testStore is what the verifier tests need of a store.
type testStore interface {
	mcpgate.KeyStore
	mcpgate.ChangeFeed
}

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mustCreateKey generates a key, lets edit adjust the stored record, stores
// it and returns the full key and the record.
func mustCreateKey(tb testing.TB, s mcpgate.KeyStore, now time.Time, edit func(*mcpgate.APIKey)) (string, *mcpgate.APIKey) {
	tb.Helper()
	key, id, hash, err := apikey.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	k := &mcpgate.APIKey{
		ID:        id,
		Name:      "test",
		Subject:   "alice",
		Tenant:    "acme",
		Scopes:    []string{"notes:read", "notes:write"},
		Hash:      hash,
		CreatedAt: now.Truncate(time.Second),
	}
	if edit != nil {
		edit(k)
	}
	if err := s.CreateKey(context.Background(), k); err != nil {
		tb.Fatalf("CreateKey: %v", err)
	}
	return key, k
}

// wrongSecret returns key with its secret replaced, checksum recomputed, so
// that only the secret comparison can refuse it.
func wrongSecret(tb testing.TB, key string) string {
	tb.Helper()
	id, secret, err := apikey.Parse(key)
	if err != nil {
		tb.Fatal(err)
	}
	b := []byte(secret)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return apikey.Format(id, string(b))
}

// testKeyVerifierSuite runs the behaviour every store must support.
func testKeyVerifierSuite(t *testing.T, newStore func(t *testing.T) testStore) {
	ctx := context.Background()

	t.Run("outcomes", func(t *testing.T) {
		s := newStore(t)
		clock := newFakeClock()
		now := clock.Now()
		good, goodRec := mustCreateKey(t, s, now, nil)
		expiring, _ := mustCreateKey(t, s, now, func(k *mcpgate.APIKey) { k.ExpiresAt = now.Add(time.Hour) })
		expired, _ := mustCreateKey(t, s, now, func(k *mcpgate.APIKey) { k.ExpiresAt = now.Add(-time.Second) })
		revoked, revokedRec := mustCreateKey(t, s, now, nil)
		if err := s.RevokeKey(ctx, revokedRec.ID, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		unknown, _, _, _ := apikey.Generate()

		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		tests := []struct {
			name    string
			token   string
			wantErr error
		}{
			{"valid", good, nil},
			{"valid until later", expiring, nil},
			{"expired", expired, errKeyExpired},
			{"revoked", revoked, errKeyRevoked},
			{"unknown id", unknown, errUnknownKey},
			{"wrong secret", wrongSecret(t, good), errWrongSecret},
			{"bad checksum", damageLast(good), errKeyChecksum},
			{"truncated", good[:40], errKeyMalformed},
			{"empty", "", errKeyMalformed},
			{"jwt", "eyJhbGciOiJIUzI1NiJ9.e30.x", errKeyMalformed},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for pass := range 2 { // cold, then cached
					p, err := v.Verify(ctx, tt.token)
					if tt.wantErr != nil {
						if !errors.Is(err, tt.wantErr) || !errors.Is(err, mcpgate.ErrUnauthenticated) || p != nil {
							t.Fatalf("pass %d: Verify = %v, %v; want %v", pass, p, err, tt.wantErr)
						}
						continue
					}
					if err != nil {
						t.Fatalf("pass %d: Verify: %v", pass, err)
					}
					if p.Method != mcpgate.MethodAPIKey || p.Subject != "alice" || p.Tenant != "acme" {
						t.Errorf("principal = %+v", p)
					}
				}
			})
		}
		p, err := v.Verify(ctx, good)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.KeyID, goodRec.ID; got != want {
			t.Errorf("KeyID = %q, want %q", got, want)
		}
		if got, want := p.ID(), "acme/alice"; got != want {
			t.Errorf("ID() = %q, want %q", got, want)
		}
		if !p.HasScope("notes:write") || p.HasScope("docs:read") {
			t.Errorf("Scopes = %v", p.Scopes)
		}
		if !p.Expires.IsZero() {
			t.Errorf("Expires = %v, want zero", p.Expires)
		}
		p2, _ := v.Verify(ctx, expiring)
		if got, want := p2.Expires, now.Add(time.Hour); !got.Equal(want) {
			t.Errorf("Expires = %v, want %v", got, want)
		}

		// Time passes: the cached key expires without any invalidation.
		clock.Advance(time.Hour)
		if _, err := v.Verify(ctx, expiring); !errors.Is(err, errKeyExpired) {
			t.Errorf("after expiry: Verify = %v, want %v", err, errKeyExpired)
		}
	})

	t.Run("revocation after invalidation", func(t *testing.T) {
		s := newStore(t)
		v := NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1})
		key, k := mustCreateKey(t, s, time.Now(), nil)
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeKey(ctx, k.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		// Still cached: revocation needs the change feed or Invalidate.
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatalf("cached key refused before invalidation: %v", err)
		}
		v.Invalidate(k.ID)
		if _, err := v.Verify(ctx, key); !errors.Is(err, errKeyRevoked) {
			t.Fatalf("after Invalidate: Verify = %v, want %v", err, errKeyRevoked)
		}
	})

	t.Run("rotation grace", func(t *testing.T) {
		s := newStore(t)
		clock := newFakeClock()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		oldKey, oldRec := mustCreateKey(t, s, clock.Now(), nil)
		newKey, newID, hash, _ := apikey.Generate()
		next := &mcpgate.APIKey{ID: newID, Name: "rotated", Subject: "alice", Tenant: "acme",
			Scopes: oldRec.Scopes, Hash: hash, CreatedAt: clock.Now().Truncate(time.Second)}
		graceEnd := clock.Now().Add(24 * time.Hour)
		if err := s.RotateKey(ctx, oldRec.ID, next, graceEnd); err != nil {
			t.Fatal(err)
		}
		v.Apply(mcpgate.Change{Kind: mcpgate.ChangeKey, ID: oldRec.ID})
		for _, k := range []string{oldKey, newKey} {
			if _, err := v.Verify(ctx, k); err != nil {
				t.Fatalf("within grace: Verify: %v", err)
			}
		}
		clock.Advance(24 * time.Hour)
		if _, err := v.Verify(ctx, oldKey); !errors.Is(err, errKeyExpired) {
			t.Errorf("after grace: old key Verify = %v, want %v", err, errKeyExpired)
		}
		if _, err := v.Verify(ctx, newKey); err != nil {
			t.Errorf("after grace: new key Verify = %v", err)
		}
	})

	t.Run("last used is written once per interval", func(t *testing.T) {
		s := newStore(t)
		clock := newFakeClock()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: time.Minute})
		key, k := mustCreateKey(t, s, clock.Now(), nil)
		lastUsed := func() time.Time {
			t.Helper()
			v.Close() // wait for background writes
			v.touchMu.Lock()
			v.closed = false
			v.touchMu.Unlock()
			got, err := s.Key(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.LastUsedAt
		}
		first := clock.Now()
		for range 5 {
			if _, err := v.Verify(ctx, key); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second)
		}
		if got := lastUsed(); !got.Equal(first) {
			t.Errorf("LastUsedAt = %v, want %v (the first use)", got, first)
		}
		v.InvalidateAll() // forgetting the cache must not forget the last write
		clock.Advance(50 * time.Second)
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(first) {
			t.Errorf("LastUsedAt = %v, want %v (within the interval)", got, first)
		}
		clock.Advance(10 * time.Second)
		third := clock.Now()
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(third) {
			t.Errorf("LastUsedAt = %v, want %v (a new interval)", got, third)
		}
	})

	t.Run("watch revocation from another writer", func(t *testing.T) {
		s := newStore(t)
		v := NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1})
		key, k := mustCreateKey(t, s, time.Now(), nil)
		other, _ := mustCreateKey(t, s, time.Now(), nil)
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- WatchChanges(ctx, s, 0, v.Apply) }()
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("WatchChanges returned %v, want context.Canceled", err)
			}
		}()
		for _, k := range []string{key, other} {
			if _, err := v.Verify(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond) // let the watcher read its starting point
		revokedAt := time.Now()
		if err := s.RevokeKey(ctx, k.ID, revokedAt); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := v.Verify(ctx, key)
			if errors.Is(err, errKeyRevoked) {
				break
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if time.Since(revokedAt) > time.Second {
				t.Fatal("revoked key still accepted after 1s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("revocation took effect after %v", time.Since(revokedAt).Round(time.Millisecond))
		if _, err := v.Verify(ctx, other); err != nil {
			t.Errorf("other key refused: %v", err)
		}
	})
}

func TestKeyVerifierMemStore(t *testing.T) {
	testKeyVerifierSuite(t, func(*testing.T) testStore { return newMemStore() })
}

func TestKeyVerifierCaching(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()

	t.Run("hits do not read the store", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		key, _ := mustCreateKey(t, s, clock.Now(), nil)
		for range 10 {
			if _, err := v.Verify(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.reads.Load(); got != 1 {
			t.Errorf("store reads = %d, want 1", got)
		}
		// A wrong secret for a cached id is refused from the cache too.
		if _, err := v.Verify(ctx, wrongSecret(t, key)); !errors.Is(err, errWrongSecret) {
			t.Errorf("Verify(wrong secret) = %v", err)
		}
		if got := s.reads.Load(); got != 1 {
			t.Errorf("store reads = %d, want 1", got)
		}
		// The cache TTL is a safety net: an old entry is read again.
		clock.Advance(61 * time.Second)
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
		if got := s.reads.Load(); got != 2 {
			t.Errorf("store reads after TTL = %d, want 2", got)
		}
	})

	t.Run("disabled cache reads every time", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1, CacheSize: -1})
		key, _ := mustCreateKey(t, s, clock.Now(), nil)
		for range 3 {
			if _, err := v.Verify(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.reads.Load(); got != 3 {
			t.Errorf("store reads = %d, want 3", got)
		}
	})

	t.Run("unknown ids are remembered as long as keys", func(t *testing.T) {
		s := newMemStore()
		// The smallest key cache, so that the negative cache has its
		// least bound.
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1, CacheSize: 1})
		unknown, _, _, _ := apikey.Generate()
		for range 100 {
			if _, err := v.Verify(ctx, unknown); !errors.Is(err, errUnknownKey) {
				t.Fatalf("Verify = %v", err)
			}
		}
		if got := s.reads.Load(); got != 1 {
			t.Errorf("store reads = %d, want 1", got)
		}
		clock.Advance(61 * time.Second)
		v.Verify(ctx, unknown)
		if got := s.reads.Load(); got != 2 {
			t.Errorf("store reads after negative TTL = %d, want 2", got)
		}
		// The negative cache is bounded.
		for range negativeCacheSize + 100 {
			k, _, _, _ := apikey.Generate()
			v.Verify(ctx, k)
		}
		v.mu.RLock()
		n := len(v.unknown)
		v.mu.RUnlock()
		if n > negativeCacheSize {
			t.Errorf("negative cache holds %d ids, bound %d", n, negativeCacheSize)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1, CacheSize: 3})
		var keys []string
		for range 10 {
			k, _ := mustCreateKey(t, s, clock.Now(), nil)
			keys = append(keys, k)
		}
		for _, k := range keys {
			if _, err := v.Verify(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		v.mu.RLock()
		n := len(v.keys)
		v.mu.RUnlock()
		if n != 3 {
			t.Errorf("cache holds %d keys, want 3", n)
		}
	})

	t.Run("store failure is not a refusal", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		key, _ := mustCreateKey(t, s, clock.Now(), nil)
		s.failKey.Store(true)
		_, err := v.Verify(ctx, key)
		if !errors.Is(err, errStoreDown) || errors.Is(err, mcpgate.ErrUnauthenticated) {
			t.Fatalf("Verify = %v, want a store error that is not ErrUnauthenticated", err)
		}
		s.failKey.Store(false)
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})

	t.Run("a lookup racing an invalidation is not cached", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		key, k := mustCreateKey(t, s, clock.Now(), nil)
		s.holdReads = make(chan struct{})
		s.entered = make(chan string, 1)
		done := make(chan error)
		go func() { _, err := v.Verify(ctx, key); done <- err }()
		<-s.entered // the read of the still valid key is under way
		v.Invalidate(k.ID)
		close(s.holdReads)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		s.entered = nil
		if err := s.RevokeKey(ctx, k.ID, clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, key); !errors.Is(err, errKeyRevoked) {
			t.Errorf("Verify after revocation = %v; a stale lookup was cached", err)
		}
	})

	t.Run("a check after an invalidation does not join an older read", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		key, k := mustCreateKey(t, s, clock.Now(), nil)
		s.holdReads = make(chan struct{})
		s.entered = make(chan string, 2)
		first := make(chan error)
		go func() { _, err := v.Verify(ctx, key); first <- err }()
		<-s.entered // the first read is under way, and sees the key valid
		if err := s.RevokeKey(ctx, k.ID, clock.Now()); err != nil {
			t.Fatal(err)
		}
		v.Invalidate(k.ID)
		second := make(chan error)
		go func() { _, err := v.Verify(ctx, key); second <- err }()
		select {
		case <-s.entered: // a read of its own
		case <-time.After(5 * time.Second):
			t.Fatal("the check after the invalidation joined the older read")
		}
		close(s.holdReads)
		<-first
		if err := <-second; !errors.Is(err, errKeyRevoked) {
			t.Errorf("check after revocation and invalidation = %v, want %v", err, errKeyRevoked)
		}
	})

	t.Run("concurrent misses share one read", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		key, _ := mustCreateKey(t, s, clock.Now(), nil)
		s.holdReads = make(chan struct{})
		s.entered = make(chan string, 1)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				_, err := v.Verify(ctx, key)
				errs <- err
			})
		}
		<-s.entered
		time.Sleep(50 * time.Millisecond) // let the others queue behind the first read
		close(s.holdReads)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := s.reads.Load(); got != 1 {
			t.Errorf("store reads = %d, want 1", got)
		}
	})

	t.Run("subject change drops the subject's keys", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		a, _ := mustCreateKey(t, s, clock.Now(), nil)
		b, _ := mustCreateKey(t, s, clock.Now(), func(k *mcpgate.APIKey) { k.Subject = "bob" })
		v.Verify(ctx, a)
		v.Verify(ctx, b)
		v.Apply(mcpgate.Change{Kind: mcpgate.ChangeSubject, ID: "acme/alice"})
		v.Apply(mcpgate.Change{Kind: mcpgate.ChangeGrant, ID: "whatever"})
		v.mu.RLock()
		n := len(v.keys)
		v.mu.RUnlock()
		if n != 1 {
			t.Errorf("cache holds %d keys, want 1 (bob's)", n)
		}
	})

	t.Run("returned principals are independent", func(t *testing.T) {
		s := newMemStore()
		v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
		key, _ := mustCreateKey(t, s, clock.Now(), nil)
		p1, _ := v.Verify(ctx, key)
		p1.Subject = "mallory"
		p1.Scopes = append(p1.Scopes, "admin")
		p2, _ := v.Verify(ctx, key)
		if p2.Subject != "alice" || p2.HasScope("admin") {
			t.Errorf("second principal = %+v; the cache was modified through the first", p2)
		}
	})
}

// TestKeyVerifierPrincipalsConcurrent checks, under the race detector, that
// principals handed out concurrently for one key never share memory.
func TestKeyVerifierPrincipalsConcurrent(t *testing.T) {
	s := newMemStore()
	v := NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1})
	key, _ := mustCreateKey(t, s, time.Now(), nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			mine := fmt.Sprint("goroutine-", g)
			var held []*mcpgate.Principal
			for range 3 * maxSlab {
				p, err := v.Verify(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				if p.Subject != "alice" {
					t.Errorf("fresh principal has subject %q", p.Subject)
					return
				}
				p.Subject = mine
				held = append(held, p)
			}
			for _, p := range held {
				if p.Subject != mine {
					t.Errorf("principal changed under its holder: %q", p.Subject)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestKeyVerifierSlabGrows checks that a key checked a few times holds a
// small slab of principals, and a busy one reaches full slabs.
func TestKeyVerifierSlabGrows(t *testing.T) {
	s := newMemStore()
	v := NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1})
	key, k := mustCreateKey(t, s, time.Now(), nil)
	ctx := context.Background()
	slab := func() int {
		v.mu.RLock()
		defer v.mu.RUnlock()
		e := v.keys[k.ID]
		if e == nil || e.slab.Load() == nil {
			return 0
		}
		return len(e.slab.Load().ps)
	}
	for i, want := range []int{0, 0, firstSlab, firstSlab, 2 * firstSlab} {
		if got := slab(); got != want {
			t.Fatalf("after %d checks the slab holds %d principals, want %d", i, got, want)
		}
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 * maxSlab {
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if got := slab(); got != maxSlab {
		t.Errorf("a busy key's slab holds %d principals, want %d", got, maxSlab)
	}
}

func TestKeyVerifierCachedAllocs(t *testing.T) {
	s := newMemStore()
	v := NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1})
	key, _ := mustCreateKey(t, s, time.Now(), nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, key); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0.1 {
		t.Errorf("cached Verify allocates %v times per check, want principals allocated in slabs", allocs)
	}
}

func TestWatchChangesRetries(t *testing.T) {
	tests := []struct {
		name string
		// failStart: LastChange fails this often before the watcher starts;
		// failPoll: then ChangesSince fails this often after the revocation.
		failStart, failPoll int64
	}{
		{"start fails", 3, 0},
		{"polls fail", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemStore()
			v := NewKeyVerifier(s, &KeyVerifierOptions{TouchInterval: -1})
			key, k := mustCreateKey(t, s, time.Now(), nil)
			if _, err := v.Verify(context.Background(), key); err != nil {
				t.Fatal(err)
			}
			s.failFeed.Store(tt.failStart)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var applied []mcpgate.Change
			go WatchChanges(ctx, s, 10*time.Millisecond, func(c mcpgate.Change) {
				mu.Lock()
				applied = append(applied, c)
				mu.Unlock()
				v.Apply(c)
			})
			for s.failFeed.Load() > 0 {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // the watcher has its starting point
			s.failFeed.Store(tt.failPoll)
			s.RevokeKey(ctx, k.ID, time.Now())
			deadline := time.Now().Add(3 * time.Second)
			for {
				if _, err := v.Verify(ctx, key); errors.Is(err, errKeyRevoked) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("revocation not applied despite the feed recovering")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := s.failFeed.Load(); got != 0 {
				t.Errorf("%d injected failures left", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(applied) != 1 || applied[0].ID != k.ID || applied[0].Kind != mcpgate.ChangeKey {
				t.Errorf("applied %v, want the one revocation", applied)
			}
		})
	}
}

// TestKeyVerifierUnknownIDLikeWrongSecret: an unknown key id goes the same
// way as a known id with a wrong secret, so that timing does not tell a
// prober which ids exist: it is remembered as long as a known key is
// cached, and refused after the same constant-time comparison of digests.
func TestKeyVerifierUnknownIDLikeWrongSecret(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := newMemStore()
	v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
	key, _ := mustCreateKey(t, s, clock.Now(), nil)
	wrong := wrongSecret(t, key)
	unknown, _, _, _ := apikey.Generate()
	probe := func() {
		t.Helper()
		if _, err := v.Verify(ctx, wrong); !errors.Is(err, errWrongSecret) {
			t.Fatalf("wrong secret: %v", err)
		}
		if _, err := v.Verify(ctx, unknown); !errors.Is(err, errUnknownKey) {
			t.Fatalf("unknown id: %v", err)
		}
	}
	reads := func(want int64) {
		t.Helper()
		if got := s.reads.Load(); got != want {
			t.Errorf("store reads = %d, want %d", got, want)
		}
	}
	compares := 0
	compare := verifySecret
	verifySecret = func(stored []byte, secret string) bool {
		compares++
		return compare(stored, secret)
	}
	t.Cleanup(func() { verifySecret = compare })

	probe()
	reads(2)
	if compares != 2 {
		t.Errorf("%d digest comparisons for a wrong secret and an unknown id read from the store, want 2", compares)
	}
	clock.Advance(30 * time.Second)
	probe()
	reads(2) // both still cached
	if compares != 4 {
		t.Errorf("%d digest comparisons after both were cached, want 4", compares)
	}
	clock.Advance(31 * time.Second)
	probe()
	reads(4) // both read again
}
