package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad --listen is a usage error, and neither it nor a port in use leaves
// a data directory behind.
func TestServeListenFailsBeforeTheStore(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		listen string
		code   int
	}{
		{"nonsense", exitUsage},
		{"127.0.0.1:99999", exitUsage},
		{busy.Addr().String(), exitError},
	} {
		data := filepath.Join(t.TempDir(), "data")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"--data", data, "--listen", tc.listen, "serve"}, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code {
			t.Errorf("--listen %s: exit %d, want %d (%s)", tc.listen, code, tc.code, stderr.String())
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("--listen %s: the data directory was created", tc.listen)
		}
	}
}
