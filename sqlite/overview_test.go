package sqlite_test

import (
	"testing"

	"github.com/mcpgate/mcpgate/storetest"
)

func TestOverview(t *testing.T) {
	storetest.RunOverview(t, func(t *testing.T) storetest.OverviewStore {
		db := mustOpen(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}
