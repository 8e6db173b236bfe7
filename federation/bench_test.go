package federation_test

import (
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/federation"
	"github.com/mcpgate/mcpgate/seal"
	"github.com/mcpgate/mcpgate/sqlite"
)

// BenchmarkAccessToken is what an upstream call with forward_idp_token
// costs when the user's token is still fresh: one store read and one
// AES-GCM open.
func BenchmarkAccessToken(b *testing.B) {
	store, err := sqlite.Open(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	keys := seal.Keys{Current: make([]byte, 32)}
	const iss = "https://idp.example.com"
	f, err := federation.New(store, []federation.Provider{{Issuer: iss, ClientID: "mcpgate"}},
		&federation.Options{RedirectURL: "https://mcp.example.com/login/oidc/callback", Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	sub := federation.Subject(iss, "alice")
	sealed, _ := keys.Seal([]byte("an access token of the provider"), federation.TokenAAD(sub, iss, "access"))
	now := time.Now()
	if err := store.SaveIdPTokens(b.Context(), &mcpgate.IdPTokens{Subject: sub, Issuer: iss, AccessToken: sealed,
		Expiry: now.Add(time.Hour), UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	pr := &mcpgate.Principal{Subject: sub, Method: mcpgate.MethodOAuth}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Authorization(b.Context(), pr); err != nil {
			b.Fatal(err)
		}
	}
}
