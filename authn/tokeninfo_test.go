package authn

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// TestSDKTokenInfoLeeway: a principal whose token expired within the
// leeway passed the verifier, so the SDK's own expiry check must not
// refuse it; one beyond the leeway is refused by both.
func TestSDKTokenInfoLeeway(t *testing.T) {
	h := SDKTokenInfo(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tc := range []struct {
		name    string
		expired time.Duration
		want    int
	}{
		{"expired 1s ago", time.Second, http.StatusOK},
		{"expired 29s ago", 29 * time.Second, http.StatusOK},
		{"expired 31s ago", 31 * time.Second, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &mcpgate.Principal{Subject: "alice", Expires: time.Now().Add(-tc.expired)}
			r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			r.Header.Set("Authorization", "Bearer token")
			r = r.WithContext(mcpgate.WithPrincipal(r.Context(), p))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if got := w.Code; got != tc.want {
				t.Errorf("status = %d, want %d", got, tc.want)
			}
		})
	}
}
