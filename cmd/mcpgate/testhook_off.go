//go:build !mcpgate_testhooks

package main

import "github.com/mcpgate/mcpgate/gateway"

// testUpstreams is empty in the mcpgate that is shipped; the end-to-end
// tests build with the mcpgate_testhooks tag (testhook_on.go).
func testUpstreams() []gateway.Upstream { return nil }
