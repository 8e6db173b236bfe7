package authn

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate"
)

// memStore is a map-based KeyStore and ChangeFeed for tests. It counts
// reads and touches, can fail on demand, and can hold a read until
// released.
type memStore struct {
	mu      sync.Mutex
	keys    map[string]*mcpgate.APIKey
	changes []mcpgate.Change

	reads     atomic.Int64
	failKey   atomic.Bool   // Key fails with errStoreDown
	failFeed  atomic.Int64  // that many feed calls fail
	holdReads chan struct{} // if set, Key waits for a receive… close to release
	entered   chan string   // if set, Key reports each id it starts reading
}

type storeDown struct{}

func (storeDown) Error() string { return "store is down" }

var errStoreDown error = storeDown{}

var (
	_ mcpgate.KeyStore   = (*memStore)(nil)
	_ mcpgate.ChangeFeed = (*memStore)(nil)
)

func newMemStore() *memStore {
	return &memStore{keys: map[string]*mcpgate.APIKey{}}
}

func (s *memStore) CreateKey(_ context.Context, k *mcpgate.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return mcpgate.ErrConflict
	}
	c := *k
	s.keys[k.ID] = &c
	return nil
}

func (s *memStore) Key(ctx context.Context, id string) (*mcpgate.APIKey, error) {
	s.reads.Add(1)
	if s.entered != nil {
		s.entered <- id
	}
	if s.holdReads != nil {
		select {
		case <-s.holdReads:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.failKey.Load() {
		return nil, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, mcpgate.ErrNotFound
	}
	c := *k
	c.Scopes = slices.Clone(k.Scopes)
	return &c, nil
}

func (s *memStore) ListKeys(context.Context) ([]*mcpgate.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*mcpgate.APIKey
	for _, k := range s.keys {
		c := *k
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *mcpgate.APIKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *memStore) RevokeKey(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return mcpgate.ErrNotFound
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
	}
	s.appendChange(mcpgate.ChangeKey, id)
	return nil
}

func (s *memStore) RotateKey(_ context.Context, oldID string, next *mcpgate.APIKey, graceEnd time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.keys[oldID]
	if !ok || !old.RevokedAt.IsZero() {
		return mcpgate.ErrNotFound
	}
	if _, ok := s.keys[next.ID]; ok {
		return mcpgate.ErrConflict
	}
	c := *next
	s.keys[next.ID] = &c
	old.RotatedTo = next.ID
	if old.ExpiresAt.IsZero() || graceEnd.Before(old.ExpiresAt) {
		old.ExpiresAt = graceEnd
	}
	s.appendChange(mcpgate.ChangeKey, oldID)
	return nil
}

func (s *memStore) TouchKey(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[id]; ok {
		k.LastUsedAt = at
		return nil
	}
	return mcpgate.ErrNotFound
}

func (s *memStore) appendChange(kind, id string) mcpgate.Change {
	c := mcpgate.Change{Seq: int64(len(s.changes) + 1), Kind: kind, ID: id, At: time.Now()}
	s.changes = append(s.changes, c)
	return c
}

func (s *memStore) PublishChange(_ context.Context, kind, id string) (mcpgate.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendChange(kind, id), nil
}

func (s *memStore) feedFails() bool {
	for {
		n := s.failFeed.Load()
		if n <= 0 {
			return false
		}
		if s.failFeed.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (s *memStore) ChangesSince(_ context.Context, after int64) ([]mcpgate.Change, error) {
	if s.feedFails() {
		return nil, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []mcpgate.Change
	for _, c := range s.changes {
		if c.Seq > after {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *memStore) LastChange(context.Context) (int64, error) {
	if s.feedFails() {
		return 0, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.changes)), nil
}
