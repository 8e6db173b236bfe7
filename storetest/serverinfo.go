package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// RunServerInfo runs the conformance suite of mcpgate.ServerInfoStore.
// open must return a new, empty store; the suite does not close it.
func RunServerInfo(t *testing.T, open func(t *testing.T) mcpgate.ServerInfoStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testServerInfo(t, open(t)) })
}

func testServerInfo(t *testing.T, s mcpgate.ServerInfoStore) {
	ctx := t.Context()
	if _, err := s.ServerInfo(ctx); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Fatalf("ServerInfo of a new store = %v, want ErrNotFound", err)
	}
	if err := s.PutServerInfo(ctx, &mcpgate.ServerInfo{}); err == nil {
		t.Error("PutServerInfo without a public URL succeeded")
	}
	if err := s.PutServerInfo(ctx, nil); err == nil {
		t.Error("PutServerInfo(nil) succeeded")
	}

	first := &mcpgate.ServerInfo{
		PublicURL: "https://mcp.example.com/mcp",
		Upstreams: []mcpgate.UpstreamInfo{
			{Name: "github", URL: "https://mcp.example.com/mcp/github"},
			{Name: "everything", URL: "https://mcp.example.com/mcp/everything"},
		},
		UpdatedAt: base,
	}
	second := &mcpgate.ServerInfo{PublicURL: "http://127.0.0.1:41234/mcp", UpdatedAt: base.Add(time.Minute)}
	for _, want := range []*mcpgate.ServerInfo{first, second} {
		if err := s.PutServerInfo(ctx, want); err != nil {
			t.Fatalf("PutServerInfo: %v", err)
		}
		got, err := s.ServerInfo(ctx)
		if err != nil {
			t.Fatalf("ServerInfo: %v", err)
		}
		if got.PublicURL != want.PublicURL || !slices.Equal(got.Upstreams, want.Upstreams) ||
			!sameTime(got.UpdatedAt, want.UpdatedAt) || got.UpdatedAt.Location() != time.UTC {
			t.Errorf("ServerInfo = %+v, want %+v (the last one put, in UTC)", got, want)
		}
	}

	// A zero UpdatedAt is set to the time of the put.
	before := time.Now().Add(-time.Second)
	if err := s.PutServerInfo(ctx, &mcpgate.ServerInfo{PublicURL: "https://b.example/mcp"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now().Add(time.Second)) || len(got.Upstreams) != 0 {
		t.Errorf("ServerInfo after a put with no time or upstreams = %+v", got)
	}
}
