package authn

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/sqlite"
)

func mustOpenSQLite(tb testing.TB, dir string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestKeyVerifierSQLite(t *testing.T) {
	testKeyVerifierSuite(t, func(t *testing.T) testStore { return mustOpenSQLite(t, t.TempDir()) })
}

// TestSQLiteRevokeFromAnotherProcess revokes a key the way the CLI does, from
// another process with its own handle on the same database file, and
// checks that the running verifier refuses it within a second.
func TestSQLiteRevokeFromAnotherProcess(t *testing.T) {
	if dir := os.Getenv("MCPGATE_TEST_REVOKE_DIR"); dir != "" {
		// The child: revoke and exit.
		db := mustOpenSQLite(t, dir)
		if err := db.RevokeKey(context.Background(), os.Getenv("MCPGATE_TEST_REVOKE_ID"), time.Now()); err != nil {
			t.Fatal(err)
		}
		return
	}
	dir := t.TempDir()
	db := mustOpenSQLite(t, dir)
	v := NewKeyVerifier(db, &KeyVerifierOptions{TouchInterval: -1})
	key, k := mustCreateKey(t, db, time.Now(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WatchChanges(ctx, db, 0, v.Apply) }()
	defer func() { cancel(); <-done }()
	if _, err := v.Verify(ctx, key); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the watcher has read its starting point

	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteRevokeFromAnotherProcess$")
	cmd.Env = append(os.Environ(), "MCPGATE_TEST_REVOKE_DIR="+dir, "MCPGATE_TEST_REVOKE_ID="+k.ID)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("revoking process: %v\n%s", err, out)
	}
	revoked := time.Now()
	for {
		_, err := v.Verify(ctx, key)
		if errors.Is(err, errKeyRevoked) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(revoked) > time.Second {
			t.Fatal("key revoked by another process still accepted after 1s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation by another process took effect after %v", time.Since(revoked).Round(time.Millisecond))
}
