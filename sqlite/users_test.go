package sqlite_test

import (
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) mcpgate.UserStore {
		db := mustOpen(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestUsersShared creates a user through one handle, as the CLI does, and
// reads it through another, as the running server does.
func TestUsersShared(t *testing.T) {
	dir := t.TempDir()
	cli, server := mustOpen(t, dir), mustOpen(t, dir)
	t.Cleanup(func() { cli.Close(); server.Close() })
	if err := cli.CreateUser(t.Context(), &mcpgate.User{Name: "alice", PasswordHash: "$argon2id$x"}); err != nil {
		t.Fatal(err)
	}
	u, err := server.User(t.Context(), "alice")
	if err != nil {
		t.Fatalf("server does not see the CLI's user: %v", err)
	}
	if u.PasswordHash != "$argon2id$x" {
		t.Errorf("PasswordHash %q", u.PasswordHash)
	}
}

func TestUserAdmin(t *testing.T) {
	storetest.RunUserAdmin(t, func(t *testing.T) mcpgate.UserAdminStore {
		db := mustOpen(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestFederation(t *testing.T) {
	storetest.RunFederation(t, func(t *testing.T) storetest.FederationStore {
		db := mustOpen(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}
