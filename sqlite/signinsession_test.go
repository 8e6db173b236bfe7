package sqlite_test

import (
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestSigninSessions(t *testing.T) {
	storetest.RunSigninSessions(t, func(t *testing.T) mcpgate.SigninSessionStore {
		db := mustOpen(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestSigninSessionsShared signs in through one handle, as one process
// serving the pages does, and signs out through another: the first no
// longer finds the session.
func TestSigninSessionsShared(t *testing.T) {
	dir := t.TempDir()
	a, b := mustOpen(t, dir), mustOpen(t, dir)
	t.Cleanup(func() { a.Close(); b.Close() })
	hash := make([]byte, 32)
	hash[0] = 1
	if err := a.CreateSigninSession(t.Context(), &mcpgate.SigninSession{IDHash: hash, Subject: "alice", Method: "password"}, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SigninSession(t.Context(), hash); err != nil {
		t.Fatalf("the other handle does not see the session: %v", err)
	}
	if err := b.DeleteSigninSession(t.Context(), hash); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SigninSession(t.Context(), hash); err == nil {
		t.Fatal("a session ended through one handle is still found through the other")
	}
}
