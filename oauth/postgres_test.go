package oauth

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate/postgres"
)

// newPostgresEnv starts a server on a PostgreSQL store in a schema of its
// own, dropped when the test ends. PostgreSQL must be running unless
// MCPGATE_SKIP_SERVICES=1.
func newPostgresEnv(t *testing.T) *env {
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
			t.Skipf("PostgreSQL unreachable (MCPGATE_SKIP_SERVICES=1): %v", err)
		}
		t.Fatalf("PostgreSQL unreachable: %v (set MCPGATE_SKIP_SERVICES=1 to skip)", err)
	}
	conn.Close(ctx)
	schema := "t_oauth_" + strings.ToLower(rand.Text())
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	db, err := postgres.Open(ctx, base+sep+"search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return newEnvOn(t, db, nil)
}

// TestPostgres runs the code flow, refresh rotation and the reuse rules on
// the PostgreSQL store.
func TestPostgres(t *testing.T) {
	e := newPostgresEnv(t)
	c := e.addPublicClient("http://127.0.0.1/cb")
	code := e.code(authorizeParams(c))
	tr := e.exchange(c, code, nil)
	if tr.AccessToken == "" {
		t.Fatalf("exchange: %s %s", tr.Error, tr.Description)
	}
	if again := e.exchange(c, code, nil); again.Error != "invalid_grant" {
		t.Errorf("reused code: %q", again.Error)
	}
	if _, err := e.verify(tr.AccessToken); err == nil {
		t.Error("token of a reused code verifies")
	}
	tr = e.exchange(c, e.code(authorizeParams(c)), nil)
	r1 := e.refresh(c, tr.RefreshToken)
	if r1.AccessToken == "" {
		t.Fatalf("refresh: %s", r1.Error)
	}
	if r := e.refresh(c, tr.RefreshToken); r.Error != "invalid_grant" {
		t.Errorf("reused refresh token: %q", r.Error)
	}
	if _, err := e.verify(r1.AccessToken); err == nil {
		t.Error("token of a grant revoked for refresh reuse verifies")
	}
}
