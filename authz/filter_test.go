package authz

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
)

func TestFilterListResult(t *testing.T) {
	p := &Policy{
		Tools:     []Rule{{Match: "search_docs", Scopes: []string{"docs:read"}}, {Match: "notes_*", Scopes: []string{"notes:read"}}},
		Resources: []Rule{{Match: "doc://*", Scopes: []string{"docs:read"}}, {Match: "notes://*", Scopes: []string{"notes:read"}}},
		Prompts:   []Rule{{Match: "open", Scopes: nil}},
		Default:   []string{"admin"},
	}
	docsOnly := &mcpgate.Principal{Scopes: []string{"docs:read"}}
	tests := []struct {
		name   string
		pr     *mcpgate.Principal
		method string
		in     string
		want   string
	}{
		{"tools keep cursor and extras", docsOnly, "tools/list",
			`{"tools":[{"name":"search_docs","inputSchema":{"type":"object"}},{"name":"notes_list"},{"name":"x","z":1}],"nextCursor":"abc","_meta":{"k":[1,2]},"future":true}`,
			`{"tools":[{"name":"search_docs","inputSchema":{"type":"object"}}],"nextCursor":"abc","_meta":{"k":[1,2]},"future":true}`},
		{"nothing removed is byte-identical", &mcpgate.Principal{Scopes: []string{"docs:read", "notes:read", "admin"}}, "tools/list",
			"{ \"tools\" : [ {\"name\":\"search_docs\"} ,\n {\"name\":\"notes_list\"} ] , \"nextCursor\":\"c\" }",
			"{ \"tools\" : [ {\"name\":\"search_docs\"} ,\n {\"name\":\"notes_list\"} ] , \"nextCursor\":\"c\" }"},
		{"all removed", nil, "tools/list",
			`{"tools":[{"name":"search_docs"},{"name":"notes_list"}],"nextCursor":"c"}`,
			`{"tools":[],"nextCursor":"c"}`},
		{"resources by uri", docsOnly, "resources/list",
			`{"resources":[{"uri":"notes://1","name":"n"},{"uri":"doc://oauth","name":"oauth"}]}`,
			`{"resources":[{"uri":"doc://oauth","name":"oauth"}]}`},
		{"templates by uriTemplate", docsOnly, "resources/templates/list",
			`{"resourceTemplates":[{"uriTemplate":"doc://{id}","name":"doc"},{"uriTemplate":"notes://{id}","name":"note"}]}`,
			`{"resourceTemplates":[{"uriTemplate":"doc://{id}","name":"doc"}]}`},
		{"prompts", nil, "prompts/list",
			`{"prompts":[{"name":"open"},{"name":"closed"}]}`,
			`{"prompts":[{"name":"open"}]}`},
		{"entry without name is removed", docsOnly, "tools/list",
			`{"tools":[{"title":"?"},{"name":5},"str",{"name":"search_docs"}]}`,
			`{"tools":[{"name":"search_docs"}]}`},
		{"every spelling of the name must pass", docsOnly, "tools/list",
			`{"tools":[{"name":"search_docs","NAME":"notes_list"},{"name":"search_docs"}]}`,
			`{"tools":[{"name":"search_docs"}]}`},
		{"every copy of the array is filtered", docsOnly, "tools/list",
			`{"tools":[{"name":"search_docs"}],"Tools":[{"name":"notes_list"}],"tools":[{"name":"x"}]}`,
			`{"tools":[{"name":"search_docs"}],"Tools":[],"tools":[]}`},
		{"escaped names", docsOnly, "tools/list",
			`{"tools":[{"name":"search\u005fdocs"},{"n\u0061me":"notes_list"}]}`,
			`{"tools":[{"name":"search\u005fdocs"}]}`},
		{"other method untouched", nil, "tools/call",
			`{"content":[{"type":"text","text":"x"}]}`,
			`{"content":[{"type":"text","text":"x"}]}`},
		{"null array untouched", nil, "tools/list", `{"tools":null}`, `{"tools":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.FilterListResult(tt.pr, tt.method, json.RawMessage(tt.in))
			if err != nil {
				t.Fatalf("FilterListResult: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("result is not valid JSON")
			}
		})
	}
}

func TestFilterListResultErrors(t *testing.T) {
	p := &Policy{Default: []string{"x"}}
	for _, in := range []string{``, `{`, `[]`, `"tools"`, `{"tools":[}`} {
		if got, err := p.FilterListResult(nil, "tools/list", json.RawMessage(in)); err == nil {
			t.Errorf("FilterListResult(%q) = %s, want an error", in, got)
		}
	}
}

func TestFilterResponse(t *testing.T) {
	p := &Policy{Tools: []Rule{{Match: "a", Scopes: nil}}, Default: []string{"admin"}}
	tests := []struct {
		name, method, in, want string
	}{
		{"result filtered", "tools/list",
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a"},{"name":"b"}],"nextCursor":"n"}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a"}],"nextCursor":"n"}}`},
		{"error untouched", "tools/list",
			`{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"m"}}`,
			`{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"m"}}`},
		{"other method untouched", "ping",
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b"}]}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b"}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.FilterResponse(nil, tt.method, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	for _, in := range []string{`{`, `[{"jsonrpc":"2.0","id":1,"result":{}}]`} {
		if _, err := p.FilterResponse(nil, "tools/list", []byte(in)); err == nil {
			t.Errorf("FilterResponse(%s): want an error", in)
		}
	}
}

func FuzzFilterListResult(f *testing.F) {
	f.Add(`{"tools":[{"name":"a"},{"name":"b","x":[1,{"y":"]"}]}],"nextCursor":"c"}`)
	f.Add(`{"tools":[{"name":"a\"]"}],"TOOLS":[{"name":"b"}]}`)
	p := &Policy{Tools: []Rule{{Match: "a*", Scopes: nil}}, Default: []string{"admin"}}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := p.FilterListResult(nil, "tools/list", json.RawMessage(in))
		if err != nil {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("output %s is not valid JSON", got)
		}
		var res map[string]json.RawMessage
		if json.Unmarshal(got, &res) != nil {
			return
		}
		for k, v := range res {
			if !strings.EqualFold(k, "tools") {
				continue
			}
			var tools []map[string]any
			if json.Unmarshal(v, &tools) != nil {
				continue
			}
			for _, tool := range tools {
				named := false
				for k, v := range tool {
					if !strings.EqualFold(k, "name") {
						continue
					}
					named = true
					if name, _ := v.(string); !strings.HasPrefix(name, "a") {
						t.Fatalf("tool %q survived filtering: %s", name, got)
					}
				}
				if !named {
					t.Fatalf("tool without a name survived filtering: %s", got)
				}
			}
		}
	})
}

// BenchmarkFilterListResult compares the byte-splicing filter with the
// obvious alternative, decoding the result into a map and encoding it again.
func BenchmarkFilterListResult(b *testing.B) {
	var tools []string
	for i := range 50 {
		name := "search_docs"
		if i%2 == 1 {
			name = "admin_tool"
		}
		tools = append(tools, `{"name":"`+name+`","description":"A tool that does something useful with a long description.","inputSchema":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}`)
	}
	result := json.RawMessage(`{"tools":[` + strings.Join(tools, ",") + `],"nextCursor":"abc"}`)
	p := &Policy{Tools: []Rule{{Match: "search_*", Scopes: []string{"docs:read"}}}, Default: []string{"admin"}}
	pr := &mcpgate.Principal{Scopes: []string{"docs:read"}}
	b.Run("FilterListResult", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.FilterListResult(pr, "tools/list", result); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UnmarshalMarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(result, &m); err != nil {
				b.Fatal(err)
			}
			var kept []any
			for _, t := range m["tools"].([]any) {
				if name, _ := t.(map[string]any)["name"].(string); p.Allowed(pr, KindTool, name) {
					kept = append(kept, t)
				}
			}
			m["tools"] = kept
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
