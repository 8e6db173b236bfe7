package demo

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/sqlite"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var allScopes = []string{ScopeDocsRead, ScopeNotesRead, ScopeNotesWrite}

func mustStore(t *testing.T) mcpgate.NoteStore {
	t.Helper()
	db, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// connect runs srv over in-memory transports and returns a client session
// whose requests carry pr (nil: no principal).
func connect(t *testing.T, srv *mcp.Server, pr *mcpgate.Principal) *mcp.ClientSession {
	t.Helper()
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if pr != nil {
				ctx = mcpgate.WithPrincipal(ctx, pr)
			}
			return next(ctx, method, req)
		}
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// httpClients serves srv over Streamable HTTP behind bearer authentication
// and returns a client session for each principal, keyed by its ID().
func httpClients(t *testing.T, srv *mcp.Server, prs ...*mcpgate.Principal) map[string]*mcp.ClientSession {
	t.Helper()
	tokens := map[string]*mcpgate.Principal{}
	for _, pr := range prs {
		tokens["tok-"+pr.ID()] = pr
	}
	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		pr, ok := tokens[token]
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{
			Scopes:     pr.Scopes,
			Expiration: time.Now().Add(time.Hour),
			UserID:     pr.ID(),
			Extra:      map[string]any{"principal": pr},
		}, nil
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts := httptest.NewServer(auth.RequireBearerToken(verify, nil)(h))
	t.Cleanup(ts.Close)
	out := map[string]*mcp.ClientSession{}
	for token, pr := range tokens {
		hc := &http.Client{Transport: bearer{token, http.DefaultTransport}}
		tr := &mcp.StreamableClientTransport{Endpoint: ts.URL, HTTPClient: hc, DisableStandaloneSSE: true}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(t.Context(), tr, nil)
		if err != nil {
			t.Fatalf("client connect as %s: %v", pr.Subject, err)
		}
		t.Cleanup(func() { cs.Close() })
		out[pr.ID()] = cs
	}
	return out
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func toolText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func callTool[Out any](t *testing.T, cs *mcp.ClientSession, name string, args any) (Out, *mcp.CallToolResult) {
	t.Helper()
	var out Out
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool %s: %v", name, err)
	}
	if !res.IsError {
		raw, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s output %s: %v", name, raw, err)
		}
	}
	return out, res
}

func TestListAll(t *testing.T) {
	cs := connect(t, NewServer(&Options{Notes: mustStore(t)}), &mcpgate.Principal{Subject: "ann", Scopes: allScopes})
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		schema, _ := json.Marshal(tl.InputSchema)
		if !strings.Contains(string(schema), `"type":"object"`) {
			t.Errorf("tool %s input schema %s is not an object schema", tl.Name, schema)
		}
	}
	if got, want := names, []string{"notes_create", "notes_list", "search_docs"}; !slices.Equal(got, want) {
		t.Errorf("tools = %q, want %q", got, want)
	}

	res, err := cs.ListResources(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range res.Resources {
		uris = append(uris, r.URI)
		if r.Title == "" || r.Title == r.Name || r.MIMEType != "text/markdown" {
			t.Errorf("resource %s: title %q, mime %q", r.URI, r.Title, r.MIMEType)
		}
	}
	if got, want := uris, []string{"doc://api-keys", "doc://getting-started", "doc://oauth", "doc://rate-limits", "doc://scopes"}; !slices.Equal(got, want) {
		t.Errorf("resources = %q, want %q", got, want)
	}

	tmpls, err := cs.ListResourceTemplates(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ts []string
	for _, tm := range tmpls.ResourceTemplates {
		ts = append(ts, tm.URITemplate)
	}
	if got, want := ts, []string{"doc://{id}", "notes://{id}"}; !slices.Equal(got, want) {
		t.Errorf("templates = %q, want %q", got, want)
	}

	prompts, err := cs.ListPrompts(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != "ask_docs" {
		t.Errorf("prompts = %+v, want ask_docs", prompts.Prompts)
	}
	if caps := cs.InitializeResult().Capabilities; caps.Prompts == nil || caps.Tools == nil || caps.Resources == nil {
		t.Errorf("capabilities %+v do not declare tools, resources and prompts", caps)
	}
}

func TestListFiltered(t *testing.T) {
	tests := []struct {
		name      string
		scopes    []string
		tools     []string
		resources int
		templates []string
		prompts   []string
	}{
		{"docs only", []string{ScopeDocsRead}, []string{"search_docs"}, 5, []string{"doc://{id}"}, []string{"ask_docs"}},
		{"notes read", []string{ScopeNotesRead}, []string{"notes_list"}, 0, []string{"notes://{id}"}, nil},
		{"notes write", []string{ScopeNotesWrite}, []string{"notes_create"}, 0, nil, nil},
		{"no scopes", nil, nil, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := connect(t, NewServer(&Options{Notes: mustStore(t)}), &mcpgate.Principal{Subject: "ann", Scopes: tt.scopes})
			tools, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			if !slices.Equal(names, tt.tools) {
				t.Errorf("tools = %q, want %q", names, tt.tools)
			}
			res, err := cs.ListResources(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(res.Resources); got != tt.resources {
				t.Errorf("%d resources, want %d", got, tt.resources)
			}
			tmpls, err := cs.ListResourceTemplates(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ts []string
			for _, tm := range tmpls.ResourceTemplates {
				ts = append(ts, tm.URITemplate)
			}
			if !slices.Equal(ts, tt.templates) {
				t.Errorf("templates = %q, want %q", ts, tt.templates)
			}
			prompts, err := cs.ListPrompts(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ps []string
			for _, p := range prompts.Prompts {
				ps = append(ps, p.Name)
			}
			if !slices.Equal(ps, tt.prompts) {
				t.Errorf("prompts = %q, want %q", ps, tt.prompts)
			}
		})
	}
}

func TestEnforce(t *testing.T) {
	cs := connect(t, NewServer(&Options{Notes: mustStore(t)}), &mcpgate.Principal{Subject: "ann", Scopes: []string{ScopeDocsRead}})
	_, res := callTool[NoteRef](t, cs, "notes_create", map[string]any{"title": "t", "body": "b"})
	if !res.IsError || !strings.Contains(toolText(t, res), "notes:write") {
		t.Errorf("notes_create without notes:write: IsError %v, %q", res.IsError, toolText(t, res))
	}
	_, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "notes://abc"})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != CodeInsufficientScope {
		t.Errorf("reading a note without notes:read: %v, want code %d", err, CodeInsufficientScope)
	}
	if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "doc://oauth"}); err != nil {
		t.Errorf("reading a doc with docs:read: %v", err)
	}

	cs = connect(t, NewServer(nil), &mcpgate.Principal{Subject: "ann", Scopes: []string{ScopeNotesRead}})
	_, err = cs.GetPrompt(t.Context(), &mcp.GetPromptParams{Name: "ask_docs", Arguments: map[string]string{"question": "q"}})
	if !errors.As(err, &werr) || werr.Code != CodeInsufficientScope {
		t.Errorf("ask_docs without docs:read: %v, want code %d", err, CodeInsufficientScope)
	}
}

