package proxy_test

import (
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/proxy"
)

func TestUpstreamValidate(t *testing.T) {
	tests := []struct {
		name string
		u    proxy.Upstream
		want string // substring of the error, "" for none
	}{
		{"http", proxy.Upstream{Name: "api", URL: "http://127.0.0.1:9000/mcp"}, ""},
		{"stdio", proxy.Upstream{Name: "everything", Command: []string{"node", "index.js", "stdio"}, Mode: "shared", Env: map[string]string{"A": "b"}}, ""},
		{"dotted name", proxy.Upstream{Name: "files.v2", URL: "http://x/mcp"}, ""},
		{"no name", proxy.Upstream{URL: "http://x/mcp"}, "upstream name"},
		{"slash in name", proxy.Upstream{Name: "a/b", URL: "http://x/mcp"}, "upstream name"},
		{"upper case", proxy.Upstream{Name: "API", URL: "http://x/mcp"}, "upstream name"},
		{"leading dot", proxy.Upstream{Name: ".x", URL: "http://x/mcp"}, "upstream name"},
		{"too long", proxy.Upstream{Name: strings.Repeat("a", 65), URL: "http://x/mcp"}, "upstream name"},
		{"neither", proxy.Upstream{Name: "x"}, "needs url or command"},
		{"both", proxy.Upstream{Name: "x", URL: "http://x", Command: []string{"a"}}, "both"},
		{"env on url", proxy.Upstream{Name: "x", URL: "http://x", Env: map[string]string{"A": "b"}}, "command only"},
		{"empty program", proxy.Upstream{Name: "x", Command: []string{""}}, "empty program"},
		{"bad mode", proxy.Upstream{Name: "x", Command: []string{"a"}, Mode: "pool"}, "mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.u.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidateAllRejectsDuplicateNames(t *testing.T) {
	us := []proxy.Upstream{{Name: "a", URL: "http://x/mcp"}, {Name: "a", URL: "http://y/mcp"}}
	if err := proxy.ValidateAll(us); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("ValidateAll = %v", err)
	}
}

func TestNewBuildsBothKinds(t *testing.T) {
	h, closeFn, err := proxy.New(proxy.Upstream{Name: "api", URL: "http://127.0.0.1:9/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.(*proxy.HTTP); !ok {
		t.Errorf("url upstream: handler %T", h)
	}
	closeFn()
	cmd := testChild(t, "plain")
	h, closeFn, err = proxy.New(proxy.Upstream{Name: "child", Command: []string{cmd.Path}, Env: cmd.Env, Mode: proxy.ModeShared}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, ok := h.(*proxy.Stdio); !ok {
		t.Errorf("command upstream: handler %T", h)
	}
	if _, _, err := proxy.New(proxy.Upstream{Name: "bad"}, nil); err == nil {
		t.Error("New accepted an upstream with neither url nor command")
	}
}
