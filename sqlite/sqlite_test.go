package sqlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
	"github.com/mcpgate/mcpgate/storetest"
)

func mustOpen(t testing.TB, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mcpgate.Store {
		return mustOpen(t, t.TempDir())
	})
}

// TestShared opens the same directory twice, as the server and the CLI do.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (mcpgate.Store, mcpgate.Store) {
		dir := t.TempDir()
		return mustOpen(t, dir), mustOpen(t, dir)
	})
}

func TestOpenCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data dir?#%") // characters that URLs treat specially
	db := mustOpen(t, dir)
	defer db.Close()
	if got, want := db.Path(), filepath.Join(dir, sqlite.FileName); got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700 | os.ModeDir},
		{db.Path(), 0o600},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != tt.want {
			t.Errorf("mode of %s = %v, want %v", tt.path, got, tt.want)
		}
	}
	// WAL: the write-ahead log sits next to the database once written to.
	if err := db.CreateNote(t.Context(), &mcpgate.Note{Owner: "o"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(db.Path() + "-wal"); err != nil {
		t.Errorf("no WAL file: %v", err)
	} else if got := fi.Mode(); got != 0o600 {
		t.Errorf("mode of the WAL file = %v, want %v", got, os.FileMode(0o600))
	}
	var mode string
	if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
}

func TestOpenRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	db := mustOpen(t, filepath.Join("rel", "data"))
	defer db.Close()
	if _, err := os.Stat(filepath.Join("rel", "data", sqlite.FileName)); err != nil {
		t.Errorf("database not created under the relative dir: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir)
	h := sha256.Sum256([]byte("s"))
	if err := db.CreateKey(t.Context(), &mcpgate.APIKey{ID: "k1", Subject: "alice", Hash: h[:]}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir)
	defer db.Close()
	k, err := db.Key(t.Context(), "k1")
	if err != nil || !bytes.Equal(k.Hash, h[:]) {
		t.Errorf("after reopening: Key = %+v, %v", k, err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T) string // returns the dir to open
		wantMsg []string
	}{
		{
			name: "garbage file",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				garbage := bytes.Repeat([]byte("this is not a database\n"), 400)
				writeFile(t, filepath.Join(dir, sqlite.FileName), garbage)
				return dir
			},
			wantMsg: []string{sqlite.FileName, "not an SQLite database"},
		},
		{
			name: "truncated header",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, sqlite.FileName), []byte("SQLite format 3\x00\x10\x00"))
				return dir
			},
			wantMsg: []string{sqlite.FileName},
		},
		{
			name: "damaged database",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				db := mustOpen(t, dir)
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, sqlite.FileName)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				// Keep the header, overwrite the schema page's contents.
				for i := 100; i < len(b) && i < 4096; i++ {
					b[i] = 0xA5
				}
				writeFile(t, path, b)
				return dir
			},
			wantMsg: []string{sqlite.FileName},
		},
		{
			name: "dir is a file",
			setup: func(t *testing.T) string {
				path := filepath.Join(t.TempDir(), "file")
				writeFile(t, path, []byte("x"))
				return path
			},
			wantMsg: []string{"file"},
		},
		{
			name: "parent is a file",
			setup: func(t *testing.T) string {
				path := filepath.Join(t.TempDir(), "file")
				writeFile(t, path, []byte("x"))
				return filepath.Join(path, "data")
			},
			wantMsg: []string{"file/data"},
		},
		{
			name: "database is a directory",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				if err := os.Mkdir(filepath.Join(dir, sqlite.FileName), 0o700); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			wantMsg: []string{sqlite.FileName, "not a regular file"},
		},
		{
			name: "newer schema",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				db := mustOpen(t, dir)
				if _, err := db.SQL().ExecContext(t.Context(),
					"INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1)"); err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			wantMsg: []string{sqlite.FileName, "schema version 99999 is newer", "upgrade mcpgate"},
		},
		{
			name:    "empty dir name",
			setup:   func(t *testing.T) string { return "" },
			wantMsg: []string{"empty data directory"},
		},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		tests = append(tests, struct {
			name    string
			setup   func(t *testing.T) string
			wantMsg []string
		}{
			name: "read-only dir",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				if err := os.Chmod(dir, 0o500); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(dir, 0o700) })
				return dir
			},
			wantMsg: []string{sqlite.FileName},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			db, err := sqlite.Open(t.Context(), dir)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open error %q does not contain %q", err, want)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentFirstOpen starts several processes' worth of Opens on a new
// directory at once: each must end with a migrated database.
func TestConcurrentFirstOpen(t *testing.T) {
	dir := t.TempDir()
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	dbs := make([]*sqlite.DB, n)
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = sqlite.Open(t.Context(), dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		if _, err := dbs[i].LastChange(t.Context()); err != nil {
			t.Errorf("LastChange via handle %d: %v", i, err)
		}
		dbs[i].Close()
	}
}