func TestNoPrincipal(t *testing.T) {
	// With a policy that requires no scope, the tools themselves must still
	// refuse to act for nobody.
	cs := connect(t, NewServer(&Options{Notes: mustStore(t), Policy: &authz.Policy{}}), nil)
	for name, args := range map[string]map[string]any{"notes_create": {"title": "t", "body": "b"}, "notes_list": {}} {
		_, res := callTool[map[string]any](t, cs, name, args)
		if !res.IsError || !strings.Contains(toolText(t, res), "authenticated") {
			t.Errorf("%s without a principal: IsError %v, %q", name, res.IsError, toolText(t, res))
		}
	}
	_, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "notes://abc"})
	assertNotFound(t, err)

	// A principal without a subject is nobody, whatever its tenant.
	cs = connect(t, NewServer(&Options{Notes: mustStore(t), Policy: &authz.Policy{}}), &mcpgate.Principal{Tenant: "acme"})
	_, res := callTool[map[string]any](t, cs, "notes_list", map[string]any{})
	if !res.IsError {
		t.Errorf("notes_list for a principal without a subject succeeded")
	}

	// And under the default policy, the server refuses before the tool runs.
	cs = connect(t, NewServer(&Options{Notes: mustStore(t)}), nil)
	_, res = callTool[map[string]any](t, cs, "search_docs", map[string]any{"query": "oauth"})
	if !res.IsError || !strings.Contains(toolText(t, res), "authentication required") {
		t.Errorf("search_docs without a principal: IsError %v, %q", res.IsError, toolText(t, res))
	}
}

func assertNotFound(t *testing.T, err error) {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams || werr.Message != "Resource not found" {
		t.Errorf("got error %v, want resource not found", err)
	}
}

func TestPolicyCoversEveryFeature(t *testing.T) {
	p := Policy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := Scopes(), []string{"docs:read", "notes:read", "notes:write"}; !slices.Equal(got, want) {
		t.Errorf("Scopes() = %q, want %q", got, want)
	}
	cs := connect(t, NewServer(&Options{Notes: mustStore(t), Policy: &authz.Policy{}}), &mcpgate.Principal{Subject: "ann"})
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range tools.Tools {
		if req := p.Required(authzCall("tools/call", tl.Name)); len(req) == 0 {
			t.Errorf("tool %s needs no scope under Policy()", tl.Name)
		}
	}
	tmpls, err := cs.ListResourceTemplates(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range tmpls.ResourceTemplates {
		if req := p.Required(authzCall("resources/read", tm.URITemplate)); len(req) == 0 {
			t.Errorf("template %s needs no scope under Policy()", tm.URITemplate)
		}
	}
	prompts, err := cs.ListPrompts(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range prompts.Prompts {
		if req := p.Required(authzCall("prompts/get", pr.Name)); len(req) == 0 {
			t.Errorf("prompt %s needs no scope under Policy()", pr.Name)
		}
	}
}

func authzCall(method, name string) authz.Call { return authz.Call{Method: method, Name: name} }
