package mcpgate

import (
	"context"
	"time"
)

// ServerInfo is what a running gateway tells the commands that share its
// store about itself: the URLs clients connect to. The administration
// commands print them (in client snippets, sign-in and token URLs) instead
// of guessing from their own flags, which may not be the server's.
type ServerInfo struct {
	// PublicURL is the canonical URL of the MCP endpoint (--public-url).
	PublicURL string
	// Upstreams are the MCP servers the gateway fronts, in its order.
	Upstreams []UpstreamInfo
	// UpdatedAt is when a server last recorded the info.
	UpdatedAt time.Time
}

// UpstreamInfo names one fronted MCP server and where clients reach it.
type UpstreamInfo struct {
	Name string
	URL  string // absolute, e.g. https://mcp.example.com/mcp/github
}

// ServerInfoStore keeps the one ServerInfo record of a store. Replicas
// sharing a store share their URLs, so the last writer wins.
type ServerInfoStore interface {
	// PutServerInfo replaces the record with info.
	PutServerInfo(ctx context.Context, info *ServerInfo) error
	// ServerInfo returns the record, or ErrNotFound if no server has
	// recorded one.
	ServerInfo(ctx context.Context) (*ServerInfo, error)
}
