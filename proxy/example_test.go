package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/proxy"
)

// The gateway authenticates the caller and mounts the proxy behind that;
// the upstream learns who is calling from mcpgate's headers, never from the
// client's token.
func ExampleNewHTTP() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("upstream: subject=%s scopes=%q authorization=%q\n",
			r.Header.Get(proxy.HeaderSubject), r.Header.Get(proxy.HeaderScopes), r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer upstream.Close()

	h, err := proxy.NewHTTP(upstream.URL+"/mcp", nil)
	if err != nil {
		panic(err)
	}
	authn := func(next http.Handler) http.Handler { // stands in for mcpgate's authentication
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pr := &mcpgate.Principal{Subject: "alice", Scopes: []string{"notes:read", "notes:write"}}
			next.ServeHTTP(w, r.WithContext(mcpgate.WithPrincipal(r.Context(), pr)))
		})
	}
	gateway := httptest.NewServer(authn(h))
	defer gateway.Close()

	req, _ := http.NewRequest("POST", gateway.URL+"/mcp/api", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer mcpg_secret")
	req.Header.Set("X-Mcpgate-Subject", "root")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// upstream: subject=alice scopes="notes:read notes:write" authorization=""
	// 200 {"jsonrpc":"2.0","id":1,"result":{}}
}
