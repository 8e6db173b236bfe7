package postgres_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/postgres"
	"github.com/mcpgate/mcpgate/storetest"
)

// baseURL is the test database; MCPGATE_TEST_POSTGRES_URL overrides it.
func baseURL() string {
	if u := os.Getenv("MCPGATE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test"
}

// admin connects to the test database, failing the test if it is
// unreachable unless MCPGATE_SKIP_SERVICES=1.
func admin(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseURL())
	if err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			t.Skipf("PostgreSQL unreachable, skipped (MCPGATE_SKIP_SERVICES=1): %v", err)
		}
		where := "the URL in MCPGATE_TEST_POSTGRES_URL"
		if u, perr := url.Parse(baseURL()); perr == nil {
			where = u.Redacted()
		}
		t.Fatalf("PostgreSQL at %s is unreachable: %v\n"+
			"start it, point MCPGATE_TEST_POSTGRES_URL at one, or set MCPGATE_SKIP_SERVICES=1 to skip", where, err)
	}
	return conn
}

// freshSchema returns a new schema name, dropped with everything in it
// when the test ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	conn := admin(t)
	conn.Close(context.Background())
	schema := "t_" + strings.ToLower(rand.Text())
	t.Cleanup(func() {
		conn := admin(t)
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// testURL returns the URL of an empty schema of its own.
func testURL(t testing.TB) string {
	t.Helper()
	return baseURL() + sep(baseURL()) + "search_path=" + freshSchema(t)
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

func mustOpen(t testing.TB, u string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mcpgate.Store { return mustOpen(t, testURL(t)) })
}

// TestShared opens the same schema twice, as two replicas (or a server and
// the CLI) do.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (mcpgate.Store, mcpgate.Store) {
		url := testURL(t)
		return mustOpen(t, url), mustOpen(t, url)
	})
}

// TestSchemaIsolation checks that search_path in the URL keeps two stores
// in one database apart, and that Open creates the schema.
func TestSchemaIsolation(t *testing.T) {
	a := mustOpen(t, testURL(t))
	defer a.Close()
	b := mustOpen(t, testURL(t))
	defer b.Close()
	ctx := t.Context()
	h := sha256.Sum256([]byte("s"))
	if err := a.CreateKey(ctx, &mcpgate.APIKey{ID: "k1", Subject: "alice", Hash: h[:]}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Key(ctx, "k1"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("key of schema a seen in schema b: %v", err)
	}
	if err := b.CreateKey(ctx, &mcpgate.APIKey{ID: "k1", Subject: "bob", Hash: h[:]}); err != nil {
		t.Errorf("same id in another schema: %v", err)
	}

	conn := admin(t)
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'api_keys'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("tables were created in public, not in the search_path schema")
	}
}

func TestOpenErrors(t *testing.T) {
	admin(t).Close(context.Background()) // fail or skip as the other tests do

	newer := testURL(t)
	db := mustOpen(t, newer)
	if _, err := db.Pool().Exec(t.Context(),
		"INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	tests := []struct {
		name    string
		url     string
		wantMsg []string
		notMsg  string
	}{
		{"newer schema", newer, []string{"schema version 99999 is newer", "upgrade mcpgate"}, ""},
		{"unreachable", "postgres://postgres:hunter2@127.0.0.1:1/test?connect_timeout=2", []string{"127.0.0.1:1"}, "hunter2"},
		{"unknown database", "postgres://postgres:hunter2@127.0.0.1:5432/no_such_db_mcpgate", []string{"no_such_db_mcpgate"}, "hunter2"},
		{"malformed", "postgres://postgres:hunter2@127.0.0.1:notaport/test", []string{"postgres"}, "hunter2"},
		{"bad search_path", baseURL() + sep(baseURL()) + "search_path=\"$user\"", []string{"search_path"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := postgres.Open(t.Context(), tt.url)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("error: %v", err)
			for _, want := range tt.wantMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open error %q does not contain %q", err, want)
				}
			}
			if tt.notMsg != "" && strings.Contains(err.Error(), tt.notMsg) {
				t.Errorf("Open error %q reveals the password", err)
			}
		})
	}
}

// TestConcurrentFirstOpen opens a new schema from several replicas at once:
// the migration runs once and every Open succeeds.
func TestConcurrentFirstOpen(t *testing.T) {
	url := testURL(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	dbs := make([]*postgres.DB, n)
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		dbs[i].Close()
	}
}

// TestChangeOrder publishes from many transactions at once while a poller
// follows the feed the way servers do: it must see every change, in order,
// never skipping a sequence number that commits late.
func TestChangeOrder(t *testing.T) {
	url := testURL(t)
	w, r := mustOpen(t, url), mustOpen(t, url)
	defer w.Close()
	defer r.Close()
	ctx := t.Context()
	const writers, each = 6, 15
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				if _, err := w.PublishChange(ctx, mcpgate.ChangeToken, fmt.Sprintf("w%d-%d", i, j)); err != nil {
					t.Errorf("PublishChange: %v", err)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]bool{}
	var cursor int64
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true // one more poll after the last commit
		default:
		}
		changes, err := r.ChangesSince(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			seen[c.ID] = true
			cursor = c.Seq
		}
	}
	if len(seen) != writers*each {
		t.Errorf("poller saw %d of %d changes", len(seen), writers*each)
	}
}

// BenchmarkKey compares Key (pgx, cached statement) with the same lookup
// through database/sql on the same pool, and TouchKey with a plain
// autocommit UPDATE; the baselines come first.
func BenchmarkKey(b *testing.B) {
	db := mustOpen(b, testURL(b))
	defer db.Close()
	ctx := context.Background()
	for i := range 1000 {
		h := sha256.Sum256(fmt.Appendf(nil, "%d", i))
		if err := db.CreateKey(ctx, &mcpgate.APIKey{ID: fmt.Sprintf("k%d", i), Subject: "s",
			Scopes: []string{"a", "b"}, Hash: h[:]}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("database-sql", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var id, scopes string
			var hash []byte
			if err := db.SQL().QueryRowContext(ctx, `SELECT id, name, subject, tenant, scopes::text, hash, created_at,
				expires_at, last_used_at, revoked_at, rotated_to FROM api_keys WHERE id = $1`,
				fmt.Sprintf("k%d", i%1000)).Scan(&id, new(string), new(string), new(string), &scopes,
				&hash, new(time.Time), new(any), new(any), new(any), new(string)); err != nil {
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
	b.Run("touch-synchronous", func(b *testing.B) { // baseline: TouchKey's UPDATE with the default fsync
		at := time.Now()
		for i := 0; b.Loop(); i++ {
			if _, err := db.Pool().Exec(ctx, "UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2",
				at.Add(time.Duration(i)*time.Microsecond), fmt.Sprintf("k%d", i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TouchKey", func(b *testing.B) {
		at := time.Now()
		for i := 0; b.Loop(); i++ {
			if err := db.TouchKey(ctx, fmt.Sprintf("k%d", i%1000), at.Add(time.Duration(i)*time.Microsecond)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestServerInfo(t *testing.T) {
	storetest.RunServerInfo(t, func(t *testing.T) mcpgate.ServerInfoStore {
		db := mustOpen(t, testURL(t))
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestAuditSearch(t *testing.T) {
	storetest.RunAuditSearch(t, func(t *testing.T) storetest.AuditSearchStore {
		db := mustOpen(t, testURL(t))
		t.Cleanup(func() { db.Close() })
		return db
	})
}
