package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// interopDir is where the pinned npm clients live (installed by npm ci from
// scripts/test.sh). Tests that need them fail when they are missing, unless
// MCPGATE_SKIP_NODE=1 says this machine has no Node.js.
func interopBin(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "interop", "node_modules", ".bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("MCPGATE_SKIP_NODE") == "1" {
			t.Skipf("%s not installed and MCPGATE_SKIP_NODE=1", name)
		}
		t.Fatalf("%s is not installed: run `npm ci` in interop/ (scripts/test.sh does)", name)
	}
	return p
}

// TestInspectorCLI has the MCP Inspector CLI, a client nobody here wrote,
// list tools and call one through mcpgate with an API key.
func TestInspectorCLI(t *testing.T) {
	inspector := interopBin(t, "mcp-inspector-cli")
	data := filepath.Join(t.TempDir(), "data")
	key, _ := createKey(t, data, "--name", "inspector")
	srv := startServer(t, data)

	run := func(args ...string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		full := append([]string{"--cli", srv.url, "--transport", "http", "--header", "Authorization: Bearer " + key}, args...)
		cmd := exec.CommandContext(ctx, inspector, full...)
		cmd.Dir = inspectorDir(inspector)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("inspector %v: %v\n%s\n%s", args, err, out, stderr)
		}
		var v map[string]any
		if err := json.Unmarshal(out[strings.IndexByte(string(out), '{'):], &v); err != nil {
			t.Fatalf("inspector %v: output is not JSON: %v\n%s", args, err, out)
		}
		return v
	}

	list := run("--method", "tools/list")
	b, _ := json.Marshal(list)
	for _, name := range []string{"search_docs", "notes_create", "notes_list"} {
		if !strings.Contains(string(b), `"`+name+`"`) {
			t.Errorf("inspector tools/list lacks %s: %s", name, b)
		}
	}
	res := run("--method", "tools/call", "--tool-name", "search_docs", "--tool-arg", "query=key")
	b, _ = json.Marshal(res)
	if isErr, _ := res["isError"].(bool); isErr || !strings.Contains(string(b), "doc://") {
		t.Errorf("inspector tools/call search_docs: %s", b)
	}

	// And without the key, the inspector is refused.
	cmd := exec.Command(inspector, "--cli", srv.url, "--transport", "http", "--method", "tools/list")
	cmd.Dir = inspectorDir(inspector)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("inspector without a key succeeded: %s", out)
	}
}

// inspectorDir is the working directory the Inspector CLI needs: v1.0.3
// tests for "../package.json" relative to the working directory but imports
// it relative to its own module, so it must run where both resolve, which
// is node_modules (whose parent holds interop/package.json).
func inspectorDir(bin string) string {
	return filepath.Dir(filepath.Dir(bin))
}
