package gateway_test

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/postgres"
)

// postgresSchema returns the URL of a schema of the test's own on the test
// database, dropped when the test ends; the test fails if PostgreSQL is
// unreachable unless MCPGATE_SKIP_SERVICES=1.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("MCPGATE_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			t.Skipf("PostgreSQL unreachable, skipped (MCPGATE_SKIP_SERVICES=1): %v", err)
		}
		t.Fatalf("PostgreSQL unreachable: %v (set MCPGATE_SKIP_SERVICES=1 to skip)", err)
	}
	conn.Close(ctx)
	schema := "t_" + strings.ToLower(rand.Text())
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func openPostgres(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pollOnly hides a store's change notifications, as a store without them
// (SQLite) behaves.
type pollOnly struct{ mcpgate.Store }

// TestRevocationAcrossReplicas revokes keys through one store handle (as
// the CLI does) and times how long two replicas, each with its own
// connection pool on the same Postgres schema, take until both refuse the
// key, with LISTEN/NOTIFY and with polling alone.
func TestRevocationAcrossReplicas(t *testing.T) {
	url := postgresSchema(t)
	cli := openPostgres(t, url)
	for _, tc := range []struct {
		name string
		wrap func(mcpgate.Store) mcpgate.Store
		n    int
	}{
		{"notify", func(s mcpgate.Store) mcpgate.Store { return s }, 100},
		{"poll", func(s mcpgate.Store) mcpgate.Store { return pollOnly{s} }, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
			})
			var replicas []http.Handler
			for range 2 {
				gw, err := gateway.New(tc.wrap(openPostgres(t, url)), "http://example.com/mcp", &gateway.Options{
					Upstreams: []gateway.Upstream{{Name: "echo", Path: "/mcp", Handler: upstream}},
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { gw.Close() })
				replicas = append(replicas, gw.Handler())
			}
			status := func(h http.Handler, key string) int {
				r := httptest.NewRequest(http.MethodPost, "http://example.com/mcp",
					strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`))
				r.Header.Set("Authorization", "Bearer "+key)
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Accept", "application/json, text/event-stream")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Code
			}

			ctx := context.Background()
			keys := make([]string, tc.n)
			ids := make([]string, tc.n)
			for i := range keys {
				key, id, hash, err := apikey.Generate()
				if err != nil {
					t.Fatal(err)
				}
				if err := cli.CreateKey(ctx, &mcpgate.APIKey{ID: id, Name: "replica", Subject: "alice", Hash: hash, CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
				// Each replica caches the key, as it does a key in use.
				for _, h := range replicas {
					if got := status(h, key); got != http.StatusOK {
						t.Fatalf("key %d before revocation: status %d, want 200", i, got)
					}
				}
				keys[i], ids[i] = key, id
			}

			took := make([]time.Duration, tc.n)
			for i := range keys {
				start := time.Now()
				if err := cli.RevokeKey(ctx, ids[i], time.Now()); err != nil {
					t.Fatal(err)
				}
				refused := make([]bool, len(replicas))
				for !slices.Equal(refused, []bool{true, true}) {
					for j, h := range replicas {
						refused[j] = refused[j] || status(h, keys[i]) == http.StatusUnauthorized
					}
					if time.Since(start) > 5*time.Second {
						t.Fatalf("revocation %d: replicas refusing %v after 5s", i, refused)
					}
					time.Sleep(500 * time.Microsecond)
				}
				took[i] = time.Since(start)
			}
			slices.Sort(took)
			p50, p99 := took[len(took)/2], took[(len(took)*99+99)/100-1]
			t.Logf("%s: %d revocations until both replicas refuse: p50 %v, p99 %v, max %v",
				tc.name, tc.n, p50.Round(time.Microsecond), p99.Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond))
			if p99 > time.Second {
				t.Errorf("p99 %v, want at most 1s", p99)
			}
		})
	}
}
