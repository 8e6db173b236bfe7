package pipeline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/pipeline"
)

// refusedFor is a verifier's refusal naming its reason.
type refusedFor string

func (e refusedFor) Error() string        { return "unauthenticated: " + string(e) }
func (e refusedFor) Is(target error) bool { return target == mcpgate.ErrUnauthenticated }
func (e refusedFor) Reason() string       { return string(e) }

// Every outcome is audited with a decision and a reason from one
// vocabulary, the reason of a refused credential coming from the verifier
// that refused it.
func TestAuditNamesDecisionAndReason(t *testing.T) {
	auth := authn.New(authn.VerifierFunc(func(_ context.Context, tok string) (*mcpgate.Principal, error) {
		if p, ok := principals[tok]; ok {
			return p, nil
		}
		return nil, refusedFor(mcpgate.ReasonRevoked)
	}), nil)
	a := &audits{}
	p := pipeline.New(auth, &pipeline.Options{Policy: policy, MaxBodyBytes: 1024, MaxBatch: 2, Audit: a.record})
	srv := httptest.NewServer(p.Handler(&spy{}))
	t.Cleanup(srv.Close)
	u := srv.URL + "/mcp"

	tests := []struct {
		name, method, token, body string
		hdr                       map[string]string
		decision, reason          string
	}{
		{"not a Streamable HTTP method", http.MethodPut, "tok-alice", "", nil, mcpgate.DecisionBadRequest, "method_not_allowed"},
		{"foreign origin", http.MethodPost, "tok-alice", call(1, "read_doc"), map[string]string{"Origin": "https://evil.example"}, mcpgate.DecisionDeny, "foreign_origin"},
		{"no credential", http.MethodPost, "", call(1, "read_doc"), nil, mcpgate.DecisionUnauthenticated, mcpgate.ReasonNoCredential},
		{"refused credential", http.MethodPost, "tok-revoked", call(1, "read_doc"), nil, mcpgate.DecisionUnauthenticated, mcpgate.ReasonRevoked},
		{"body too large", http.MethodPost, "tok-alice", strings.Repeat("x", 4096), nil, mcpgate.DecisionTooLarge, mcpgate.ReasonBodyTooLarge},
		{"batch too large", http.MethodPost, "tok-alice", batch(3), nil, mcpgate.DecisionTooLarge, mcpgate.ReasonBatchTooLarge},
		{"not JSON", http.MethodPost, "tok-alice", `{"jsonrpc":`, nil, mcpgate.DecisionBadRequest, mcpgate.ReasonMalformed},
		{"missing scope", http.MethodPost, "tok-alice", call(1, "delete_all"), nil, mcpgate.DecisionDeny, mcpgate.ReasonInsufficientScope},
		{"allowed", http.MethodPost, "tok-alice", call(1, "read_doc"), nil, mcpgate.DecisionAllow, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.all())
			do(t, tt.method, u, tt.token, tt.body, tt.hdr)
			evs := a.all()[before:]
			if len(evs) != 1 {
				t.Fatalf("%d audit events, want 1", len(evs))
			}
			if evs[0].Decision != tt.decision || evs[0].Reason != tt.reason {
				t.Errorf("decision %q, reason %q; want %q, %q", evs[0].Decision, evs[0].Reason, tt.decision, tt.reason)
			}
		})
	}
}

// The target of a call is audited with credentials masked as the log
// masks them: a key or token inside a resource URI or a tool name never
// reaches the audit table.
func TestAuditTargetCarriesNoCredential(t *testing.T) {
	srv, a := newPipeline(t, &pipeline.Options{}, &spy{})
	key := "mcpg_AbCdEfGhIjKl_" + strings.Repeat("s", 43) + "123456"
	for _, tt := range []struct{ name, body, secret string }{
		{"access_token in a resource URI", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"https://files.example/doc?access_token=s3cr3t-t0k3n"}}`, "s3cr3t-t0k3n"},
		{"api key in a resource URI", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"notes://x?key=` + key + `"}}`, key},
		{"api key as a tool name", call(1, key), key},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.all())
			do(t, http.MethodPost, srv.URL+"/mcp", "tok-bob", tt.body, nil)
			evs := a.all()[before:]
			if len(evs) != 1 {
				t.Fatalf("%d audit events, want 1", len(evs))
			}
			if got := evs[0].Target; strings.Contains(got, tt.secret) || !strings.Contains(got, "[REDACTED]") {
				t.Errorf("audited target %q holds the credential", got)
			}
		})
	}
}
