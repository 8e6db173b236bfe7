//go:build !conformance

package demo

import "github.com/modelcontextprotocol/go-sdk/mcp"

// registerDiagnostics adds nothing: the conformance suite's diagnostic
// tools exist only in a binary built with -tags conformance.
func registerDiagnostics(*mcp.Server) {}
