//go:build mcpgate_testhooks

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/mcpgate/mcpgate/gateway"
)

// testUpstreams, in the binary the end-to-end tests build, adds an
// upstream at /mcp/test-panic when MCPGATE_TEST_PANIC=1: it panics with
// the request's headers and body formatted into the panic value, so that a
// test can show none of the credentials in them leaves the process.
func testUpstreams() []gateway.Upstream {
	if os.Getenv("MCPGATE_TEST_PANIC") != "1" {
		return nil
	}
	return []gateway.Upstream{{Name: "test-panic", Path: "/mcp/test-panic", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		type creds struct{ Authorization, Body string }
		panic(fmt.Sprintf("test upstream exploded: headers=%v body=%s creds=%+v", r.Header, body, creds{r.Header.Get("Authorization"), string(body)}))
	})}}
}
