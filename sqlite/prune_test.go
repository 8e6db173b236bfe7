package sqlite_test

import (
	"testing"

	"github.com/mcpgate/mcpgate/storetest"
)

func TestPrune(t *testing.T) {
	storetest.RunPrune(t, func(t *testing.T) storetest.PruneStore {
		db := mustOpen(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}
