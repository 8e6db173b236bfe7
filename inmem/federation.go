package inmem

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// FederationStore keeps federated sign-ins in progress and federated
// users' provider tokens in this process's memory: for a single replica
// without a database, and for tests. A restart forgets them (users sign
// in again).
type FederationStore struct {
	mu     sync.Mutex
	states map[string]mcpgate.LoginState
	tokens map[string]mcpgate.IdPTokens
}

var (
	_ mcpgate.LoginStateStore = (*FederationStore)(nil)
	_ mcpgate.IdPTokenStore   = (*FederationStore)(nil)
)

// NewFederationStore returns an empty store.
func NewFederationStore() *FederationStore {
	return &FederationStore{states: map[string]mcpgate.LoginState{}, tokens: map[string]mcpgate.IdPTokens{}}
}

// CreateLoginState stores s and forgets states that have expired.
func (st *FederationStore) CreateLoginState(_ context.Context, s *mcpgate.LoginState) error {
	if len(s.StateHash) != 32 {
		return fmt.Errorf("inmem: create login state: the state hash must be 32 bytes")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now().UTC()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, v := range st.states {
		if v.ExpiresAt.Before(s.CreatedAt) {
			delete(st.states, k)
		}
	}
	k := string(s.StateHash)
	if _, ok := st.states[k]; ok {
		return fmt.Errorf("inmem: create login state: %w", mcpgate.ErrConflict)
	}
	c := *s
	c.StateHash = bytes.Clone(s.StateHash)
	c.CreatedAt, c.ExpiresAt = utc(s.CreatedAt), utc(s.ExpiresAt)
	st.states[k] = c
	return nil
}

// TakeLoginState deletes the state with hash and returns it, unless it
// expired at at.
func (st *FederationStore) TakeLoginState(_ context.Context, hash []byte, at time.Time) (*mcpgate.LoginState, error) {
	st.mu.Lock()
	s, ok := st.states[string(hash)]
	delete(st.states, string(hash))
	st.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("inmem: take login state: %w", mcpgate.ErrNotFound)
	}
	if !at.Before(s.ExpiresAt) {
		return nil, fmt.Errorf("inmem: take login state: expired: %w", mcpgate.ErrNotFound)
	}
	return &s, nil
}

func cloneTokens(t *mcpgate.IdPTokens) mcpgate.IdPTokens {
	c := *t
	c.AccessToken = bytes.Clone(t.AccessToken)
	c.RefreshToken = bytes.Clone(t.RefreshToken)
	if len(c.RefreshToken) == 0 {
		c.RefreshToken = nil
	}
	c.Expiry, c.UpdatedAt = utc(t.Expiry), utc(t.UpdatedAt)
	return c
}

// utc keeps times as a database would: in UTC, the zero time as is.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// SaveIdPTokens stores t, replacing the tokens of t.Subject.
func (st *FederationStore) SaveIdPTokens(_ context.Context, t *mcpgate.IdPTokens) error {
	if t.Subject == "" || len(t.AccessToken) == 0 {
		return fmt.Errorf("inmem: save idp tokens: a subject and an access token are required")
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = time.Now().UTC()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.tokens[t.Subject] = cloneTokens(t)
	return nil
}

// IdPTokens returns the tokens of subject.
func (st *FederationStore) IdPTokens(_ context.Context, subject string) (*mcpgate.IdPTokens, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.tokens[subject]
	if !ok {
		return nil, fmt.Errorf("inmem: idp tokens: %w", mcpgate.ErrNotFound)
	}
	c := cloneTokens(&t)
	return &c, nil
}

// UpdateIdPTokens replaces the tokens of t.Subject if its access token is
// still from.
func (st *FederationStore) UpdateIdPTokens(_ context.Context, t *mcpgate.IdPTokens, from []byte) error {
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = time.Now().UTC()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	cur, ok := st.tokens[t.Subject]
	switch {
	case !ok:
		return fmt.Errorf("inmem: update idp tokens: %w", mcpgate.ErrNotFound)
	case !slices.Equal(cur.AccessToken, from):
		return fmt.Errorf("inmem: update idp tokens: %w", mcpgate.ErrConflict)
	}
	st.tokens[t.Subject] = cloneTokens(t)
	return nil
}

// DeleteIdPTokens removes the tokens of subject.
func (st *FederationStore) DeleteIdPTokens(_ context.Context, subject string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.tokens[subject]; !ok {
		return fmt.Errorf("inmem: delete idp tokens: %w", mcpgate.ErrNotFound)
	}
	delete(st.tokens, subject)
	return nil
}
