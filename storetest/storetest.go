// Package storetest is the conformance suite for mcpgate.Store
// implementations. Every backend runs the same tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) mcpgate.Store { return mustOpen(t) })
//	}
//
// The suite uses fixed times with microsecond precision (the coarsest
// precision a store may keep) and compares them after converting to UTC.
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

// Precision is the time precision every store must keep: times written are
// read back equal once both are truncated to it.
const Precision = time.Microsecond

// base is the reference time of the suite, deliberately not in UTC so that
// a store that forgets to normalise time zones is caught.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.FixedZone("X", 5*3600+1800))

// Run runs the whole suite. open must return a new, empty store; the suite
// closes it when the test ends.
func Run(t *testing.T, open func(t *testing.T) mcpgate.Store) {
	t.Helper()
	opened := func(t *testing.T) mcpgate.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	t.Run("Keys", func(t *testing.T) { testKeys(t, opened) })
	t.Run("KeyTimes", func(t *testing.T) { testKeyTimes(t, opened) })
	t.Run("RevokeKey", func(t *testing.T) { testRevokeKey(t, opened) })
	t.Run("RotateKey", func(t *testing.T) { testRotateKey(t, opened) })
	t.Run("TouchKey", func(t *testing.T) { testTouchKey(t, opened) })
	t.Run("Notes", func(t *testing.T) { testNotes(t, opened) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, opened) })
	t.Run("Changes", func(t *testing.T) { testChanges(t, opened) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, opened) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, opened) })
}

