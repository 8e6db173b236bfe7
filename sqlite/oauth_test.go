package sqlite_test

import (
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestOAuthStore(t *testing.T) {
	storetest.RunOAuth(t, func(t *testing.T) mcpgate.OAuthStore {
		db, err := sqlite.Open(t.Context(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
