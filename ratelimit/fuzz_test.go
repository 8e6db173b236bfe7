package ratelimit_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/ratelimit"
)

// FuzzClientAddress: whatever a trusted proxy's forwarding headers and the
// peer address hold, the address key is a short plain string, never a
// panic.
func FuzzClientAddress(f *testing.F) {
	f.Add("10.1.1.1:1", "198.51.100.7, 10.2.2.2", "")
	f.Add("10.1.1.1:1", "", `for="[2001:db8::1]:4711";proto=https, for=unknown`)
	f.Add("[::1]:9", "not an address", "for=")
	f.Add("garbage", "", "")
	l, err := ratelimit.New(inmem.New(nil), nil, &ratelimit.Options{TrustedProxies: []string{"10.0.0.0/8", "::1"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, xff, forwarded string) {
		r := httptest.NewRequest("POST", "/mcp", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Forwarded", forwarded)
		_ = l.AuthFailed(r)
		if k := ratelimit.AddressKey(remote); len(k) > 64 || strings.ContainsAny(k, " \r\n") {
			t.Fatalf("AddressKey(%q) = %q", remote, k)
		}
	})
}
