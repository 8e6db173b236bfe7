package authz_test

import (
	"encoding/json"
	"fmt"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
)

func ExamplePolicy_Check() {
	p := &authz.Policy{
		Tools:     []authz.Rule{{Match: "notes_create", Scopes: []string{"notes:write"}}, {Match: "notes_*", Scopes: []string{"notes:read"}}},
		Resources: []authz.Rule{{Match: "doc://*", Scopes: []string{"docs:read"}}},
	}
	calls, err := authz.ParseCalls([]byte(`[
		{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes_create","arguments":{"title":"t","body":"b"}}},
		{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"doc://oauth"}}
	]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	pr := &mcpgate.Principal{Subject: "ann", Scopes: []string{"docs:read"}}
	missing, ok := p.Check(pr, calls)
	fmt.Println(missing, ok)
	// Output: [notes:write] false
}

func ExamplePolicy_FilterListResult() {
	p := &authz.Policy{Tools: []authz.Rule{{Match: "search_docs", Scopes: []string{"docs:read"}}, {Match: "*", Scopes: []string{"admin"}}}}
	pr := &mcpgate.Principal{Subject: "ann", Scopes: []string{"docs:read"}}
	res, err := p.FilterListResult(pr, "tools/list", json.RawMessage(`{"tools":[{"name":"search_docs"},{"name":"shutdown"}],"nextCursor":"2"}`))
	fmt.Println(string(res), err)
	// Output: {"tools":[{"name":"search_docs"}],"nextCursor":"2"} <nil>
}

func ExampleParseCalls() {
	_, err := authz.ParseCalls([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}`))
	fmt.Println(err)
	// Output: jsonrpc error -32600: member "Method" must be spelled "method"
}
