package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// FederationStore is what federated sign-in keeps: sign-ins in progress
// and the provider tokens of federated users.
type FederationStore interface {
	mcpgate.LoginStateStore
	mcpgate.IdPTokenStore
}

// RunFederation runs the conformance suite for mcpgate.LoginStateStore and
// mcpgate.IdPTokenStore. open must return a new, empty store and close it
// when the test ends.
//
// Beyond the interface comments, stores must keep the sealed tokens byte
// for byte, read an absent refresh token back as empty, and read times back
// in UTC at Precision.
func RunFederation(t *testing.T, open func(t *testing.T) FederationStore) {
	t.Helper()
	t.Run("LoginStates", func(t *testing.T) { testLoginStates(t, open(t)) })
	t.Run("LoginStateTakenOnce", func(t *testing.T) { testLoginStateTakenOnce(t, open(t)) })
	t.Run("IdPTokens", func(t *testing.T) { testIdPTokens(t, open(t)) })
	t.Run("IdPTokensConcurrentUpdate", func(t *testing.T) { testIdPTokensConcurrentUpdate(t, open(t)) })
}

func newLoginState(name string, created time.Time) *mcpgate.LoginState {
	return &mcpgate.LoginState{
		StateHash: digest(name),
		Issuer:    "https://idp.example.com",
		Nonce:     "nonce-" + name,
		Verifier:  "verifier-" + name,
		RequestID: "req-" + name,
		CreatedAt: created,
		ExpiresAt: created.Add(10 * time.Minute),
	}
}

func diffLoginState(got, want *mcpgate.LoginState) string {
	switch {
	case !bytes.Equal(got.StateHash, want.StateHash):
		return "StateHash differs"
	case got.Issuer != want.Issuer || got.Nonce != want.Nonce || got.Verifier != want.Verifier || got.RequestID != want.RequestID:
		return fmt.Sprintf("got %+v, want %+v", *got, *want)
	case !sameTime(got.CreatedAt, want.CreatedAt) || got.CreatedAt.Location() != time.UTC:
		return fmt.Sprintf("CreatedAt %v, want %v in UTC", got.CreatedAt, want.CreatedAt)
	case !sameTime(got.ExpiresAt, want.ExpiresAt) || got.ExpiresAt.Location() != time.UTC:
		return fmt.Sprintf("ExpiresAt %v, want %v in UTC", got.ExpiresAt, want.ExpiresAt)
	}
	return ""
}

func testLoginStates(t *testing.T, s FederationStore) {
	ctx := t.Context()
	a := newLoginState("a", base)
	if err := s.CreateLoginState(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLoginState(ctx, newLoginState("a", base)); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("second state with one hash: %v, want ErrConflict", err)
	}
	if err := s.CreateLoginState(ctx, &mcpgate.LoginState{StateHash: []byte("short"), ExpiresAt: base.Add(time.Minute)}); err == nil {
		t.Error("a state hash that is not 32 bytes was stored")
	}
	got, err := s.TakeLoginState(ctx, digest("a"), base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffLoginState(got, a); d != "" {
		t.Error(d)
	}
	if _, err := s.TakeLoginState(ctx, digest("a"), base.Add(time.Minute)); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("state taken twice: %v, want ErrNotFound", err)
	}
	if _, err := s.TakeLoginState(ctx, digest("never"), base); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("unknown state: %v, want ErrNotFound", err)
	}

	// An expired state is refused, and gone: taking it after is not found
	// even at a time it would still have been valid.
	b := newLoginState("b", base)
	if err := s.CreateLoginState(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeLoginState(ctx, digest("b"), b.ExpiresAt); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("state taken at its expiry: %v, want ErrNotFound", err)
	}
	if _, err := s.TakeLoginState(ctx, digest("b"), base); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("expired state still there after a take: %v", err)
	}

	// Creating a state deletes those expired before it.
	c := newLoginState("c", base)
	if err := s.CreateLoginState(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLoginState(ctx, newLoginState("d", c.ExpiresAt.Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeLoginState(ctx, digest("c"), base); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("state expired before a later one was created is still there: %v", err)
	}
}

func testLoginStateTakenOnce(t *testing.T, s FederationStore) {
	ctx := t.Context()
	if err := s.CreateLoginState(ctx, newLoginState("once", base)); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.TakeLoginState(ctx, digest("once"), base.Add(time.Second))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, mcpgate.ErrNotFound):
			t.Errorf("concurrent take: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent takes of one state succeeded, want 1", ok, n)
	}
}

func diffIdPTokens(got, want *mcpgate.IdPTokens) string {
	switch {
	case got.Subject != want.Subject || got.Issuer != want.Issuer:
		return fmt.Sprintf("subject/issuer %q %q, want %q %q", got.Subject, got.Issuer, want.Subject, want.Issuer)
	case !bytes.Equal(got.AccessToken, want.AccessToken):
		return fmt.Sprintf("AccessToken %q, want %q", got.AccessToken, want.AccessToken)
	case !bytes.Equal(got.RefreshToken, want.RefreshToken):
		return fmt.Sprintf("RefreshToken %q, want %q", got.RefreshToken, want.RefreshToken)
	case !sameTime(got.Expiry, want.Expiry) || !got.Expiry.IsZero() && got.Expiry.Location() != time.UTC:
		return fmt.Sprintf("Expiry %v, want %v", got.Expiry, want.Expiry)
	case !sameTime(got.UpdatedAt, want.UpdatedAt) || got.UpdatedAt.Location() != time.UTC:
		return fmt.Sprintf("UpdatedAt %v, want %v in UTC", got.UpdatedAt, want.UpdatedAt)
	}
	return ""
}

