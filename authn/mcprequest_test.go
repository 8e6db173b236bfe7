package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/pipeline"
)

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestPrincipalFromRequest checks what a go-sdk tool handler sees behind a
// pipeline: PrincipalFromRequest gives the principal of the request that
// carried the call, in stateful and stateless servers alike, while in a
// stateful session the handler's context holds that of an earlier request.
func TestPrincipalFromRequest(t *testing.T) {
	type seen struct{ fromRequest, fromContext string }
	for _, tt := range []struct {
		name      string
		stateless bool
	}{
		{"stateful", false},
		{"stateless", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Each request authenticates afresh: TokenID counts them.
			var n atomic.Int32
			verify := authn.VerifierFunc(func(_ context.Context, token string) (*mcpgate.Principal, error) {
				if token != "ann-token" {
					return nil, mcpgate.ErrUnauthenticated
				}
				return &mcpgate.Principal{Subject: "ann", TokenID: strconv.Itoa(int(n.Add(1)))}, nil
			})
			got := make(chan seen, 1)
			srv := mcp.NewServer(&mcp.Implementation{Name: "t"}, nil)
			mcp.AddTool(srv, &mcp.Tool{Name: "who"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				var s seen
				if p := authn.PrincipalFromRequest(ctx, req); p != nil {
					s.fromRequest = p.TokenID
				}
				if p := mcpgate.PrincipalFromContext(ctx); p != nil {
					s.fromContext = p.TokenID
				}
				got <- s
				return &mcp.CallToolResult{}, nil, nil
			})
			h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: tt.stateless})
			p := pipeline.New(authn.New(verify, nil), nil)
			ts := httptest.NewServer(p.Handler(authn.SDKTokenInfo(h)))
			defer ts.Close()

			ctx := t.Context()
			tr := &mcp.StreamableClientTransport{Endpoint: ts.URL, HTTPClient: &http.Client{Transport: bearer{"ann-token"}}}
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil).Connect(ctx, tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "who"}); err != nil {
				t.Fatal(err)
			}
			s := <-got
			want := strconv.Itoa(int(n.Load())) // the principal of the tools/call request
			if s.fromRequest != want {
				t.Errorf("PrincipalFromRequest: principal of request %q, want %q", s.fromRequest, want)
			}
			// A stateful session runs handlers in a context made from an
			// earlier request of the session: the principal there is the
			// same caller's, but its scopes and expiry may be stale.
			if stale := s.fromContext != want; stale != !tt.stateless {
				t.Errorf("PrincipalFromContext: principal of request %q, stale %v; want stale %v", s.fromContext, stale, !tt.stateless)
			}
		})
	}
}

func TestPrincipalFromRequestFallsBackToContext(t *testing.T) {
	ann := &mcpgate.Principal{Subject: "ann"}
	ctx := mcpgate.WithPrincipal(context.Background(), ann)
	if got := authn.PrincipalFromRequest(ctx, &mcp.CallToolRequest{}); got != ann {
		t.Errorf("PrincipalFromRequest without TokenInfo = %v, want the context's", got)
	}
	if got := authn.PrincipalFromRequest(context.Background(), nil); got != nil {
		t.Errorf("PrincipalFromRequest(nil) = %v, want nil", got)
	}
}
