package authz

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseCalls(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Call
	}{
		{"tool call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"x"}}}`,
			[]Call{{Method: "tools/call", Name: "search_docs", ID: json.RawMessage(`1`)}}},
		{"resource read", `{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"doc://oauth"}}`,
			[]Call{{Method: "resources/read", Name: "doc://oauth", ID: json.RawMessage(`"a"`)}}},
		{"subscribe", `{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"notes://x"}}`,
			[]Call{{Method: "resources/subscribe", Name: "notes://x", ID: json.RawMessage(`2`)}}},
		{"unsubscribe", `{"jsonrpc":"2.0","id":2,"method":"resources/unsubscribe","params":{"uri":"notes://x"}}`,
			[]Call{{Method: "resources/unsubscribe", Name: "notes://x", ID: json.RawMessage(`2`)}}},
		{"prompt", `{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"review","arguments":{}}}`,
			[]Call{{Method: "prompts/get", Name: "review", ID: json.RawMessage(`3`)}}},
		{"name elsewhere is ignored", `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"name":"x"}}`,
			[]Call{{Method: "tools/list", ID: json.RawMessage(`3`)}}},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			[]Call{{Method: "notifications/initialized", Notification: true}}},
		{"null params", `{"jsonrpc":"2.0","id":4,"method":"ping","params":null}`,
			[]Call{{Method: "ping", ID: json.RawMessage(`4`)}}},
		{"response", `{"jsonrpc":"2.0","id":7,"result":{"action":"accept"}}`,
			[]Call{{ID: json.RawMessage(`7`)}}},
		{"error response with null id", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}`,
			[]Call{{ID: json.RawMessage(`null`)}}},
		{"escaped name", `{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"notes_\u0063reate"}}`,
			[]Call{{Method: "tools/call", Name: "notes_create", ID: json.RawMessage(`1`)}}},
		{"whitespace", " \n{ \"jsonrpc\" : \"2.0\" , \"id\" : -1.5e3 , \"method\" : \"tools/call\" , \"params\" : { \"name\" : \"t\" } }\n",
			[]Call{{Method: "tools/call", Name: "t", ID: json.RawMessage(`-1.5e3`)}}},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}},{"jsonrpc":"2.0","id":9,"result":{}}]`,
			[]Call{
				{Method: "tools/call", Name: "a", ID: json.RawMessage(`1`)},
				{Method: "notifications/cancelled", Notification: true},
				{ID: json.RawMessage(`9`)},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCalls([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseCalls: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d calls, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Method != w.Method || g.Name != w.Name || string(g.ID) != string(w.ID) || g.Notification != w.Notification {
					t.Errorf("call %d: got %+v (id %s), want %+v (id %s)", i, g, g.ID, w, w.ID)
				}
			}
		})
	}
}

func TestParseCallsErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		code int
	}{
		{"empty", ``, CodeParseError},
		{"garbage", `{"jsonrpc":`, CodeParseError},
		{"trailing", `{"jsonrpc":"2.0","method":"ping"} x`, CodeParseError},
		{"string", `"ping"`, CodeInvalidRequest},
		{"number", `1`, CodeInvalidRequest},
		{"empty batch", `[]`, CodeInvalidRequest},
		{"nested batch", `[[{"jsonrpc":"2.0","method":"ping"}]]`, CodeInvalidRequest},
		{"batch of numbers", `[1,2]`, CodeInvalidRequest},
		{"no version", `{"id":1,"method":"ping"}`, CodeInvalidRequest},
		{"old version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, CodeInvalidRequest},
		{"version number", `{"jsonrpc":2.0,"id":1,"method":"ping"}`, CodeInvalidRequest},
		{"method number", `{"jsonrpc":"2.0","id":1,"method":5}`, CodeInvalidRequest},
		{"method null", `{"jsonrpc":"2.0","id":1,"method":null}`, CodeInvalidRequest},
		{"params array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["a"]}`, CodeInvalidRequest},
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"a"}`, CodeInvalidRequest},
		{"name number", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}`, CodeInvalidRequest},
		{"uri object", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":{}}}`, CodeInvalidRequest},
		{"id object", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, CodeInvalidRequest},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"ping"}`, CodeInvalidRequest},
		{"request id null", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, CodeInvalidRequest},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}`, CodeInvalidRequest},
		{"duplicate name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`, CodeInvalidRequest},
		{"cased method", `{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}`, CodeInvalidRequest},
		{"escaped cased method", `{"jsonrpc":"2.0","id":1,"method":"ping","\u004dethod":"tools/call"}`, CodeInvalidRequest},
		{"cased name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","NAME":"b"}}`, CodeInvalidRequest},
		{"escaped duplicate", `{"jsonrpc":"2.0","id":1,"method":"ping","m\u0065thod":"tools/call"}`, CodeInvalidRequest},
		{"cased method value", `{"jsonrpc":"2.0","id":1,"method":"Tools/Call","params":{"name":"x"}}`, CodeInvalidRequest},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, CodeInvalidRequest},
		{"neither", `{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest},
		{"response without id", `{"jsonrpc":"2.0","result":{}}`, CodeInvalidRequest},
		{"request with result", `{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, CodeInvalidRequest},
		{"bad batch element", `[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":1}]`, CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, err := ParseCalls([]byte(tt.body))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseCalls(%s) = %+v, %v; want a *ParseError", tt.body, calls, err)
			}
			if got, want := pe.Code, tt.code; got != want {
				t.Errorf("code = %d, want %d (%v)", got, want, pe)
			}
		})
	}
}

func FuzzParseCalls(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs"}}`,
		`[{"jsonrpc":"2.0","id":"x","method":"resources/read","params":{"uri":"doc://a"}},{"jsonrpc":"2.0","method":"notifications/initialized"}]`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":""}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools\u002fcall","params":{"n\u0061me":"\ud800"}}`,
		`[`, `{}`, `null`, `[{},[]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		calls, err := ParseCalls(body)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if calls != nil {
				t.Fatalf("calls %v returned with error", calls)
			}
			return
		}
		if len(calls) == 0 {
			t.Fatal("no calls and no error")
		}
		// Whatever ParseCalls accepts, encoding/json reads the same way.
		var msgs []map[string]json.RawMessage
		if err := json.Unmarshal(body, &msgs); err != nil {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("accepted %q, which encoding/json rejects: %v", body, err)
			}
			msgs = []map[string]json.RawMessage{m}
		}
		if len(msgs) != len(calls) {
			t.Fatalf("%d calls for %d messages", len(calls), len(msgs))
		}
		for i, m := range msgs {
			var method string
			if raw, ok := m["method"]; ok {
				if err := json.Unmarshal(raw, &method); err != nil {
					t.Fatalf("method %s: %v", raw, err)
				}
			}
			if method != calls[i].Method {
				t.Fatalf("method %q, encoding/json reads %q", calls[i].Method, method)
			}
			if np := nameParam(method); np != "" && m["params"] != nil && string(m["params"]) != "null" {
				var params map[string]json.RawMessage
				if err := json.Unmarshal(m["params"], &params); err != nil {
					t.Fatalf("params: %v", err)
				}
				var name string
				if raw, ok := params[np]; ok {
					if err := json.Unmarshal(raw, &name); err != nil {
						t.Fatalf("%s %s: %v", np, raw, err)
					}
				}
				if name != calls[i].Name {
					t.Fatalf("name %q, encoding/json reads %q", calls[i].Name, name)
				}
			}
		}
	})
}

var benchBody = []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"notes_create","arguments":{"title":"Quarterly planning","body":"` +
	"Agenda: budgets, hiring, the roadmap for the next two quarters, and the migration of the billing system to the new gateway." +
	`"},"_meta":{"progressToken":"abc-123"}}}`)

// BenchmarkParseCalls compares ParseCalls with decoding the whole message
// into a map, the obvious alternative; compare the two ns/op.
func BenchmarkParseCalls(b *testing.B) {
	b.Run("ParseCalls", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseCalls(benchBody); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UnmarshalMap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(benchBody, &m); err != nil {
				b.Fatal(err)
			}
			params, _ := m["params"].(map[string]any)
			if _, ok := params["name"].(string); !ok {
				b.Fatal("no name")
			}
		}
	})
}
