package demo_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/demo"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The built-in server shows each caller only what its scopes allow. Behind
// the gateway the principal arrives in the request's token info; here a
// middleware puts it in the context.
func ExampleNewServer() {
	ctx := context.Background()
	srv := demo.NewServer(nil) // sample docs; no note store
	reader := &mcpgate.Principal{Subject: "ann", Scopes: []string{demo.ScopeDocsRead}}
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			return next(mcpgate.WithPrincipal(ctx, reader), method, req)
		}
	})

	st, ct := mcp.NewInMemoryTransports()
	if _, err := srv.Connect(ctx, st, nil); err != nil {
		log.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "example"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tools.Tools {
		fmt.Println(t.Name)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "grace", "limit": 1}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.StructuredContent.(map[string]any)["results"].([]any)[0].(map[string]any)["uri"])
	// Output:
	// search_docs
	// doc://api-keys
}
