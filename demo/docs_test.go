package demo

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var docsReader = &mcpgate.Principal{Subject: "reader", Scopes: []string{ScopeDocsRead}}

func TestSearchDocs(t *testing.T) {
	cs := connect(t, NewServer(nil), docsReader)
	tests := []struct {
		name    string
		args    map[string]any
		wantErr string
		first   string // id of the first result, "" for none
		n       int    // number of results, -1: don't care
	}{
		{"keyword", map[string]any{"query": "rotate"}, "", "api-keys", -1},
		{"case-insensitive", map[string]any{"query": "PKCE"}, "", "oauth", -1},
		{"ranked by hits", map[string]any{"query": "redis retry-after 429"}, "", "rate-limits", -1},
		{"limit", map[string]any{"query": "mcpgate", "limit": 2}, "", "", 2},
		{"no match", map[string]any{"query": "xylophone"}, "", "", 0},
		{"empty query", map[string]any{"query": "  "}, "query is empty", "", 0},
		{"missing query", map[string]any{}, "query", "", 0},
		{"limit too large", map[string]any{"query": "a", "limit": 100}, "limit", "", 0},
		{"negative limit", map[string]any{"query": "a", "limit": -1}, "limit", "", 0},
		{"query too long", map[string]any{"query": strings.Repeat("x", 501)}, "longer", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res := callTool[SearchDocsOutput](t, cs, "search_docs", tt.args)
			if tt.wantErr != "" {
				if !res.IsError || !strings.Contains(toolText(t, res), tt.wantErr) {
					t.Fatalf("IsError %v, %q; want an error containing %q", res.IsError, toolText(t, res), tt.wantErr)
				}
				return
			}
			if res.IsError {
				t.Fatalf("tool error: %s", toolText(t, res))
			}
			if tt.n >= 0 && len(out.Results) != tt.n {
				t.Errorf("%d results, want %d: %+v", len(out.Results), tt.n, out.Results)
			}
			if tt.first != "" {
				if len(out.Results) == 0 {
					t.Fatal("no results")
				}
				if got := out.Results[0].ID; got != tt.first {
					t.Errorf("first result %s, want %s (%+v)", got, tt.first, out.Results)
				}
			}
			for i, h := range out.Results {
				if h.URI != "doc://"+h.ID || h.Hits <= 0 || h.Snippet == "" || h.Title == "" {
					t.Errorf("bad hit %+v", h)
				}
				if i > 0 && out.Results[i-1].Hits < h.Hits {
					t.Errorf("results not ranked by hits: %+v", out.Results)
				}
			}
		})
	}
}

func TestSearchSnippet(t *testing.T) {
	fsys := fstest.MapFS{
		"long.md": {Data: []byte("# Long\n\n" + strings.Repeat("filler words here. ", 40) + "The NEEDLE is here.\n" + strings.Repeat("more text. ", 40))},
		"utf8.md": {Data: []byte("# Ünïcode\n\nİstanbul ünïcode needle çafé")},
	}
	cs := connect(t, NewServer(&Options{Docs: fsys}), docsReader)
	out, res := callTool[SearchDocsOutput](t, cs, "search_docs", map[string]any{"query": "needle"})
	if res.IsError {
		t.Fatal(toolText(t, res))
	}
	if len(out.Results) != 2 {
		t.Fatalf("results %+v", out.Results)
	}
	for _, h := range out.Results {
		if !strings.Contains(strings.ToLower(h.Snippet), "needle") {
			t.Errorf("%s: snippet %q does not show the match", h.ID, h.Snippet)
		}
		if len(h.Snippet) > 260 {
			t.Errorf("%s: snippet of %d bytes", h.ID, len(h.Snippet))
		}
	}
}

func TestReadDoc(t *testing.T) {
	cs := connect(t, NewServer(nil), docsReader)
	res, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "doc://oauth"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Contents) != 1 {
		t.Fatalf("%d contents", len(res.Contents))
	}
	c := res.Contents[0]
	if !strings.HasPrefix(c.Text, "# OAuth\n") || c.MIMEType != "text/markdown" || c.URI != "doc://oauth" {
		t.Errorf("got %s %s %.40q", c.URI, c.MIMEType, c.Text)
	}
}

