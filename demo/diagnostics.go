//go:build conformance

//lint:file-ignore SA1019 the suite's diagnostic tools use logging and sampling, deprecated from 2026-07-28 (SEP-2577), to check how the server handles them.

package demo

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// registerDiagnostics adds the tools the MCP conformance suite calls by
// name to observe behaviour that the built-in tools never trigger: a
// request that needs a client capability the client did not declare, a log
// message for a request that asked for none, and changes to the tool and
// prompt lists. The suite cannot test those requirements of the server
// (the SDK's stateless handler behind mcpgate's request path) without them.
//
// They exist only in a binary built with -tags conformance, which
// scripts/conformance.sh builds to run the suite against the built-in
// server; mcpgate as shipped never lists them.
func registerDiagnostics(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{
		Name:        "test_missing_capability",
		Description: "Needs the client's sampling capability; without it, fails with MissingRequiredClientCapabilityError.",
	}, needsSampling)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "test_streaming_elicitation",
		Description: "Answers with a result and nothing else on the response stream.",
	}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		return textResult("result only"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "test_logging_tool",
		Description: "Logs a message, which reaches the client only if the request asked for a log level.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "test_logging_tool called"})
		return textResult("logged"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "test_trigger_tool_change",
		Description: "Adds a tool, so that the tool list changes.",
	}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		mcp.AddTool(s, &mcp.Tool{Name: "test_transient_tool", Description: "Added by test_trigger_tool_change."},
			func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
				return textResult("ok"), nil, nil
			})
		return textResult("tool list changed"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "test_trigger_prompt_change",
		Description: "Adds a prompt, so that the prompt list changes.",
	}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		s.AddPrompt(&mcp.Prompt{Name: "test_transient_prompt", Description: "Added by test_trigger_prompt_change."},
			func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return &mcp.GetPromptResult{}, nil
			})
		return textResult("prompt list changed"), nil, nil
	})
}

// needsSampling refuses, as the protocol requires, a request whose client
// did not declare the sampling capability it would need.
func needsSampling(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	if caps := req.ClientCapabilities(); caps != nil && caps.Sampling != nil {
		return textResult("the client can sample"), nil, nil
	}
	data, err := json.Marshal(mcp.MissingRequiredClientCapabilityData{
		RequiredCapabilities: &mcp.ClientCapabilities{Sampling: &mcp.SamplingCapabilities{}},
	})
	if err != nil {
		return nil, nil, err
	}
	return nil, nil, &jsonrpc.Error{
		Code:    mcp.CodeMissingRequiredClientCapabilities,
		Message: "this tool needs the sampling capability, which the client did not declare",
		Data:    data,
	}
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}
