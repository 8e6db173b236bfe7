package postgres_test

import (
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestSigninSessions(t *testing.T) {
	storetest.RunSigninSessions(t, func(t *testing.T) mcpgate.SigninSessionStore {
		db := mustOpen(t, testURL(t))
		t.Cleanup(func() { db.Close() })
		return db
	})
}
