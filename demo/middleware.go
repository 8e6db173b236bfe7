package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/authz"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// CodeInsufficientScope is the JSON-RPC error code of a request that
// Enforce refuses. It comes from the range JSON-RPC leaves to servers and
// avoids the codes the Go SDK itself uses (-32001 to -32005, -32020 to
// -32022, -32042), which clients may treat specially: -32003, for one,
// means "client is closing" to the SDK.
const CodeInsufficientScope = -32011

// callOf returns the authz.Call of a request received by a server.
func callOf(method string, req mcp.Request) authz.Call {
	c := authz.Call{Method: method}
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParamsRaw:
		c.Name = p.Name
	case *mcp.CallToolParams:
		c.Name = p.Name
	case *mcp.ReadResourceParams:
		c.Name = p.URI
	case *mcp.SubscribeParams:
		c.Name = p.URI
	case *mcp.UnsubscribeParams:
		c.Name = p.URI
	case *mcp.GetPromptParams:
		c.Name = p.Name
	}
	return c
}

// Enforce returns server middleware that refuses calls the caller's scopes
// do not cover under p: a tool call gets an error result naming the missing
// scopes, any other request a JSON-RPC error with code
// CodeInsufficientScope. A nil policy allows everything.
func Enforce(p *authz.Policy) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if p == nil {
				return next(ctx, method, req)
			}
			pr := principalFrom(ctx, req.GetExtra())
			missing, ok := p.Check(pr, []authz.Call{callOf(method, req)})
			if ok {
				return next(ctx, method, req)
			}
			msg := "insufficient scope: requires " + strings.Join(missing, " ")
			if pr == nil {
				msg = "authentication required"
			}
			if method == "tools/call" {
				var res mcp.CallToolResult
				res.SetError(fmt.Errorf("%s", msg))
				return &res, nil
			}
			data, _ := json.Marshal(map[string][]string{"missing": missing})
			return nil, &jsonrpc.Error{Code: CodeInsufficientScope, Message: msg, Data: data}
		}
	}
}

// FilterLists returns server middleware that removes from tools/list,
// resources/list and resources/templates/list results (and prompts/list)
// what the caller's scopes do not allow under p, so that a client never
// offers the model a tool it cannot call. A nil policy filters nothing.
func FilterLists(p *authz.Policy) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if err != nil || p == nil || res == nil {
				return res, err
			}
			pr := principalFrom(ctx, req.GetExtra())
			switch r := res.(type) {
			case *mcp.ListToolsResult:
				r.Tools = keep(r.Tools, func(t *mcp.Tool) bool { return p.Allowed(pr, authz.KindTool, t.Name) })
			case *mcp.ListResourcesResult:
				r.Resources = keep(r.Resources, func(x *mcp.Resource) bool { return p.Allowed(pr, authz.KindResource, x.URI) })
			case *mcp.ListResourceTemplatesResult:
				r.ResourceTemplates = keep(r.ResourceTemplates, func(x *mcp.ResourceTemplate) bool {
					return p.Allowed(pr, authz.KindResource, x.URITemplate)
				})
			case *mcp.ListPromptsResult:
				r.Prompts = keep(r.Prompts, func(x *mcp.Prompt) bool { return p.Allowed(pr, authz.KindPrompt, x.Name) })
			}
			return res, nil
		}
	}
}

// keep returns a new slice of the elements of s for which ok is true; it
// never modifies s, whose elements the server shares between sessions.
func keep[T any](s []T, ok func(T) bool) []T {
	out := make([]T, 0, len(s))
	for _, x := range s {
		if ok(x) {
			out = append(out, x)
		}
	}
	return slices.Clip(out)
}
