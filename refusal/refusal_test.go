package refusal_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/refusal"
)

func TestWriteShapes(t *testing.T) {
	tests := []struct {
		name   string
		r      *refusal.Refusal
		status int
		body   string
		header map[string]string
	}{
		{"401 is an OAuth error with its challenge",
			&refusal.Refusal{Kind: refusal.Unauthenticated, Challenge: `Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp"`, Err: errors.New("unknown api key")},
			401, `{"error":"unauthorized","error_description":"a valid bearer credential is required"}`,
			map[string]string{"WWW-Authenticate": `Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp"`, "Cache-Control": "no-store"}},
		{"403 names the scope",
			&refusal.Refusal{Kind: refusal.InsufficientScope, Scope: "a b"},
			403, `{"error":"insufficient_scope","error_description":"the credential lacks a required scope: a b","scope":"a b"}`, nil},
		{"413 is a JSON-RPC error",
			refusal.New(refusal.BodyTooLarge),
			413, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request body too large"}}`, nil},
		{"a parse error keeps its code and message, and the id",
			&refusal.Refusal{Kind: refusal.InvalidRequest, Code: -32700, Message: "bad \"x\"", ID: json.RawMessage(`"a-1"`)},
			400, `{"jsonrpc":"2.0","id":"a-1","error":{"code":-32700,"message":"bad \"x\""}}`, nil},
		{"429 carries data and its headers",
			&refusal.Refusal{Kind: refusal.RateLimited, Data: map[string]any{"retry_after": 42}, Header: http.Header{"Retry-After": {"42"}}},
			429, `{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"rate limit exceeded","data":{"retry_after":42}}}`,
			map[string]string{"Retry-After": "42"}},
		{"405 says what is allowed",
			&refusal.Refusal{Kind: refusal.MethodNotAllowed, Header: http.Header{"Allow": {"GET, POST, DELETE"}}},
			405, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"method not allowed"}}`,
			map[string]string{"Allow": "GET, POST, DELETE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			refusal.Write(w, tc.r)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := strings.TrimSpace(w.Body.String()); got != tc.body {
				t.Errorf("body\n%s\nwant\n%s", got, tc.body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			for k, v := range tc.header {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tc.r.Err != nil && strings.Contains(w.Body.String(), tc.r.Err.Error()) {
				t.Error("the reason was sent to the client")
			}
		})
	}
}

func TestChallengeQuotes(t *testing.T) {
	got := refusal.Challenge("error", "insufficient_scope", "scope", "a \"b\"\\c\x01")
	want := `Bearer error="insufficient_scope", scope="a \"b\"\\c"`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := refusal.Challenge(); got != "Bearer" {
		t.Errorf("no params: %q", got)
	}
}

func TestEveryKindHasARow(t *testing.T) {
	for k := refusal.MethodNotAllowed; k <= refusal.Internal; k++ {
		if k.Status() < 400 || k.Decision() == "" || strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d: status %d, decision %q, name %q", k, k.Status(), k.Decision(), k.String())
		}
		if (k.Reason() == "") != (k == refusal.Unauthenticated) {
			t.Errorf("kind %s: reason %q; only Unauthenticated takes its reason from the verifier", k, k.Reason())
		}
	}
}
