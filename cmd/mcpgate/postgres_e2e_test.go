package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresStore runs the CLI and the server on Postgres: a key created
// by one process works on the server, and a revocation by the CLI reaches
// the server within a second.
func TestPostgresStore(t *testing.T) {
	storeURL := ownSchema(t)
	u, err := url.Parse(storeURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")

	data := filepath.Join(t.TempDir(), "unused")
	withStore := func(args ...string) []string { return append([]string{"--store", storeURL}, args...) }
	// A schema counts as a store only once migrated.
	res := mcpgateCLI(t, data, withStore("keys", "list")...)
	if res.code != exitError || !strings.Contains(res.stderr, `no store in schema "`+schema+`"`) || !strings.Contains(res.stderr, "mcpgate migrate") {
		t.Errorf("keys list on an unmigrated schema: exit %d: %s", res.code, res.stderr)
	}
	key, id := createKey(t, data, withStore("--name", "pg")...)
	srv := startServer(t, data, "--store", storeURL, "--encryption-key", newKeyFile(t))
	if resp, body := rpc(t, srv.url, key, initBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("initialize with a Postgres-stored key: %d %s", resp.StatusCode, body)
	}
	if res := mcpgateCLI(t, data, withStore("keys", "revoke", id)...); res.code != 0 {
		t.Fatalf("keys revoke: %d %s", res.code, res.stderr)
	}
	eventually(t, time.Second, func() error {
		if resp, _ := rpc(t, srv.url, key, initBody); resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("revoked key still gets %d", resp.StatusCode)
		}
		return nil
	})
	if _, err := os.Stat(data); err == nil {
		t.Errorf("a SQLite data dir was created although the store is Postgres")
	}
}

// ownSchema returns the URL of a Postgres schema of the test's own on the
// machine's Postgres (or MCPGATE_TEST_POSTGRES_URL), dropped at the end.
func ownSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("MCPGATE_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			t.Skipf("Postgres unreachable and MCPGATE_SKIP_SERVICES=1: %v", err)
		}
		t.Fatalf("Postgres at %s is required (set MCPGATE_SKIP_SERVICES=1 to skip): %v", base, err)
	}
	conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_e2e_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