// RunShared checks two handles on the same storage, as a running server and
// the CLI (or two replicas) hold them: a revocation through one is seen
// through the other's change feed, and concurrent writers through both do
// not fail with lock errors. open returns two handles on one new, empty
// store; the suite closes both.
func RunShared(t *testing.T, open func(t *testing.T) (a, b mcpgate.Store)) {
	t.Helper()
	opened := func(t *testing.T) (mcpgate.Store, mcpgate.Store) {
		t.Helper()
		a, b := open(t)
		t.Cleanup(func() {
			if err := a.Close(); err != nil {
				t.Errorf("Close a: %v", err)
			}
			if err := b.Close(); err != nil {
				t.Errorf("Close b: %v", err)
			}
		})
		return a, b
	}
	t.Run("RevocationSeen", func(t *testing.T) {
		server, cli := opened(t)
		ctx := t.Context()
		mustCreateKey(t, server, newKey("k1", base))
		if _, err := server.Key(ctx, "k1"); err != nil { // the server caches it
			t.Fatalf("Key: %v", err)
		}
		cursor, err := server.LastChange(ctx)
		if err != nil {
			t.Fatalf("LastChange: %v", err)
		}
		if err := cli.RevokeKey(ctx, "k1", base.Add(time.Hour)); err != nil {
			t.Fatalf("RevokeKey via second handle: %v", err)
		}
		changes, err := server.ChangesSince(ctx, cursor)
		if err != nil {
			t.Fatalf("ChangesSince: %v", err)
		}
		if len(changes) != 1 || changes[0].Kind != mcpgate.ChangeKey || changes[0].ID != "k1" {
			t.Fatalf("ChangesSince(%d) = %+v, want one key change for k1", cursor, changes)
		}
		k, err := server.Key(ctx, "k1")
		if err != nil {
			t.Fatalf("Key: %v", err)
		}
		if got, want := k.RevokedAt, base.Add(time.Hour); !sameTime(got, want) {
			t.Errorf("RevokedAt seen by first handle = %v, want %v", got, want)
		}
	})
	t.Run("ConcurrentWriters", func(t *testing.T) {
		a, b := opened(t)
		ctx := t.Context()
		mustCreateKey(t, a, newKey("k1", base))
		const workers, rounds = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds*2)
		for w := range workers {
			s := a
			if w%2 == 1 {
				s = b
			}
			wg.Go(func() {
				for r := range rounds {
					at := base.Add(time.Duration(w*rounds+r) * time.Millisecond)
					if err := s.AppendAudit(ctx, newAudit(fmt.Sprintf("w%d-r%d", w, r), at)); err != nil {
						errs <- fmt.Errorf("AppendAudit: %w", err)
					}
					if err := s.TouchKey(ctx, "k1", at); err != nil {
						errs <- fmt.Errorf("TouchKey: %w", err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		got, err := b.ListAudit(ctx, time.Time{}, 0)
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if len(got) != workers*rounds {
			t.Errorf("ListAudit returned %d events, want %d", len(got), workers*rounds)
		}
		k, err := a.Key(ctx, "k1")
		if err != nil {
			t.Fatalf("Key: %v", err)
		}
		if got, want := k.LastUsedAt, base.Add((workers*rounds-1)*time.Millisecond); !sameTime(got, want) {
			t.Errorf("LastUsedAt = %v, want the latest touch %v", got, want)
		}
	})
}

func sameTime(a, b time.Time) bool {
	return a.Truncate(Precision).Equal(b.Truncate(Precision))
}

func newKey(id string, created time.Time) *mcpgate.APIKey {
	h := sha256.Sum256([]byte("secret of " + id))
	return &mcpgate.APIKey{
		ID:        id,
		Name:      "name of " + id,
		Subject:   "alice",
		Tenant:    "acme",
		Scopes:    []string{"notes:read", "notes:write"},
		Hash:      h[:],
		CreatedAt: created,
	}
}

func newAudit(requestID string, at time.Time) *mcpgate.AuditEvent {
	return &mcpgate.AuditEvent{
		Time:      at,
		RequestID: requestID,
		Subject:   "alice",
		Tenant:    "acme",
		KeyID:     "k1",
		ClientID:  "client-1",
		Method:    "tools/call",
		Target:    "notes_create",
		Decision:  mcpgate.DecisionAllow,
		Status:    200,
		Latency:   1234567 * time.Nanosecond,
		Remote:    "127.0.0.1:5555",
	}
}

func mustCreateKey(t *testing.T, s mcpgate.Store, k *mcpgate.APIKey) {
	t.Helper()
	if err := s.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
}

func mustKey(t *testing.T, s mcpgate.Store, id string) *mcpgate.APIKey {
	t.Helper()
	k, err := s.Key(t.Context(), id)
	if err != nil {
		t.Fatalf("Key(%s): %v", id, err)
	}
	return k
}

func mustLast(t *testing.T, s mcpgate.Store) int64 {
	t.Helper()
	seq, err := s.LastChange(t.Context())
	if err != nil {
		t.Fatalf("LastChange: %v", err)
	}
	return seq
}

// diffKey describes how got differs from want, or returns "".
func diffKey(got, want *mcpgate.APIKey) string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !sameTime(g, w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
		if !g.IsZero() && g.Location() != time.UTC {
			d = append(d, fmt.Sprintf("%s location = %v, want UTC", name, g.Location()))
		}
	}
	str("ID", got.ID, want.ID)
	str("Name", got.Name, want.Name)
	str("Subject", got.Subject, want.Subject)
	str("Tenant", got.Tenant, want.Tenant)
	str("RotatedTo", got.RotatedTo, want.RotatedTo)
	if !slices.Equal(got.Scopes, want.Scopes) {
		d = append(d, fmt.Sprintf("Scopes = %q, want %q", got.Scopes, want.Scopes))
	}
	if !bytes.Equal(got.Hash, want.Hash) {
		d = append(d, fmt.Sprintf("Hash = %x, want %x", got.Hash, want.Hash))
	}
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	tm("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	tm("RevokedAt", got.RevokedAt, want.RevokedAt)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func testKeys(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	ctx := t.Context()

	keys := []*mcpgate.APIKey{
		newKey("k-old", base),
		newKey("k-new", base.Add(2*time.Hour)),
		newKey("k-mid", base.Add(time.Hour)),
	}
	keys[1].Scopes = nil
	keys[2].Scopes = []string{"a", "b c", `"quoted"`, "ünï", "a"} // order and duplicates kept
	keys[2].Tenant = ""
	for _, k := range keys {
		mustCreateKey(t, s, k)
	}

	tests := []struct {
		name    string
		id      string
		want    *mcpgate.APIKey
		wantErr error
	}{
		{"oldest", "k-old", keys[0], nil},
		{"no scopes", "k-new", keys[1], nil},
		{"odd scopes, no tenant", "k-mid", keys[2], nil},
		{"unknown", "k-none", nil, mcpgate.ErrNotFound},
		{"empty id", "", nil, mcpgate.ErrNotFound},
		{"case differs", "K-OLD", nil, mcpgate.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Key(ctx, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Key(%q) error = %v, want %v", tt.id, err, tt.wantErr)
			}
			if tt.want == nil {
				if got != nil {
					t.Errorf("Key(%q) = %+v, want nil", tt.id, got)
				}
				return
			}
			if d := diffKey(got, tt.want); d != "" {
				t.Errorf("Key(%q): %s", tt.id, d)
			}
		})
	}

	t.Run("duplicate", func(t *testing.T) {
		dup := newKey("k-old", base.Add(5*time.Hour))
		dup.Name = "other"
		err := s.CreateKey(ctx, dup)
		if !errors.Is(err, mcpgate.ErrConflict) {
			t.Fatalf("CreateKey(duplicate) error = %v, want ErrConflict", err)
		}
		if d := diffKey(mustKey(t, s, "k-old"), keys[0]); d != "" {
			t.Errorf("duplicate create changed the stored key: %s", d)
		}
	})

	t.Run("list newest first", func(t *testing.T) {
		got, err := s.ListKeys(ctx)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		var ids []string
		for _, k := range got {
			ids = append(ids, k.ID)
		}
		if want := []string{"k-new", "k-mid", "k-old"}; !slices.Equal(ids, want) {
			t.Fatalf("ListKeys ids = %q, want %q", ids, want)
		}
		if d := diffKey(got[1], keys[2]); d != "" {
			t.Errorf("ListKeys[1]: %s", d)
		}
	})

	t.Run("list empty", func(t *testing.T) {
		got, err := open(t).ListKeys(ctx)
		if err != nil || len(got) != 0 {
			t.Errorf("ListKeys on an empty store = %v, %v; want none, nil", got, err)
		}
	})

	t.Run("result is a copy", func(t *testing.T) {
		k := mustKey(t, s, "k-old")
		k.Scopes[0] = "admin"
		k.Hash[0] ^= 0xff
		if d := diffKey(mustKey(t, s, "k-old"), keys[0]); d != "" {
			t.Errorf("modifying a returned key changed the store: %s", d)
		}
	})
}

func testKeyTimes(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	tests := []struct {
		name string
		edit func(k *mcpgate.APIKey)
	}{
		{"only created", func(k *mcpgate.APIKey) {}},
		{"all set", func(k *mcpgate.APIKey) {
			k.ExpiresAt = base.Add(90 * 24 * time.Hour)
			k.LastUsedAt = base.Add(time.Minute)
			k.RevokedAt = base.Add(time.Hour)
			k.RotatedTo = "k-next"
		}},
		{"nanoseconds", func(k *mcpgate.APIKey) {
			k.CreatedAt = time.Date(2030, 1, 1, 0, 0, 0, 999999999, time.UTC)
			k.ExpiresAt = time.Date(2030, 1, 2, 0, 0, 0, 1, time.UTC)
		}},
		{"before 1970", func(k *mcpgate.APIKey) {
			k.CreatedAt = time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC)
		}},
		{"far future", func(k *mcpgate.APIKey) {
			k.ExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
		}},
		{"local zone", func(k *mcpgate.APIKey) {
			k.CreatedAt = base.In(time.FixedZone("Y", -8*3600))
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(fmt.Sprintf("k%d", i), base)
			tt.edit(k)
			mustCreateKey(t, s, k)
			if d := diffKey(mustKey(t, s, k.ID), k); d != "" {
				t.Errorf("round trip: %s", d)
			}
		})
	}
}

func testRevokeKey(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	ctx := t.Context()
	mustCreateKey(t, s, newKey("k1", base))
	mustCreateKey(t, s, newKey("k2", base))

	before := mustLast(t, s)
	first := base.Add(time.Hour)
	if err := s.RevokeKey(ctx, "k1", first); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	changes, err := s.ChangesSince(ctx, before)
	if err != nil {
		t.Fatalf("ChangesSince: %v", err)
	}
	if len(changes) != 1 || changes[0].Kind != mcpgate.ChangeKey || changes[0].ID != "k1" || changes[0].Seq <= before {
		t.Fatalf("changes after RevokeKey = %+v, want one key change for k1 after seq %d", changes, before)
	}
	if got := mustKey(t, s, "k1"); !sameTime(got.RevokedAt, first) || got.Valid(first) || !got.Valid(first.Add(-time.Second)) {
		t.Errorf("after RevokeKey: RevokedAt = %v, want %v and invalid from then on", got.RevokedAt, first)
	}
	if got := mustKey(t, s, "k2"); !got.RevokedAt.IsZero() {
		t.Errorf("RevokeKey(k1) revoked k2 too: %v", got.RevokedAt)
	}

	tests := []struct {
		name    string
		id      string
		at      time.Time
		wantErr error
		wantAt  time.Time
	}{
		{"again later keeps first time", "k1", first.Add(time.Hour), nil, first},
		{"again earlier keeps first time", "k1", first.Add(-time.Hour), nil, first},
		{"unknown", "nope", first, mcpgate.ErrNotFound, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mustLast(t, s)
			err := s.RevokeKey(ctx, tt.id, tt.at)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RevokeKey(%q) error = %v, want %v", tt.id, err, tt.wantErr)
			}
			after := mustLast(t, s)
			if tt.wantErr != nil {
				if after != before {
					t.Errorf("a failed RevokeKey published a change: LastChange %d -> %d", before, after)
				}
				return
			}
			if got := mustKey(t, s, tt.id); !sameTime(got.RevokedAt, tt.wantAt) {
				t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, tt.wantAt)
			}
		})
	}
}

