package authz

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
	"go.yaml.in/yaml/v3"
)

const testPolicyYAML = `
tools:
  - match: notes_create
    scopes: [notes:write]
  - match: notes_*
    scopes: [notes:read]
  - match: search_docs
    scopes: [docs:read]
  - match: public_*
    scopes: []
resources:
  - match: doc://*
    scopes: [docs:read]
  - match: notes://*
    scopes: [notes:read]
prompts:
  - match: review
    scopes: [prompts:read, code:read]
methods:
  logging/setLevel: [admin]
  tools/call: [mcp]
  custom/*: [custom]
default: [other]
`

func mustPolicy(t *testing.T, src string) *Policy {
	t.Helper()
	var p Policy
	if err := yaml.Unmarshal([]byte(src), &p); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return &p
}

func TestRequired(t *testing.T) {
	p := mustPolicy(t, testPolicyYAML)
	tests := []struct {
		name string
		call Call
		want []string
	}{
		{"first match wins", Call{Method: "tools/call", Name: "notes_create"}, []string{"notes:write", "mcp"}},
		{"wildcard", Call{Method: "tools/call", Name: "notes_list"}, []string{"notes:read", "mcp"}},
		{"exact", Call{Method: "tools/call", Name: "search_docs"}, []string{"docs:read", "mcp"}},
		{"empty scopes rule", Call{Method: "tools/call", Name: "public_time"}, []string{"mcp"}},
		{"unmatched tool", Call{Method: "tools/call", Name: "delete_everything"}, []string{"other", "mcp"}},
		{"prefix is not a match", Call{Method: "tools/call", Name: "xnotes_list"}, []string{"other", "mcp"}},
		{"case matters", Call{Method: "tools/call", Name: "Notes_list"}, []string{"other", "mcp"}},
		{"resource", Call{Method: "resources/read", Name: "doc://oauth"}, []string{"docs:read"}},
		{"subscribe", Call{Method: "resources/subscribe", Name: "notes://abc"}, []string{"notes:read"}},
		{"unsubscribe", Call{Method: "resources/unsubscribe", Name: "notes://abc"}, []string{"notes:read"}},
		{"unmatched resource", Call{Method: "resources/read", Name: "file:///etc/passwd"}, []string{"other"}},
		{"prompt", Call{Method: "prompts/get", Name: "review"}, []string{"prompts:read", "code:read"}},
		{"unmatched prompt", Call{Method: "prompts/get", Name: "x"}, []string{"other"}},
		{"method override", Call{Method: "logging/setLevel"}, []string{"admin"}},
		{"method pattern", Call{Method: "custom/run"}, []string{"custom"}},
		{"unknown method needs default", Call{Method: "tasks/get"}, []string{"other"}},
		{"initialize", Call{Method: "initialize"}, nil},
		{"ping", Call{Method: "ping"}, nil},
		{"notification", Call{Method: "notifications/initialized", Notification: true}, nil},
		{"tools/list", Call{Method: "tools/list"}, nil},
		{"resources/templates/list", Call{Method: "resources/templates/list"}, nil},
		{"completion", Call{Method: "completion/complete"}, nil},
		{"response", Call{ID: json.RawMessage(`1`)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Required(tt.call); !slices.Equal(got, tt.want) {
				t.Errorf("Required(%+v) = %q, want %q", tt.call, got, tt.want)
			}
		})
	}
}

func TestRequiredNoDefault(t *testing.T) {
	p := &Policy{Tools: []Rule{{Match: "a", Scopes: []string{"s"}}}}
	if got := p.Required(Call{Method: "tools/call", Name: "b"}); len(got) != 0 {
		t.Errorf("unmatched tool with no default requires %q, want nothing", got)
	}
	if got := p.Required(Call{Method: "custom/x"}); len(got) != 0 {
		t.Errorf("unknown method with no default requires %q, want nothing", got)
	}
}