// TestBusyWriterWaits holds the write lock from one handle for a while:
// writes from another handle must wait for it rather than fail, and reads
// must not wait at all.
func TestBusyWriterWaits(t *testing.T) {
	dir := t.TempDir()
	a, b := mustOpen(t, dir), mustOpen(t, dir)
	defer a.Close()
	defer b.Close()
	ctx := t.Context()
	h := sha256.Sum256([]byte("s"))
	if err := a.CreateKey(ctx, &mcpgate.APIKey{ID: "k1", Subject: "alice", Hash: h[:]}); err != nil {
		t.Fatal(err)
	}
	tx, err := a.SQL().BeginTx(ctx, nil) // IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	const hold = 300 * time.Millisecond
	released := make(chan struct{})
	go func() {
		time.Sleep(hold)
		tx.Rollback()
		close(released)
	}()

	start := time.Now()
	if _, err := b.Key(ctx, "k1"); err != nil {
		t.Fatalf("Key while another process writes: %v", err)
	}
	if d := time.Since(start); d > hold/2 {
		t.Errorf("Key waited %v for the writer; readers must not wait", d)
	}
	if err := b.TouchKey(ctx, "k1", time.Now()); err != nil {
		t.Fatalf("TouchKey while another process writes: %v", err)
	}
	if d := time.Since(start); d < hold*9/10 {
		t.Errorf("TouchKey returned after %v, before the lock was released", d)
	}
	<-released
}

func TestSQLReuse(t *testing.T) {
	db := mustOpen(t, t.TempDir())
	defer db.Close()
	var n int
	if err := db.SQL().QueryRowContext(t.Context(),
		"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('api_keys', 'notes', 'audit_events', 'changes')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("found %d of the 4 tables", n)
	}
}

func TestClosed(t *testing.T) {
	db := mustOpen(t, t.TempDir())
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Key(t.Context(), "k"); err == nil || errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("Key on a closed store = %v, want an error other than ErrNotFound", err)
	}
}

// BenchmarkKey compares the prepared lookup Key uses with the same query
// prepared on every call (the baseline).
func BenchmarkKey(b *testing.B) {
	db := mustOpen(b, b.TempDir())
	defer db.Close()
	ctx := context.Background()
	for i := range 1000 {
		h := sha256.Sum256(fmt.Appendf(nil, "%d", i))
		if err := db.CreateKey(ctx, &mcpgate.APIKey{ID: fmt.Sprintf("k%d", i), Subject: "s",
			Scopes: []string{"a", "b"}, Hash: h[:]}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("unprepared", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var id string
			var hash []byte
			if err := db.SQL().QueryRowContext(ctx, `SELECT id, name, subject, tenant, scopes, hash, created_at,
				expires_at, last_used_at, revoked_at, rotated_to FROM api_keys WHERE id = ?`,
				fmt.Sprintf("k%d", i%1000)).Scan(&id, new(string), new(string), new(string), new(string),
				&hash, new(int64), new(any), new(any), new(any), new(string)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Key", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := db.Key(ctx, fmt.Sprintf("k%d", i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TouchKey", func(b *testing.B) {
		at := time.Now()
		for i := 0; b.Loop(); i++ {
			if err := db.TouchKey(ctx, fmt.Sprintf("k%d", i%1000), at.Add(time.Duration(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConcurrentWrites compares 16 goroutines appending audit events
// through the store (queued for the process's single writer) with the same
// transactions sent straight to the pool (the baseline: SQLite's busy
// handler polls for the lock). It reports the worst single write too.
func BenchmarkConcurrentWrites(b *testing.B) {
	insert := map[string]func(db *sqlite.DB) error{
		"busy-handler": func(db *sqlite.DB) error { // what AppendAudit does, minus the queue
			ctx := context.Background()
			tx, err := db.SQL().BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			var id int64
			if err := tx.QueryRowContext(ctx, "INSERT INTO audit_events (at, request_id) VALUES (?, 'r') RETURNING id",
				time.Now().UnixMicro()).Scan(&id); err != nil {
				return err
			}
			return tx.Commit()
		},
		"AppendAudit": func(db *sqlite.DB) error {
			return db.AppendAudit(context.Background(), &mcpgate.AuditEvent{Time: time.Now(), RequestID: "r"})
		},
	}
	for _, name := range []string{"busy-handler", "AppendAudit"} {
		b.Run(name, func(b *testing.B) {
			db := mustOpen(b, b.TempDir())
			defer db.Close()
			var mu sync.Mutex
			var worst time.Duration
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t0 := time.Now()
					if err := insert[name](db); err != nil {
						b.Error(err)
						return
					}
					d := time.Since(t0)
					mu.Lock()
					worst = max(worst, d)
					mu.Unlock()
				}
			})
			b.ReportMetric(float64(worst.Microseconds()), "max-µs")
		})
	}
}

// TestCorruptFileUntouched checks that a failed Open leaves a file that is
// not a database exactly as it was: nothing the user had is lost.
func TestCorruptFileUntouched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, sqlite.FileName)
	want := bytes.Repeat([]byte("precious, but not a database\n"), 300)
	writeFile(t, path, want)
	for range 2 {
		if db, err := sqlite.Open(t.Context(), dir); err == nil {
			db.Close()
			t.Fatal("Open succeeded")
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("a failed Open changed the file")
	}
}

func TestServerInfo(t *testing.T) {
	storetest.RunServerInfo(t, func(t *testing.T) mcpgate.ServerInfoStore {
		db := mustOpen(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestAuditSearch(t *testing.T) {
	storetest.RunAuditSearch(t, func(t *testing.T) storetest.AuditSearchStore {
		db := mustOpen(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db
	})
}