func testRotateKey(t *testing.T, open func(*testing.T) mcpgate.Store) {
	ctx := t.Context()
	grace := base.Add(24 * time.Hour)
	tests := []struct {
		name       string
		oldExpires time.Time
		oldRevoked bool
		oldMissing bool
		nextID     string
		wantErr    error
		wantExpiry time.Time
	}{
		{name: "no expiry takes grace end", nextID: "next", wantExpiry: grace},
		{name: "later expiry moved to grace end", oldExpires: grace.Add(time.Hour), nextID: "next", wantExpiry: grace},
		{name: "earlier expiry kept", oldExpires: grace.Add(-time.Hour), nextID: "next", wantExpiry: grace.Add(-time.Hour)},
		{name: "unknown old", oldMissing: true, nextID: "next", wantErr: mcpgate.ErrNotFound},
		{name: "revoked old", oldRevoked: true, nextID: "next", wantErr: mcpgate.ErrNotFound},
		{name: "next id taken", nextID: "other", wantErr: mcpgate.ErrConflict},
		{name: "next id is old id", nextID: "old", wantErr: mcpgate.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			other := newKey("other", base)
			other.Name = "unrelated"
			mustCreateKey(t, s, other)
			old := newKey("old", base)
			old.ExpiresAt = tt.oldExpires
			if !tt.oldMissing {
				mustCreateKey(t, s, old)
			}
			if tt.oldRevoked {
				if err := s.RevokeKey(ctx, "old", base.Add(time.Minute)); err != nil {
					t.Fatalf("RevokeKey: %v", err)
				}
				old.RevokedAt = base.Add(time.Minute)
			}
			before := mustLast(t, s)

			next := newKey(tt.nextID, base.Add(time.Hour))
			next.Name = "successor"
			next.Scopes = []string{"notes:read"}
			err := s.RotateKey(ctx, "old", next, grace)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RotateKey error = %v, want %v", err, tt.wantErr)
			}

			changes, cerr := s.ChangesSince(ctx, before)
			if cerr != nil {
				t.Fatalf("ChangesSince: %v", cerr)
			}
			if tt.wantErr != nil {
				if len(changes) != 0 {
					t.Errorf("failed RotateKey published %+v", changes)
				}
				if tt.nextID == "next" {
					if _, err := s.Key(ctx, "next"); !errors.Is(err, mcpgate.ErrNotFound) {
						t.Errorf("failed RotateKey stored next: Key(next) error = %v, want ErrNotFound", err)
					}
				}
				if d := diffKey(mustKey(t, s, "other"), other); d != "" {
					t.Errorf("failed RotateKey changed the key holding next's id: %s", d)
				}
				if !tt.oldMissing {
					if d := diffKey(mustKey(t, s, "old"), old); d != "" {
						t.Errorf("failed RotateKey changed old: %s", d)
					}
				}
				return
			}

			if len(changes) != 1 || changes[0].Kind != mcpgate.ChangeKey || changes[0].ID != "old" {
				t.Errorf("changes after RotateKey = %+v, want one key change for old", changes)
			}
			wantOld := *old
			wantOld.RotatedTo = "next"
			wantOld.ExpiresAt = tt.wantExpiry
			if d := diffKey(mustKey(t, s, "old"), &wantOld); d != "" {
				t.Errorf("old after RotateKey: %s", d)
			}
			if d := diffKey(mustKey(t, s, "next"), next); d != "" {
				t.Errorf("next after RotateKey: %s", d)
			}
		})
	}
}

