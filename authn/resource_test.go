package authn

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/mcpgate/mcpgate"
)

// TestAuthenticatorNamesResource: an authenticator for one MCP endpoint
// tells the verifiers which endpoint a token is shown at, so that they
// refuse tokens issued for another.
func TestAuthenticatorNamesResource(t *testing.T) {
	var seen string
	v := VerifierFunc(func(ctx context.Context, _ string) (*mcpgate.Principal, error) {
		seen = mcpgate.ResourceFromContext(ctx)
		return &mcpgate.Principal{Subject: "alice"}, nil
	})
	for _, tc := range []struct{ resource, want string }{
		{"https://mcp.example.com/mcp/jira", "https://mcp.example.com/mcp/jira"},
		{"", ""},
	} {
		seen = "unset"
		a := New(Chain(nil, v), &Options{Resource: tc.resource})
		r := httptest.NewRequest("POST", "/mcp/jira", nil)
		r.Header.Set("Authorization", "Bearer a.b.c")
		if _, err := a.Check(r); err != nil {
			t.Fatal(err)
		}
		if seen != tc.want {
			t.Errorf("Resource %q: verifier saw %q, want %q", tc.resource, seen, tc.want)
		}
	}
}
