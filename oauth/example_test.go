package oauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/mcpgate/mcpgate/oauth"
	"github.com/mcpgate/mcpgate/sqlite"
)

// ExampleNew mounts the authorization server beside a protected MCP
// endpoint, as the gateway does.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mcpgate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	srv, err := oauth.New(store, &oauth.Options{
		Resource:        "https://mcp.example.com/mcp",
		ScopesSupported: []string{"docs:read", "notes:read", "notes:write"},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	// mux.Handle("/mcp", authn(srv.Verifier(), mcpHandler))

	m := srv.Metadata()
	fmt.Println(m.Issuer)
	fmt.Println(m.AuthorizationEndpoint)
	fmt.Println(m.TokenEndpoint)
	fmt.Println(m.CodeChallengeMethodsSupported, m.ResponseTypesSupported)
	// Output:
	// https://mcp.example.com
	// https://mcp.example.com/authorize
	// https://mcp.example.com/token
	// [S256] [code]
}
