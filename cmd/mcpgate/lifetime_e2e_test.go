package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestMaxTokenLifetimeFlag: serve refuses a --max-token-lifetime shorter
// than the access tokens it would issue itself.
func TestMaxTokenLifetimeFlag(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	res := mcpgateCLI(t, data, "--listen", "127.0.0.1:0", "serve", "--max-token-lifetime", "5m", "--access-token-ttl", "10m")
	if res.code != exitUsage || !strings.Contains(res.stderr, "--max-token-lifetime (5m0s) must be at least --access-token-ttl (10m0s)") {
		t.Errorf("serve --max-token-lifetime 5m --access-token-ttl 10m: exit %d\n%s", res.code, res.stderr)
	}
}
