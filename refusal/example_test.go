package refusal_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/mcpgate/mcpgate/refusal"
)

// A handler that refuses a request writes it with Write: the status, the
// body shape and the audit decision come from the kind; Err is for the log.
func ExampleWrite() {
	w := httptest.NewRecorder()
	refusal.Write(w, &refusal.Refusal{
		Kind: refusal.BodyTooLarge,
		ID:   json.RawMessage(`7`),
		Err:  errors.New("4 MiB read, limit 4 MiB"),
	})
	fmt.Println(w.Code, refusal.BodyTooLarge.Decision())
	fmt.Println(strings.TrimSpace(w.Body.String()))

	w = httptest.NewRecorder()
	refusal.Write(w, &refusal.Refusal{
		Kind:      refusal.Unauthenticated,
		Challenge: refusal.Challenge("resource_metadata", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
	})
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	fmt.Println(strings.TrimSpace(w.Body.String()))
	// Output:
	// 413 too_large
	// {"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"request body too large"}}
	// 401 Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	// {"error":"unauthorized","error_description":"a valid bearer credential is required"}
}