func TestAskDocs(t *testing.T) {
	cs := connect(t, NewServer(nil), docsReader)
	res, err := cs.GetPrompt(t.Context(), &mcp.GetPromptParams{Name: "ask_docs", Arguments: map[string]string{"question": " How do keys rotate? "}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || res.Messages[0].Role != "user" {
		t.Fatalf("messages = %+v, want one user message", res.Messages)
	}
	text := res.Messages[0].Content.(*mcp.TextContent).Text
	for _, want := range []string{"search_docs", "doc://{id}", "Question: How do keys rotate?"} {
		if !strings.Contains(text, want) {
			t.Errorf("prompt text lacks %q:\n%s", want, text)
		}
	}

	for name, args := range map[string]map[string]string{
		"no question": nil,
		"blank":       {"question": "  "},
		"too long":    {"question": strings.Repeat("x", maxQuestionLen+1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cs.GetPrompt(t.Context(), &mcp.GetPromptParams{Name: "ask_docs", Arguments: args})
			var werr *jsonrpc.Error
			if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams {
				t.Errorf("got error %v, want invalid params", err)
			}
		})
	}
}

func TestReadDocRejects(t *testing.T) {
	fsys := fstest.MapFS{
		"ok.md":          {Data: []byte("# OK\n")},
		"secret.txt":     {Data: []byte("secret")},
		"Upper.md":       {Data: []byte("# Upper\n")},
		"sub/inner.md":   {Data: []byte("# Inner\n")},
		"dir.md/x":       {Data: []byte("x")},
		"huge.md":        {Data: make([]byte, maxDocSize+1)},
		".hidden.md":     {Data: []byte("# Hidden\n")},
		"under_bar.md":   {Data: []byte("# Bar\n")},
		"dotted.name.md": {Data: []byte("# Dotted\n")},
	}
	cs := connect(t, NewServer(&Options{Docs: fsys}), docsReader)
	if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "doc://ok"}); err != nil {
		t.Fatalf("doc://ok: %v", err)
	}
	for _, uri := range []string{
		"doc://../secret", "doc://..%2fsecret", "doc://%2e%2e/secret", "doc://secret.txt", "doc://secret",
		"doc://Upper", "doc://upper", "doc://sub/inner", "doc://sub%2finner", "doc://dir", "doc://huge",
		"doc://.hidden", "doc://under_bar", "doc://dotted.name", "doc://", "doc://ok/", "doc://ok?x=1",
		"doc:///etc/passwd", "doc://" + strings.Repeat("a", 65), "docs://ok", "file:///etc/passwd",
	} {
		t.Run(uri, func(t *testing.T) {
			_, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri})
			assertNotFound(t, err)
		})
	}
	res, err := cs.ListResources(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Resources) != 1 || res.Resources[0].URI != "doc://ok" {
		t.Errorf("resources/list lists %+v, want only doc://ok", res.Resources)
	}
}

func TestTitle(t *testing.T) {
	tests := []struct{ body, want string }{
		{"# Hello\nx", "Hello"},
		{"intro\n\n#  Spaced  \n", "Spaced"},
		{"## Sub\nno top heading", "id"},
		{"", "id"},
		{"#\n# Real", "Real"},
	}
	for _, tt := range tests {
		if got := title("id", []byte(tt.body)); got != tt.want {
			t.Errorf("title(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func FuzzSnippet(f *testing.F) {
	f.Add("# Title\n\nİstanbul ünïcode needle", "needle")
	f.Add("ȺȺȺȺ abc", "abc")
	f.Add("\xff\xfe x", "x")
	f.Fuzz(func(t *testing.T, text, term string) {
		lower := strings.ToLower(text)
		term = strings.ToLower(term)
		at := strings.Index(lower, term)
		if term == "" || at < 0 {
			return
		}
		s := snippet(text, lower, at)
		if !utf8.ValidString(s) {
			t.Fatalf("snippet %q is not valid UTF-8", s)
		}
		if len(s) > snippetBefore+snippetAfter+2*utf8.UTFMax+2*len("…") {
			t.Fatalf("snippet of %d bytes", len(s))
		}
	})
}
