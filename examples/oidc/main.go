// Command oidc is the MCP server of examples/apikeys trusting the JWT
// access tokens of an OpenID Connect provider the company already runs
// (Keycloak, Entra ID, Okta, Auth0, …): mcpgate validates each token
// against the provider's published keys, locally, with package idp.
//
//	go run ./examples/oidc -issuer https://id.example.com/realms/acme
//
// The audience the tokens must carry is the MCP endpoint's URL unless
// -audience says otherwise. A 401 names the protected resource metadata
// (RFC 9728), served here too, which tells an MCP client where to get a
// token. With -data, mcpgate API keys from that store are accepted as
// well: one authenticator, keys first, then the provider's tokens.
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

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/idp"
	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "oidc:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("oidc", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8080", "address to listen on")
	issuer := flags.String("issuer", "", "issuer identifier of the OpenID Connect provider (required)")
	audience := flags.String("audience", "", "audience the tokens must carry; the MCP endpoint's URL if empty")
	data := flags.String("data", "", "data directory of a SQLite store whose API keys are accepted too; none if empty")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *issuer == "" {
		return errors.New("-issuer is required")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	endpoint := base + "/mcp"
	metadataURL := base + "/.well-known/oauth-protected-resource/mcp"
	if *audience == "" {
		*audience = endpoint
	}

	// The provider's metadata and keys are read now; its tokens are
	// checked locally from then on, and keys it rotates are fetched when
	// a token names one.
	tokens, err := idp.New([]idp.Issuer{{Issuer: *issuer, Audience: *audience}}, nil, &idp.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer tokens.Close()

	var keys authn.Verifier // nil: API keys are refused
	if *data != "" {
		store, err := sqlite.Open(ctx, *data)
		if err != nil {
			return err
		}
		defer store.Close()
		kv := authn.NewKeyVerifier(store, &authn.KeyVerifierOptions{Logger: logger})
		defer kv.Close()
		// The change feed carries key revocations, and revocations of
		// the provider's tokens, subjects and clients made with the CLI.
		go func() {
			_ = authn.WatchChanges(ctx, store, 0, func(c mcpgate.Change) { kv.Apply(c); tokens.Apply(c) })
		}()
		keys = kv
	}

	auth := authn.New(authn.Chain(keys, tokens), &authn.Options{
		ResourceMetadataURL: metadataURL,
		Scope:               "clock:read",
		Logger:              logger,
	})
	p := pipeline.New(auth, &pipeline.Options{Policy: policy, ResourceMetadataURL: metadataURL})
	server := newServer()
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)

	mux := http.NewServeMux()
	mux.Handle("/mcp", p.Handler(authn.SDKTokenInfo(sdk)))
	mux.Handle("/.well-known/oauth-protected-resource/mcp", resourceMetadata(endpoint, *issuer))
	return serve(ctx, ln, mux, out)
}

// resourceMetadata serves the protected resource metadata of the endpoint
// ([RFC 9728]): the provider is its authorization server.
//
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728
func resourceMetadata(endpoint, issuer string) http.Handler {
	return auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               endpoint,
		AuthorizationServers:   []string{issuer},
		ScopesSupported:        []string{"clock:read"},
		BearerMethodsSupported: []string{"header"},
	})
}

// policy says which scopes each tool needs; a tool it does not name needs
// none beyond authentication.
var policy = &authz.Policy{
	Tools: []authz.Rule{{Match: "clock", Scopes: []string{"clock:read"}}},
}

// WhoamiOutput is the output of the whoami tool.
type WhoamiOutput struct {
	Subject string   `json:"subject"`
	Issuer  string   `json:"issuer,omitempty" jsonschema:"the provider that vouched for the caller"`
	Method  string   `json:"method" jsonschema:"how the caller authenticated"`
	Scopes  []string `json:"scopes"`
}

// ClockOutput is the output of the clock tool.
type ClockOutput struct {
	Now time.Time `json:"now"`
}

func newServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "oidc-example", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Who the server thinks you are."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoamiOutput, error) {
			caller := authn.PrincipalFromRequest(ctx, req)
			return nil, WhoamiOutput{Subject: caller.Subject, Issuer: caller.Issuer, Method: caller.Method, Scopes: caller.Scopes}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "clock", Description: "The server's time. Needs the scope clock:read."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, ClockOutput, error) {
			return nil, ClockOutput{Now: time.Now().UTC()}, nil
		})
	return s
}

// serve prints the endpoint and serves h on ln until ctx is done; then it
// gives open requests five seconds to end.
func serve(ctx context.Context, ln net.Listener, h http.Handler, out io.Writer) error {
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
