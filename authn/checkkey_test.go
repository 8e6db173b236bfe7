package authn

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func TestCheckKey(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := newMemStore()
	v := NewKeyVerifier(s, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
	_, valid := mustCreateKey(t, s, clock.Now(), nil)
	_, revoked := mustCreateKey(t, s, clock.Now(), nil)
	_, expiring := mustCreateKey(t, s, clock.Now(), func(k *mcpgate.APIKey) { k.ExpiresAt = clock.Now().Add(time.Minute) })
	_, expired := mustCreateKey(t, s, clock.Now(), func(k *mcpgate.APIKey) { k.ExpiresAt = clock.Now().Add(-time.Second) })

	for _, id := range []string{valid.ID, revoked.ID, expiring.ID} {
		if err := v.CheckKey(ctx, id); err != nil {
			t.Fatalf("CheckKey(%s) before any change = %v", id, err)
		}
	}
	// The revocation reaches the cache through the change feed.
	if err := s.RevokeKey(ctx, revoked.ID, clock.Now()); err != nil {
		t.Fatal(err)
	}
	v.Apply(mcpgate.Change{Kind: mcpgate.ChangeKey, ID: revoked.ID})
	clock.Advance(time.Minute) // expiring is now expired, from the cache

	for name, tc := range map[string]struct {
		id   string
		want error
	}{
		"valid":              {valid.ID, nil},
		"revoked":            {revoked.ID, errKeyRevoked},
		"expired while held": {expiring.ID, errKeyExpired},
		"expired":            {expired.ID, errKeyExpired},
		"unknown":            {"k_doesnotexist", errUnknownKey},
		"empty":              {"", errUnknownKey},
	} {
		t.Run(name, func(t *testing.T) {
			err := v.CheckKey(ctx, tc.id)
			if !errors.Is(err, tc.want) {
				t.Errorf("CheckKey = %v, want %v", err, tc.want)
			}
			if tc.want != nil && !errors.Is(err, mcpgate.ErrUnauthenticated) {
				t.Errorf("CheckKey = %v, does not match ErrUnauthenticated", err)
			}
		})
	}

	// A store failure is not a refusal.
	s2 := newMemStore()
	_, k := mustCreateKey(t, s2, clock.Now(), nil)
	v2 := NewKeyVerifier(s2, &KeyVerifierOptions{Now: clock.Now, TouchInterval: -1})
	s2.failKey.Store(true)
	if err := v2.CheckKey(ctx, k.ID); err == nil || errors.Is(err, mcpgate.ErrUnauthenticated) {
		t.Errorf("CheckKey with a failing store = %v, want a non-refusal error", err)
	}
}
