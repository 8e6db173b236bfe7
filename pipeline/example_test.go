package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/pipeline"
)

// The pipeline goes in front of any MCP handler; a go-sdk server would be
// mcp.NewStreamableHTTPHandler wrapped in authn.SDKTokenInfo (see the
// examples directory). The server behind sees only admitted requests, with
// the caller in the context.
func ExamplePipeline_Handler() {
	verifier := authn.VerifierFunc(func(_ context.Context, token string) (*mcpgate.Principal, error) {
		if token == "ann-token" { // an API key or a token, in a real server
			return &mcpgate.Principal{Subject: "ann", Scopes: []string{"docs:read"}}, nil
		}
		return nil, mcpgate.ErrUnauthenticated
	})
	policy := &authz.Policy{Tools: []authz.Rule{
		{Match: "search", Scopes: []string{"docs:read"}},
		{Match: "delete_*", Scopes: []string{"docs:write"}},
	}}
	server := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("server: %s calls %s\n", mcpgate.PrincipalFromContext(r.Context()).ID(), pipeline.FromContext(r.Context()).Calls[0].Name)
	})
	h := pipeline.New(authn.New(verifier, nil), &pipeline.Options{Policy: policy}).Handler(server)

	call := func(token, tool string) {
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `"}}`
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprint(w.Code, " ", w.Header().Get("WWW-Authenticate"))))
	}
	call("", "search")
	call("ann-token", "search")
	call("ann-token", "delete_doc")
	// Output:
	// 401 Bearer
	// server: ann calls search
	// 200
	// 403 Bearer error="insufficient_scope", scope="docs:write"
}