func mustIdPTokens(t *testing.T, s FederationStore, subject string) *mcpgate.IdPTokens {
	t.Helper()
	got, err := s.IdPTokens(t.Context(), subject)
	if err != nil {
		t.Fatalf("IdPTokens(%q): %v", subject, err)
	}
	return got
}

func testIdPTokens(t *testing.T, s FederationStore) {
	ctx := t.Context()
	if _, err := s.IdPTokens(ctx, "oidc:x:alice"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("tokens of nobody: %v, want ErrNotFound", err)
	}
	if err := s.SaveIdPTokens(ctx, &mcpgate.IdPTokens{Subject: "oidc:x:alice"}); err == nil {
		t.Error("tokens without an access token were stored")
	}
	a := &mcpgate.IdPTokens{
		Subject: "oidc:x:alice", Issuer: "https://idp.example.com",
		AccessToken: []byte("sealed-access-1\x00\xff"), RefreshToken: []byte("sealed-refresh-1"),
		Expiry: base.Add(time.Hour), UpdatedAt: base,
	}
	if err := s.SaveIdPTokens(ctx, a); err != nil {
		t.Fatal(err)
	}
	if d := diffIdPTokens(mustIdPTokens(t, s, a.Subject), a); d != "" {
		t.Error(d)
	}
	// A new sign-in replaces them; no refresh token and no expiry are kept
	// as such.
	a2 := &mcpgate.IdPTokens{Subject: a.Subject, Issuer: a.Issuer, AccessToken: []byte("sealed-access-2"), UpdatedAt: base.Add(time.Minute)}
	if err := s.SaveIdPTokens(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if d := diffIdPTokens(mustIdPTokens(t, s, a.Subject), a2); d != "" {
		t.Error(d)
	}

	// A refresh replaces them only if nobody refreshed first.
	a3 := &mcpgate.IdPTokens{Subject: a.Subject, Issuer: a.Issuer, AccessToken: []byte("sealed-access-3"),
		RefreshToken: []byte("sealed-refresh-3"), Expiry: base.Add(2 * time.Hour), UpdatedAt: base.Add(2 * time.Minute)}
	if err := s.UpdateIdPTokens(ctx, a3, []byte("sealed-access-1\x00\xff")); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("update from stale tokens: %v, want ErrConflict", err)
	}
	if err := s.UpdateIdPTokens(ctx, a3, a2.AccessToken); err != nil {
		t.Fatalf("update: %v", err)
	}
	if d := diffIdPTokens(mustIdPTokens(t, s, a.Subject), a3); d != "" {
		t.Error(d)
	}
	ghost := &mcpgate.IdPTokens{Subject: "oidc:x:ghost", Issuer: a.Issuer, AccessToken: []byte("x"), UpdatedAt: base}
	if err := s.UpdateIdPTokens(ctx, ghost, []byte("y")); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("update of nobody's tokens: %v, want ErrNotFound", err)
	}

	// Subjects are kept apart.
	b := &mcpgate.IdPTokens{Subject: "oidc:y:alice", Issuer: "https://other.example.com", AccessToken: []byte("b"), UpdatedAt: base}
	if err := s.SaveIdPTokens(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIdPTokens(ctx, a.Subject); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IdPTokens(ctx, a.Subject); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("deleted tokens: %v, want ErrNotFound", err)
	}
	if err := s.DeleteIdPTokens(ctx, a.Subject); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
	if d := diffIdPTokens(mustIdPTokens(t, s, b.Subject), b); d != "" {
		t.Errorf("other subject after a delete: %s", d)
	}
}

func testIdPTokensConcurrentUpdate(t *testing.T, s FederationStore) {
	ctx := t.Context()
	start := &mcpgate.IdPTokens{Subject: "oidc:x:bob", Issuer: "https://idp.example.com", AccessToken: []byte("start"), UpdatedAt: base}
	if err := s.SaveIdPTokens(ctx, start); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.UpdateIdPTokens(ctx, &mcpgate.IdPTokens{Subject: start.Subject, Issuer: start.Issuer,
				AccessToken: fmt.Appendf(nil, "refreshed-%d", i), UpdatedAt: base.Add(time.Second)}, start.AccessToken)
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Errorf("updates %d and %d both won", won, i)
			}
			won = i
		case !errors.Is(err, mcpgate.ErrConflict):
			t.Errorf("concurrent update: %v", err)
		}
	}
	if won < 0 {
		t.Fatal("no concurrent update won")
	}
	if got := mustIdPTokens(t, s, start.Subject); string(got.AccessToken) != fmt.Sprintf("refreshed-%d", won) {
		t.Errorf("stored %q, but update %d won", got.AccessToken, won)
	}
}
