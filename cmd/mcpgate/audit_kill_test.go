package main

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/sqlite"
)

// listBody is a tools/list of the stateless 2026-07-28 revision: no
// session, so every request is one call and one audit event.
const listBody = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`

// auditFlushInterval is the loss bound docs/audit.md promises.
const auditFlushInterval = 100 * time.Millisecond

// TestAuditKill9 drives `mcpgate serve` with concurrent clients, kills it
// with SIGKILL while they run, and counts the audit events that reached the
// store against the responses the clients received. At most one flush
// interval of events at the measured rate may be missing, plus one per
// request in flight (its response can arrive before its event is queued).
//
// "store keeping up" is the ordinary case. "store stalled" holds the
// database's write lock for longer than a flush interval before the kill,
// as another process or a slow disk would: events must then wait for the
// store with the requests, not pile up in memory.
func TestAuditKill9(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stall time.Duration
	}{
		{"store keeping up", 0},
		{"store stalled", 5 * auditFlushInterval},
	} {
		t.Run(tc.name, func(t *testing.T) { auditKill9(t, tc.stall) })
	}
}

func auditKill9(t *testing.T, stall time.Duration) {
	const (
		clients = 8
		steady  = 2 * time.Second // load before the stall or the kill
	)
	started := time.Now()
	data := filepath.Join(t.TempDir(), "data")
	key, _ := createKey(t, data, "--name", "load")
	srv := startServer(t, data, "--rate-limit", "off") // the load is one principal, far over the default limit

	list := func(c *http.Client) error { return listTools(c, srv.url, key) }
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: clients},
		Timeout:   30 * time.Second,
	}
	defer client.CloseIdleConnections()
	if err := list(client); err != nil {
		t.Fatal(err)
	}

	var (
		answered atomic.Int64 // requests answered, the one above included
		killed   atomic.Bool
		stop     = make(chan struct{})
		stopOnce sync.Once
		wg       sync.WaitGroup
		errMu    sync.Mutex
		loadErr  error
	)
	answered.Store(1)
	for range clients {
		wg.Go(func() {
			for range 10_000_000 {
				select {
				case <-stop:
					return
				default:
				}
				if err := list(client); err != nil {
					if !killed.Load() {
						errMu.Lock()
						loadErr = err
						errMu.Unlock()
					}
					return
				}
				answered.Add(1)
			}
		})
	}
	stopLoad := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	defer stopLoad()

	// The rate is measured over the second before the stall (or the
	// kill), once connections are open and the server is warm.
	time.Sleep(steady / 2)
	from, fromN := time.Now(), answered.Load()
	time.Sleep(steady / 2)
	rate := float64(answered.Load()-fromN) / time.Since(from).Seconds()

	unlock := func() {}
	if stall > 0 {
		unlock = holdWriteLock(t, filepath.Join(data, sqlite.FileName))
		defer unlock()
		time.Sleep(stall)
	}
	killed.Store(true)
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("mcpgate serve did not exit on SIGKILL")
	}
	unlock()
	stopLoad()
	errMu.Lock()
	if loadErr != nil {
		t.Fatalf("a client failed before the kill: %v", loadErr)
	}
	errMu.Unlock()

	ctx := context.Background()
	store, err := sqlite.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	events, err := store.ListAudit(ctx, started.Add(-time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, ev := range events {
		if ev.Method == "tools/list" {
			stored++
		}
	}
	// Each event is logged before it is queued: what the log holds and
	// the store does not was in memory at the kill.
	logged := strings.Count(srv.logs.String(), `msg="mcp request"`)
	got := answered.Load()
	missing := got - int64(stored)
	bound := int64(rate*auditFlushInterval.Seconds()) + clients
	t.Logf("%d requests answered at %.0f/s, %d events logged, %d stored; missing %d, bound %d (%.0f/s × %v + %d in flight); store stalled %v before the kill",
		got, rate, logged, stored, missing, bound, rate, auditFlushInterval, clients, stall)
	if missing > bound {
		t.Errorf("kill -9 lost %d audit events; at most %d may be lost", missing, bound)
	}
}

// holdWriteLock takes the SQLite write lock of the database at path from
// another connection, as a second process would, until the returned
// function is called.
func holdWriteLock(t *testing.T, path string) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		conn.Close()
		db.Close()
		t.Fatal(err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
}
