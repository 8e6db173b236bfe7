package inmem_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestSigninSessions(t *testing.T) {
	storetest.RunSigninSessions(t, func(t *testing.T) mcpgate.SigninSessionStore {
		return inmem.NewSigninSessions(0, nil)
	})
}

// TestSigninSessionsFull: at its bound the store drops expired sessions
// first, then the one closest to expiry, never the new one.
func TestSigninSessionsFull(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	st := inmem.NewSigninSessions(3, func() time.Time { return now })
	hash := func(id string) []byte { h := sha256.Sum256([]byte(id)); return h[:] }
	add := func(id string, expires time.Time) {
		t.Helper()
		if err := st.CreateSigninSession(t.Context(), &mcpgate.SigninSession{IDHash: hash(id), Subject: id, ExpiresAt: expires}, 0); err != nil {
			t.Fatal(err)
		}
	}
	has := func(id string) bool {
		_, err := st.SigninSession(t.Context(), hash(id))
		return err == nil
	}
	add("expired", now.Add(-time.Second))
	add("soon", now.Add(time.Minute))
	add("late", now.Add(time.Hour))
	add("new1", now.Add(time.Hour))
	if has("expired") || !has("soon") || !has("late") || !has("new1") {
		t.Fatal("a full store did not drop the expired session first")
	}
	add("new2", now.Add(time.Hour))
	if has("soon") || !has("late") || !has("new1") || !has("new2") {
		t.Fatal("a full store without expired sessions did not drop the one closest to expiry")
	}
}
