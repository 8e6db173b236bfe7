package postgres_test

import (
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) mcpgate.UserStore {
		db := mustOpen(t, testURL(t))
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestUserAdmin(t *testing.T) {
	storetest.RunUserAdmin(t, func(t *testing.T) mcpgate.UserAdminStore {
		db := mustOpen(t, testURL(t))
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestFederation(t *testing.T) {
	storetest.RunFederation(t, func(t *testing.T) storetest.FederationStore {
		db := mustOpen(t, testURL(t))
		t.Cleanup(func() { db.Close() })
		return db
	})
}
