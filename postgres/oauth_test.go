package postgres_test

import (
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestOAuthStore(t *testing.T) {
	storetest.RunOAuth(t, func(t *testing.T) mcpgate.OAuthStore {
		db := mustOpen(t, testURL(t))
		t.Cleanup(func() { db.Close() })
		return db
	})
}
