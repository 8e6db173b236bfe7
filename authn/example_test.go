package authn_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
)

func ExampleParseBearer() {
	for _, h := range []string{"Bearer abc.def", "bearer   abc=", "Basic dXNlcjpwYXNz", "Bearer a b"} {
		token, err := authn.ParseBearer(h)
		fmt.Printf("%q %v\n", token, err)
	}
	// Output:
	// "abc.def" <nil>
	// "abc=" <nil>
	// "" unauthenticated: no bearer credential (unsupported scheme)
	// "" unauthenticated: malformed bearer credential
}

func ExampleAuthenticator_Handler() {
	// A KeyVerifier over a store would go here; Chain routes API keys to it.
	var keys authn.Verifier = authn.VerifierFunc(func(_ context.Context, token string) (*mcpgate.Principal, error) {
		return nil, mcpgate.ErrUnauthenticated
	})
	a := authn.New(authn.Chain(keys), &authn.Options{
		ResourceMetadataURL: "https://gw.example/.well-known/oauth-protected-resource/mcp",
	})
	h := a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello", mcpgate.PrincipalFromContext(r.Context()).ID())
	}))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/mcp", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	fmt.Print(w.Body.String())
	// Output:
	// 401 Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource/mcp"
	// {"error":"unauthorized","error_description":"a valid bearer credential is required"}
}
