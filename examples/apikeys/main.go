// Command apikeys is an MCP server written with the official Go SDK that
// accepts mcpgate API keys, kept in a SQLite store, without a gateway in
// front: mcpgate's request path runs inside it, as middleware.
//
//	go run ./examples/apikeys -data ./apikeys-data
//
// On start it creates a key for alice and prints it with the endpoint:
//
//	curl -H "Authorization: Bearer mcpg_…" http://127.0.0.1:8080/mcp …
//
// or point any MCP client at the endpoint with that header. The server has
// two tools: whoami, open to every caller, and clock, which needs the scope
// clock:read. A request without a valid key gets 401, a call without the
// scope 403, a caller over the rate limit 429, each with the same
// WWW-Authenticate challenge and JSON body as the mcpgate gateway sends.
//
// The store is an ordinary mcpgate data directory, so the mcpgate CLI
// manages its keys while the server runs, and a revoked key stops working
// within a second:
//
//	mcpgate keys create --data ./apikeys-data --name bob --scope clock:read
//	mcpgate keys revoke --data ./apikeys-data KEYID
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/ratelimit"
	"github.com/mcpgate/mcpgate/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "apikeys:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("apikeys", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8080", "address to listen on")
	data := flags.String("data", "", "data directory of the SQLite store; a temporary one, removed on exit, if empty")
	newKey := flags.Bool("new-key", true, "create a key for alice with the scope clock:read and print it")
	if err := flags.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mcpgate-apikeys-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer store.Close()
	if *newKey {
		key, err := authn.CreateKey(ctx, store, mcpgate.APIKey{Name: "example", Subject: "alice", Scopes: []string{"clock:read"}})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "API key of alice: %s\n", key)
	}

	// Keys are cached; the store's change feed tells the cache what the
	// CLI (or another replica) revoked.
	keys := authn.NewKeyVerifier(store, &authn.KeyVerifierOptions{Logger: logger})
	defer keys.Close()
	go func() { _ = authn.WatchChanges(ctx, store, 0, keys.Apply) }()

	limits, err := ratelimit.New(inmem.New(nil), nil, nil)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", newHandler(authn.Chain(keys), limits, logger))
	return serve(ctx, *addr, mux, out)
}

// policy says which scopes each tool needs; a tool it does not name needs
// none beyond authentication.
var policy = &authz.Policy{
	Tools: []authz.Rule{{Match: "clock", Scopes: []string{"clock:read"}}},
}

// newHandler returns the MCP endpoint: the go-sdk server behind mcpgate's
// request path, which authenticates with v, checks the policy, charges the
// rate limits, and audits every call.
func newHandler(v authn.Verifier, limits pipeline.RateLimiter, logger *slog.Logger) http.Handler {
	auth := authn.New(v, &authn.Options{Logger: logger})
	p := pipeline.New(auth, &pipeline.Options{
		Policy:    policy,
		RateLimit: limits,
		Audit:     func(ev *mcpgate.AuditEvent) { logAudit(logger, ev) },
	})
	server := newServer()
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	// SDKTokenInfo hands the principal to the SDK, where tool handlers
	// find it with authn.PrincipalFromRequest.
	return p.Handler(authn.SDKTokenInfo(sdk))
}

// WhoamiOutput is the output of the whoami tool.
type WhoamiOutput struct {
	Subject string   `json:"subject"`
	Method  string   `json:"method" jsonschema:"how the caller authenticated"`
	Scopes  []string `json:"scopes"`
}

// ClockOutput is the output of the clock tool.
type ClockOutput struct {
	Now time.Time `json:"now"`
}

func newServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "apikeys-example", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Who the server thinks you are."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoamiOutput, error) {
			caller := authn.PrincipalFromRequest(ctx, req)
			return nil, WhoamiOutput{Subject: caller.Subject, Method: caller.Method, Scopes: caller.Scopes}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "clock", Description: "The server's time. Needs the scope clock:read."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, ClockOutput, error) {
			return nil, ClockOutput{Now: time.Now().UTC()}, nil
		})
	return s
}

func logAudit(logger *slog.Logger, ev *mcpgate.AuditEvent) {
	logger.Info("audit", "subject", ev.Subject, "key", ev.KeyID, "method", ev.Method, "target", ev.Target,
		"decision", ev.Decision, "status", ev.Status, "latency", ev.Latency)
}

// serve listens on addr, prints the endpoint, and serves h until ctx is
// done; then it gives open requests (an SSE stream, a tool call) five
// seconds to end.
func serve(ctx context.Context, addr string, h http.Handler, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "MCP endpoint: http://%s/mcp\n", ln.Addr())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(shutdown) != nil {
			_ = srv.Close()
		}
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}
