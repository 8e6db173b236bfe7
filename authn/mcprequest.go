package authn

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
)

// PrincipalFromRequest returns the caller of an MCP request that a go-sdk
// server received: the one call a tool, resource or prompt handler makes to
// learn who is calling.
//
//	func list(ctx context.Context, req *mcp.CallToolRequest, _ In) (*mcp.CallToolResult, Out, error) {
//		caller := authn.PrincipalFromRequest(ctx, req)
//		…
//	}
//
// In a stateful session the SDK runs handlers in a context made from an
// earlier HTTP request of the session, not from the one that carried the
// call: [mcpgate.PrincipalFromContext] there gives the same caller, but as
// authenticated then, with the scopes and expiry it had. The principal of
// the call itself is in req's TokenInfo, which [Authenticator.Handler]
// puts there, or [SDKTokenInfo] behind a pipeline:
//
//	http.Handle("/mcp", pipeline.New(auth, opts).Handler(authn.SDKTokenInfo(mcp.NewStreamableHTTPHandler(…))))
//
// Without TokenInfo it falls back to the principal in ctx, which server
// middleware may set with [mcpgate.WithPrincipal] (for in-memory transports
// and tests). It returns nil when neither holds one.
func PrincipalFromRequest(ctx context.Context, req mcp.Request) *mcpgate.Principal {
	if req != nil {
		if extra := req.GetExtra(); extra != nil {
			if p := PrincipalFromTokenInfo(extra.TokenInfo); p != nil {
				return p
			}
		}
	}
	return mcpgate.PrincipalFromContext(ctx)
}