func testTouchKey(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	ctx := t.Context()
	mustCreateKey(t, s, newKey("k1", base))
	tests := []struct {
		name    string
		id      string
		at      time.Time
		wantErr error
		want    time.Time
	}{
		{"first use", "k1", base.Add(time.Minute), nil, base.Add(time.Minute)},
		{"later use", "k1", base.Add(time.Hour), nil, base.Add(time.Hour)},
		{"out of order never goes back", "k1", base.Add(30 * time.Minute), nil, base.Add(time.Hour)},
		{"unknown", "nope", base, mcpgate.ErrNotFound, base.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mustLast(t, s)
			err := s.TouchKey(ctx, tt.id, tt.at)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("TouchKey(%q) error = %v, want %v", tt.id, err, tt.wantErr)
			}
			if got := mustKey(t, s, "k1").LastUsedAt; !sameTime(got, tt.want) {
				t.Errorf("LastUsedAt = %v, want %v", got, tt.want)
			}
			if after := mustLast(t, s); after != before {
				t.Errorf("TouchKey published a change (LastChange %d -> %d); it must stay cheap", before, after)
			}
		})
	}
}

func testNotes(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	ctx := t.Context()
	notes := []*mcpgate.Note{
		{ID: "n2", Owner: "acme/alice", Title: "second", Body: "b", CreatedAt: base.Add(time.Minute)},
		{ID: "n1", Owner: "acme/alice", Title: "first", Body: "multi\nline ✓", CreatedAt: base},
		{ID: "n3", Owner: "acme/alice", Title: "same time", Body: "", CreatedAt: base.Add(time.Minute)},
		{ID: "n1", Owner: "bob", Title: "bob's, same id", Body: "private", CreatedAt: base},
	}
	for _, n := range notes {
		if err := s.CreateNote(ctx, n); err != nil {
			t.Fatalf("CreateNote(%s/%s): %v", n.Owner, n.ID, err)
		}
	}
	sameNote := func(got, want *mcpgate.Note) bool {
		return got.ID == want.ID && got.Owner == want.Owner && got.Title == want.Title &&
			got.Body == want.Body && sameTime(got.CreatedAt, want.CreatedAt) && got.CreatedAt.Location() == time.UTC
	}

	tests := []struct {
		name    string
		owner   string
		id      string
		want    *mcpgate.Note
		wantErr error
	}{
		{"own note", "acme/alice", "n1", notes[1], nil},
		{"same id, other owner", "bob", "n1", notes[3], nil},
		{"other owner's note", "bob", "n2", nil, mcpgate.ErrNotFound},
		{"owner differs in case", "ACME/alice", "n1", nil, mcpgate.ErrNotFound},
		{"unknown", "acme/alice", "n9", nil, mcpgate.ErrNotFound},
		{"empty owner", "", "n1", nil, mcpgate.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Note(ctx, tt.owner, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Note(%q, %q) error = %v, want %v", tt.owner, tt.id, err, tt.wantErr)
			}
			if tt.want != nil && !sameNote(got, tt.want) {
				t.Errorf("Note(%q, %q) = %+v, want %+v", tt.owner, tt.id, got, tt.want)
			}
		})
	}

	t.Run("duplicate", func(t *testing.T) {
		dup := *notes[1]
		dup.Title = "overwritten?"
		if err := s.CreateNote(ctx, &dup); !errors.Is(err, mcpgate.ErrConflict) {
			t.Fatalf("CreateNote(duplicate) error = %v, want ErrConflict", err)
		}
		if got, _ := s.Note(ctx, "acme/alice", "n1"); got == nil || got.Title != "first" {
			t.Errorf("duplicate CreateNote changed the note: %+v", got)
		}
	})

	t.Run("id and time assigned", func(t *testing.T) {
		n := &mcpgate.Note{Owner: "carol", Title: "t"}
		if err := s.CreateNote(ctx, n); err != nil {
			t.Fatalf("CreateNote: %v", err)
		}
		if n.ID == "" || n.CreatedAt.IsZero() {
			t.Fatalf("CreateNote left ID %q, CreatedAt %v unset", n.ID, n.CreatedAt)
		}
		got, err := s.Note(ctx, "carol", n.ID)
		if err != nil || !sameNote(got, n) {
			t.Errorf("Note = %+v, %v; want %+v", got, err, n)
		}
		m := &mcpgate.Note{Owner: "carol", Title: "u"}
		if err := s.CreateNote(ctx, m); err != nil {
			t.Fatalf("CreateNote: %v", err)
		}
		if m.ID == n.ID {
			t.Errorf("two notes got the same assigned id %q", m.ID)
		}
	})

	t.Run("list own only, oldest first", func(t *testing.T) {
		tests := []struct {
			owner string
			want  []*mcpgate.Note
		}{
			{"acme/alice", []*mcpgate.Note{notes[1], notes[0], notes[2]}},
			{"bob", []*mcpgate.Note{notes[3]}},
			{"nobody", nil},
		}
		for _, tt := range tests {
			for range 3 { // the order must be stable across calls
				got, err := s.ListNotes(ctx, tt.owner)
				if err != nil {
					t.Fatalf("ListNotes(%q): %v", tt.owner, err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("ListNotes(%q) returned %d notes, want %d", tt.owner, len(got), len(tt.want))
				}
				for i := range got {
					if !sameNote(got[i], tt.want[i]) {
						t.Errorf("ListNotes(%q)[%d] = %+v, want %+v", tt.owner, i, got[i], tt.want[i])
					}
				}
			}
		}
	})
}

