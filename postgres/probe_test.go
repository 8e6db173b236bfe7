package postgres_test

import (
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/postgres"
)

// TestProbe checks that a schema counts as a store only once migrated, and
// that probing creates nothing.
func TestProbe(t *testing.T) {
	ctx := t.Context()
	u := testURL(t)
	want := u[strings.LastIndex(u, "=")+1:]
	schema, v, err := postgres.Probe(ctx, u)
	if err != nil || schema != want || v != 0 {
		t.Fatalf("Probe of a new schema = %q, %d, %v; want %q, 0, nil", schema, v, err, want)
	}
	if _, v, _ := postgres.Probe(ctx, u); v != 0 {
		t.Fatalf("probing created the store: version %d", v)
	}
	mustOpen(t, u).Close()
	schema, v, err = postgres.Probe(ctx, u)
	if err != nil || schema != want || v <= 0 {
		t.Fatalf("Probe of a migrated schema = %q, %d, %v; want %q, a version, nil", schema, v, err, want)
	}
}
