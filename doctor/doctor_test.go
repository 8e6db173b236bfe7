package doctor

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestPlainHTTPBeyondLoopback: the URL step fails every family, before
// any request is sent, for plain http on a host other than loopback.
func TestPlainHTTPBeyondLoopback(t *testing.T) {
	r, err := Check(context.Background(), "http://mcp.example.com/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Steps[0].ID != StepURL || r.Steps[0].Result != Fail || len(r.Steps[0].Issues) != 1 || len(r.Steps[0].Issues[0].Families) != len(Families) {
		t.Fatalf("url step = %+v", r.Steps[0])
	}
	for _, st := range r.Steps[1:] {
		if st.Result != Skip {
			t.Errorf("step %s = %s after the URL failed, want skip", st.ID, st.Result)
		}
	}
	if r.Failures != 1 {
		t.Errorf("Failures = %d, want 1", r.Failures)
	}
}

func TestCheckBadURL(t *testing.T) {
	for _, u := range []string{"", "mcp.example.com", "ftp://x/mcp", "https://u:p@x/mcp", "https://x/mcp#f", "https:///mcp", "%zz"} {
		if _, err := Check(context.Background(), u, nil); !errors.Is(err, ErrBadURL) {
			t.Errorf("Check(%q) = %v, want ErrBadURL", u, err)
		}
	}
}

func TestSecureURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://mcp.example.com/mcp": true,
		"http://127.0.0.1:8080/mcp":   true,
		"http://[::1]:8080/mcp":       true,
		"http://localhost/mcp":        true,
		"http://app.localhost/mcp":    true,
		"http://mcp.example.com/mcp":  false,
		"http://10.0.0.1/mcp":         false,
		"ftp://127.0.0.1/x":           false,
		"/relative":                   false,
	} {
		if got := secureURL(u) == ""; got != ok {
			t.Errorf("secureURL(%q) = %q, want ok=%v", u, secureURL(u), ok)
		}
	}
}

// TestDiscoveryURLs follows the MCP specification 2025-11-25 §2.3.3
// examples and the SDK's buildDiscoveryUrls.
func TestDiscoveryURLs(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		oidc   bool
		want   []string
	}{
		{"https://auth.example.com", true, []string{
			"https://auth.example.com/.well-known/oauth-authorization-server",
			"https://auth.example.com/.well-known/openid-configuration"}},
		{"https://auth.example.com/", false, []string{
			"https://auth.example.com/.well-known/oauth-authorization-server"}},
		{"https://auth.example.com/tenant1/", true, []string{
			"https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
			"https://auth.example.com/.well-known/openid-configuration/tenant1",
			"https://auth.example.com/tenant1/.well-known/openid-configuration"}},
	} {
		if got := discoveryURLs(tc.issuer, tc.oidc); !slices.Equal(got, tc.want) {
			t.Errorf("discoveryURLs(%q, %v) = %v, want %v", tc.issuer, tc.oidc, got, tc.want)
		}
	}
}

// TestResourceAllowed mirrors the SDK's checkResourceAllowed.
func TestResourceAllowed(t *testing.T) {
	for _, tc := range []struct {
		requested, configured string
		want                  bool
	}{
		{"https://x/mcp", "https://x/mcp", true},
		{"https://x/mcp/api", "https://x/mcp", true},
		{"https://x/mcp", "https://x", true},
		{"https://x/mcp", "https://x/mcp/api", false},
		{"https://x/mcp123", "https://x/mcp", false},
		{"https://x/mcp", "http://x/mcp", false},
		{"https://x/mcp", "https://y/mcp", false},
	} {
		if got := resourceAllowed(tc.requested, tc.configured); got != tc.want {
			t.Errorf("resourceAllowed(%q, %q) = %v, want %v", tc.requested, tc.configured, got, tc.want)
		}
	}
}