func testAudit(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	ctx := t.Context()
	var events []*mcpgate.AuditEvent
	for i := range 5 {
		// Appended out of time order: the list is by time, then by id.
		e := newAudit(fmt.Sprintf("r%d", i), base.Add(time.Duration(4-i)*time.Second))
		e.Status = 200 + i
		events = append(events, e)
	}
	events[2].Time = events[1].Time // a tie, broken by insertion order
	events[3].Decision, events[3].Reason = mcpgate.DecisionDeny, mcpgate.ReasonInsufficientScope
	events[3].Latency = 0
	events[3].ClientID, events[3].KeyID, events[3].Remote = "", "", ""

	if err := s.AppendAudit(ctx, events[0]); err != nil {
		t.Fatalf("AppendAudit(one): %v", err)
	}
	if err := s.AppendAudit(ctx, events[1:]...); err != nil {
		t.Fatalf("AppendAudit(batch): %v", err)
	}
	if err := s.AppendAudit(ctx); err != nil {
		t.Fatalf("AppendAudit(none): %v", err)
	}
	seen := map[int64]bool{}
	for _, e := range events {
		if e.ID == 0 || seen[e.ID] {
			t.Fatalf("AppendAudit assigned ID %d to %s (zero or repeated)", e.ID, e.RequestID)
		}
		seen[e.ID] = true
	}

	same := func(got, want *mcpgate.AuditEvent) bool {
		g, w := *got, *want
		if !sameTime(g.Time, w.Time) || g.Time.Location() != time.UTC {
			return false
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		return g == w
	}
	byTime := []*mcpgate.AuditEvent{events[4], events[3], events[1], events[2], events[0]}
	tests := []struct {
		name  string
		since time.Time
		limit int
		want  []*mcpgate.AuditEvent
	}{
		{"all", time.Time{}, 0, byTime},
		{"limit", time.Time{}, 2, byTime[:2]},
		{"since is inclusive", events[1].Time, 0, byTime[2:]},
		{"since between", events[3].Time.Add(time.Millisecond), 0, byTime[2:]},
		{"since and limit", events[3].Time, 2, byTime[1:3]},
		{"since in other zone", events[0].Time.In(time.FixedZone("Z", -3600)), 0, byTime[4:]},
		{"after all", events[0].Time.Add(time.Microsecond), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.since, tt.limit)
			if err != nil {
				t.Fatalf("ListAudit: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ListAudit returned %d events, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !same(got[i], tt.want[i]) {
					t.Errorf("ListAudit[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}

	t.Run("nil event", func(t *testing.T) {
		err := s.AppendAudit(ctx, newAudit("ok", base), nil)
		if err == nil {
			t.Fatal("AppendAudit with a nil event succeeded")
		}
		got, _ := s.ListAudit(ctx, time.Time{}, 0)
		if len(got) != len(events) {
			t.Errorf("a failed batch stored %d events, want none stored", len(got)-len(events))
		}
	})
	t.Run("negative limit", func(t *testing.T) {
		if _, err := s.ListAudit(ctx, time.Time{}, -1); err == nil {
			t.Error("ListAudit with limit -1 succeeded")
		}
	})
}

func testChanges(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	ctx := t.Context()
	if got := mustLast(t, s); got != 0 {
		t.Fatalf("LastChange on an empty store = %d, want 0", got)
	}
	if got, err := s.ChangesSince(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("ChangesSince(0) on an empty store = %+v, %v; want none", got, err)
	}
	start := time.Now().Add(-time.Second)
	inputs := []struct{ kind, id string }{
		{mcpgate.ChangeKey, "k1"},
		{mcpgate.ChangeGrant, "g1"},
		{mcpgate.ChangeToken, "jti-1"},
		{mcpgate.ChangeKey, "k1"},
		{mcpgate.ChangeSubject, "acme/alice"},
	}
	var published []mcpgate.Change
	for _, in := range inputs {
		c, err := s.PublishChange(ctx, in.kind, in.id)
		if err != nil {
			t.Fatalf("PublishChange: %v", err)
		}
		if c.Kind != in.kind || c.ID != in.id {
			t.Errorf("PublishChange(%q, %q) = %+v", in.kind, in.id, c)
		}
		if c.At.Before(start) || c.At.After(time.Now().Add(time.Second)) || c.At.Location() != time.UTC {
			t.Errorf("PublishChange At = %v, want about now, in UTC", c.At)
		}
		if n := len(published); n > 0 && c.Seq <= published[n-1].Seq {
			t.Errorf("PublishChange Seq %d after %d, want increasing", c.Seq, published[n-1].Seq)
		}
		published = append(published, c)
	}
	if got, want := mustLast(t, s), published[len(published)-1].Seq; got != want {
		t.Errorf("LastChange = %d, want %d", got, want)
	}

	tests := []struct {
		name  string
		after int64
		want  []mcpgate.Change
	}{
		{"from start", 0, published},
		{"negative", -1, published},
		{"after second", published[1].Seq, published[2:]},
		{"after last", published[4].Seq, nil},
		{"far ahead", published[4].Seq + 1000, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ChangesSince(ctx, tt.after)
			if err != nil {
				t.Fatalf("ChangesSince(%d): %v", tt.after, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ChangesSince(%d) = %+v, want %+v", tt.after, got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Seq != w.Seq || g.Kind != w.Kind || g.ID != w.ID || !sameTime(g.At, w.At) {
					t.Errorf("ChangesSince(%d)[%d] = %+v, want %+v", tt.after, i, g, w)
				}
			}
		})
	}

	t.Run("empty kind", func(t *testing.T) {
		if _, err := s.PublishChange(ctx, "", "x"); err == nil {
			t.Error("PublishChange with an empty kind succeeded")
		}
	})
}

// testConcurrent runs bounded concurrent writers and readers on one handle:
// none may fail (SQLite must wait for its write lock, not report it).
func testConcurrent(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	ctx := t.Context()
	const workers, rounds = 8, 20
	for w := range workers {
		mustCreateKey(t, s, newKey(fmt.Sprintf("k%d", w), base))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for w := range workers {
		id := fmt.Sprintf("k%d", w%3) // shared keys, to contend on rows too
		wg.Go(func() {
			for r := range rounds {
				at := base.Add(time.Duration(r) * time.Second)
				if err := s.AppendAudit(ctx, newAudit("a", at), newAudit("b", at)); err != nil {
					errs <- fmt.Errorf("AppendAudit: %w", err)
				}
				if err := s.TouchKey(ctx, id, at); err != nil {
					errs <- fmt.Errorf("TouchKey: %w", err)
				}
				if _, err := s.Key(ctx, id); err != nil {
					errs <- fmt.Errorf("key lookup: %w", err)
				}
				if r%5 == 0 {
					if _, err := s.PublishChange(ctx, mcpgate.ChangeKey, id); err != nil {
						errs <- fmt.Errorf("PublishChange: %w", err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	events, err := s.ListAudit(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if got, want := len(events), workers*rounds*2; got != want {
		t.Errorf("ListAudit returned %d events, want %d", got, want)
	}
	changes, err := s.ChangesSince(ctx, 0)
	if err != nil {
		t.Fatalf("ChangesSince: %v", err)
	}
	if got, want := len(changes), workers*rounds/5; got != want {
		t.Errorf("ChangesSince(0) returned %d changes, want %d", got, want)
	}
	for i := 1; i < len(changes); i++ {
		if changes[i].Seq <= changes[i-1].Seq {
			t.Errorf("change feed out of order at %d: %d then %d", i, changes[i-1].Seq, changes[i].Seq)
		}
	}
	if got := mustKey(t, s, "k0").LastUsedAt; !sameTime(got, base.Add((rounds-1)*time.Second)) {
		t.Errorf("LastUsedAt = %v, want the latest touch", got)
	}
}

func testInvalid(t *testing.T, open func(*testing.T) mcpgate.Store) {
	s := open(t)
	ctx := t.Context()
	noID := newKey("", base)
	shortHash := newKey("short", base)
	shortHash.Hash = shortHash.Hash[:16]
	noHash := newKey("nohash", base)
	noHash.Hash = nil
	badScope := newKey("badscope", base)
	badScope.Scopes = []string{"notes:read", "admin\xff"}
	nulScope := newKey("nulscope", base)
	nulScope.Scopes = []string{"admin\x00"}
	tests := []struct {
		name string
		k    *mcpgate.APIKey
	}{
		{"nil", nil},
		{"no id", noID},
		{"short hash", shortHash},
		{"no hash", noHash},
		{"scope not UTF-8", badScope},
		{"scope with NUL", nulScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateKey(ctx, tt.k); err == nil {
				t.Error("CreateKey succeeded")
			}
			if err := s.RotateKey(ctx, "any", tt.k, base); err == nil {
				t.Error("RotateKey succeeded")
			}
		})
	}
	if keys, _ := s.ListKeys(ctx); len(keys) != 0 {
		t.Errorf("invalid keys were stored: %d", len(keys))
	}
	if err := s.CreateNote(ctx, nil); err == nil {
		t.Error("CreateNote(nil) succeeded")
	}
	if err := s.CreateNote(ctx, &mcpgate.Note{ID: "x"}); err == nil {
		t.Error("CreateNote without owner succeeded")
	}
}
