package sqlite_test

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
)

// childDirEnv tells the test binary, started again by TestCrossProcess, to
// act as the CLI on the directory it names.
const childDirEnv = "MCPGATE_SQLITE_TEST_CHILD_DIR"

// TestCrossProcess runs a second process on the same data directory, as
// `mcpgate keys revoke` does next to a running server: while this process
// keeps writing, the other one writes audit events and revokes a key, and
// neither sees "database is locked". This process then learns of the
// revocation from the change feed.
func TestCrossProcess(t *testing.T) {
	if os.Getenv(childDirEnv) != "" {
		t.Skip("running as the child")
	}
	dir := t.TempDir()
	server := mustOpen(t, dir)
	defer server.Close()
	ctx := t.Context()
	h := sha256.Sum256([]byte("s"))
	for _, id := range []string{"k1", "k2"} {
		if err := server.CreateKey(ctx, &mcpgate.APIKey{ID: id, Subject: "alice", Hash: h[:]}); err != nil {
			t.Fatal(err)
		}
	}
	cursor, err := server.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var serverWrites int
	wg.Go(func() { // the server keeps touching keys and auditing meanwhile
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := server.TouchKey(ctx, "k2", time.Now()); err != nil {
				t.Errorf("server TouchKey: %v", err)
				return
			}
			if err := server.AppendAudit(ctx, &mcpgate.AuditEvent{Time: time.Now(), RequestID: "server"}); err != nil {
				t.Errorf("server AppendAudit: %v", err)
				return
			}
			serverWrites = i + 1
		}
	})

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if serverWrites == 0 {
		t.Error("the server wrote nothing while the child ran")
	}

	changes, err := server.ChangesSince(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Kind != mcpgate.ChangeKey || changes[0].ID != "k1" {
		t.Fatalf("ChangesSince after the child revoked k1 = %+v", changes)
	}
	k, err := server.Key(ctx, "k1")
	if err != nil || k.Valid(time.Now()) {
		t.Errorf("k1 after revocation by the child: %+v, %v; want revoked", k, err)
	}
	events, err := server.ListAudit(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := 0
	for _, e := range events {
		if e.RequestID == "child" {
			child++
		}
	}
	if child != childEvents {
		t.Errorf("found %d audit events of the child, want %d", child, childEvents)
	}
}

const childEvents = 200

// TestChildProcess is the second process of TestCrossProcess.
func TestChildProcess(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("only run by TestCrossProcess")
	}
	cli, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i := range childEvents {
		if err := cli.AppendAudit(t.Context(), &mcpgate.AuditEvent{Time: time.Now(), RequestID: "child"}); err != nil {
			t.Fatalf("child AppendAudit %d: %v", i, err)
		}
		if i == childEvents/2 {
			if err := cli.RevokeKey(t.Context(), "k1", time.Now()); err != nil {
				t.Fatalf("child RevokeKey: %v", err)
			}
		}
	}
}
