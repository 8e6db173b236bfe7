package federation_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/refusal"
	"github.com/mcpgate/mcpgate/seal"
)

func newFederation(t *testing.T, store federation.Store) *federation.Federation {
	t.Helper()
	f, err := federation.New(store, []federation.Provider{{Name: "Acme SSO", Issuer: "https://idp.example.com", ClientID: "mcpgate"}},
		&federation.Options{RedirectURL: "https://mcp.example.com/login/oidc/callback", Keys: seal.Keys{Current: make([]byte, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestAuthorizationRefusals: only a person who signed in at a provider,
// calling with mcpgate's own token, gets a provider token for an
// upstream; everyone else gets a refusal that says what to do, with an
// audit reason.
func TestAuthorizationRefusals(t *testing.T) {
	store := inmem.NewFederationStore()
	f := newFederation(t, store)
	fedSub := federation.Subject("https://idp.example.com", "alice")
	tests := []struct {
		name       string
		pr         *mcpgate.Principal
		wantReason string
		wantText   string
	}{
		{"nobody", nil, mcpgate.ReasonNotFederated, "needs you to sign in with Acme SSO"},
		{"API key", &mcpgate.Principal{Subject: "alice", KeyID: "k1", Method: mcpgate.MethodAPIKey}, mcpgate.ReasonNotFederated, "needs you to sign in with Acme SSO"},
		{"API key owned by a federated subject", &mcpgate.Principal{Subject: fedSub, KeyID: "k1", Method: mcpgate.MethodAPIKey}, mcpgate.ReasonNotFederated, "needs you to sign in"},
		{"another issuer's token", &mcpgate.Principal{Subject: fedSub, Issuer: "https://idp.example.com", Method: mcpgate.MethodJWT}, mcpgate.ReasonNotFederated, "needs you to sign in"},
		{"app approved in an API-key session", &mcpgate.Principal{Subject: fedSub, KeyID: "k1", Method: mcpgate.MethodOAuth}, mcpgate.ReasonNotFederated, "needs you to sign in"},
		{"local user", &mcpgate.Principal{Subject: "alice", Method: mcpgate.MethodOAuth}, mcpgate.ReasonNotFederated, "needs you to sign in"},
		{"federated, no tokens kept", &mcpgate.Principal{Subject: fedSub, Method: mcpgate.MethodOAuth}, mcpgate.ReasonSignInAgain, "sign in again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := f.Authorization(t.Context(), tt.pr)
			var rf *refusal.Refusal
			if !errors.As(err, &rf) {
				t.Fatalf("Authorization = %q, %v; want a refusal", v, err)
			}
			if rf.Kind != refusal.SignInRequired || mcpgate.Reason(rf.Err) != tt.wantReason || !strings.Contains(rf.Message, tt.wantText) {
				t.Errorf("refusal %s %q (reason %q), want %s with %q (reason %q)",
					rf.Kind, rf.Message, mcpgate.Reason(rf.Err), refusal.SignInRequired, tt.wantText, tt.wantReason)
			}
		})
	}
}

func TestNewChecksProviders(t *testing.T) {
	keys := seal.Keys{Current: make([]byte, 32)}
	opts := &federation.Options{RedirectURL: "https://mcp.example.com/login/oidc/callback", Keys: keys}
	tests := []struct {
		name string
		p    []federation.Provider
		opts *federation.Options
		want string
	}{
		{"plain http off loopback", []federation.Provider{{Issuer: "http://idp.example.com", ClientID: "c"}}, opts, "must be https"},
		{"http on loopback", []federation.Provider{{Issuer: "http://127.0.0.1:9000", ClientID: "c"}}, opts, ""},
		{"no client id", []federation.Provider{{Issuer: "https://idp.example.com"}}, opts, "client id"},
		{"twice", []federation.Provider{{Issuer: "https://idp.example.com", ClientID: "a"}, {Issuer: "https://idp.example.com", ClientID: "b"}}, opts, "twice"},
		{"no encryption key", []federation.Provider{{Issuer: "https://idp.example.com", ClientID: "c"}},
			&federation.Options{RedirectURL: opts.RedirectURL}, "encryption key"},
		{"auth param of the flow", []federation.Provider{{Issuer: "https://idp.example.com", ClientID: "c", AuthParams: map[string]string{"nonce": "fixed"}}}, opts, "cannot be set"},
		{"issuer with a query", []federation.Provider{{Issuer: "https://idp.example.com/?x=1", ClientID: "c"}}, opts, "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := federation.New(inmem.NewFederationStore(), tt.p, tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New: %v, want an error about %q", err, tt.want)
			}
		})
	}
}