func TestCheck(t *testing.T) {
	p := mustPolicy(t, testPolicyYAML)
	batch := []Call{
		{Method: "tools/call", Name: "notes_create"},
		{Method: "resources/read", Name: "doc://a"},
		{Method: "tools/call", Name: "notes_list"},
		{Method: "notifications/initialized", Notification: true},
	}
	tests := []struct {
		name   string
		pr     *mcpgate.Principal
		calls  []Call
		want   []string
		wantOK bool
	}{
		{"all scopes", &mcpgate.Principal{Scopes: []string{"mcp", "notes:write", "notes:read", "docs:read"}}, batch, nil, true},
		{"some missing", &mcpgate.Principal{Scopes: []string{"mcp", "notes:read"}}, batch, []string{"docs:read", "notes:write"}, false},
		{"nil principal", nil, batch, []string{"docs:read", "mcp", "notes:read", "notes:write"}, false},
		{"free calls", nil, []Call{{Method: "initialize"}, {Method: "tools/list"}}, nil, true},
		{"empty batch", nil, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := p.Check(tt.pr, tt.calls)
			if !slices.Equal(got, tt.want) || ok != tt.wantOK {
				t.Errorf("Check = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	if got := p.Required(Call{Method: "tools/call", Name: "x"}); got != nil {
		t.Errorf("Required = %q, want nil", got)
	}
	if missing, ok := p.Check(nil, []Call{{Method: "tools/call", Name: "x"}}); !ok || missing != nil {
		t.Errorf("Check = %q, %v; want nil, true", missing, ok)
	}
	if !p.Allowed(nil, KindTool, "x") {
		t.Error("Allowed = false, want true")
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	in := json.RawMessage(`{"tools":[{"name":"x"}]}`)
	got, err := p.FilterListResult(nil, "tools/list", in)
	if err != nil || string(got) != string(in) {
		t.Errorf("FilterListResult = %s, %v; want input unchanged", got, err)
	}
}

func TestAllowed(t *testing.T) {
	p := mustPolicy(t, testPolicyYAML)
	pr := &mcpgate.Principal{Scopes: []string{"mcp", "docs:read"}}
	tests := []struct {
		kind, name string
		want       bool
	}{
		{KindTool, "search_docs", true},
		{KindTool, "notes_list", false},
		{KindResource, "doc://oauth", true},
		{KindResource, "doc://{id}", true},
		{KindResource, "notes://{id}", false},
		{KindPrompt, "review", false},
		{"widget", "search_docs", false},
	}
	for _, tt := range tests {
		if got := p.Allowed(pr, tt.kind, tt.name); got != tt.want {
			t.Errorf("Allowed(%s, %q) = %v, want %v", tt.kind, tt.name, got, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "anything/at all", true},
		{"notes_*", "notes_", true},
		{"notes_*", "notes_list", true},
		{"notes_*", "notes", false},
		{"doc://*", "doc://a/b", true},
		{"doc://*", "docs://a", false},
		{"*_list", "notes_list", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*a*a*a*b", strings.Repeat("a", 64), false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Policy
		wantErr string
	}{
		{"ok", Policy{Tools: []Rule{{Match: "*", Scopes: []string{"a:b", "x_y.z", "!#[]~"}}}}, ""},
		{"empty pattern", Policy{Tools: []Rule{{Match: "", Scopes: []string{"a"}}}}, "empty match"},
		{"explicitly open", Policy{Tools: []Rule{{Match: "x", Scopes: []string{}}}}, ""},
		{"scopes forgotten", Policy{Resources: []Rule{{Match: "x"}}}, "no scopes"},
		{"control char", Policy{Resources: []Rule{{Match: "doc://\n", Scopes: []string{"a"}}}}, "control"},
		{"space in scope", Policy{Prompts: []Rule{{Match: "p", Scopes: []string{"a b"}}}}, "invalid scope"},
		{"quote in scope", Policy{Tools: []Rule{{Match: "p", Scopes: []string{`a"`}}}}, "invalid scope"},
		{"backslash in scope", Policy{Tools: []Rule{{Match: "p", Scopes: []string{`a\`}}}}, "invalid scope"},
		{"empty scope", Policy{Default: []string{""}}, "invalid scope"},
		{"non-ascii scope", Policy{Default: []string{"é"}}, "invalid scope"},
		{"bad method scope", Policy{Methods: map[string][]string{"x": {" "}}}, "methods"},
		{"empty method", Policy{Methods: map[string][]string{"": {"a"}}}, "empty match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPolicyJSON(t *testing.T) {
	src := `{"tools":[{"match":"t*","scopes":["a"]}],"methods":{"x/y":["b"]},"default":["d"]}`
	var p Policy
	if err := json.Unmarshal([]byte(src), &p); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Required(Call{Method: "tools/call", Name: "tool"}), []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := p.Required(Call{Method: "x/y"}), []string{"b"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidateYAMLScopesForgotten(t *testing.T) {
	var p Policy
	if err := yaml.Unmarshal([]byte("tools:\n  - match: admin_*\n"), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "no scopes") {
		t.Errorf("Validate = %v, want a missing-scopes error", err)
	}
}
