package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTypeScriptClient: the official TypeScript SDK client (npm
// @modelcontextprotocol/sdk, pinned in interop/package.json) completes the
// flow with DCR and with a Client ID Metadata Document, calls a tool and
// refreshes. It needs node and the interop packages (npm ci in interop/).
func TestTypeScriptClient(t *testing.T) {
	interop, node := typeScriptSDK(t)
	script, err := os.ReadFile("testdata/ts_client.mjs")
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, se *sdkEnv, cimdURL, redirect string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", string(script))
		cmd.Dir = interop
		cmd.Env = append(os.Environ(),
			"MCP_URL="+se.srv.Resource(),
			"APPROVE_URL="+se.http.URL+"/test/approve",
			"CIMD_URL="+cimdURL,
			"REDIRECT_URL="+redirect,
		)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("node: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		}
		var out map[string]any
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
			t.Fatalf("node output %q: %v", stdout.String(), err)
		}
		for _, k := range []string{"first", "second"} {
			if got, _ := out[k].(string); !strings.HasPrefix(got, "acme/alice ") {
				t.Errorf("%s call: whoami = %q", k, got)
			}
		}
		if out["rotated"] != true {
			t.Errorf("refresh did not rotate the tokens: %v", out)
		}
		if n := se.refreshes.Load(); n == 0 {
			t.Error("the client never used the refresh_token grant")
		}
		if n := se.logins.Load(); n != 1 {
			t.Errorf("%d logins, want 1", n)
		}
		return out
	}

	t.Run("DCR", func(t *testing.T) {
		se := newSDKEnv(t, nil)
		out := run(t, se, "", "http://127.0.0.1:47013/callback")
		c, err := se.srv.Client(t.Context(), fmt.Sprint(out["clientID"]))
		if err != nil || c.Source != SourceDCR || c.Name != "TypeScript SDK client" {
			t.Errorf("registered client %+v, %v", c, err)
		}
	})
	t.Run("CIMD", func(t *testing.T) {
		redirect := "http://127.0.0.1:47014/callback"
		docs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"TS via CIMD","redirect_uris":[%q],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}`, "https://"+r.Host+r.URL.Path, redirect)
		}))
		docs.StartTLS()
		t.Cleanup(docs.Close)
		docURL := docs.URL + "/ts/client.json"
		fetch := docs.Client()
		fetch.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		se := newSDKEnv(t, func(o *Options) { o.AllowLoopbackCIMD = true; o.CIMDClient = fetch })
		out := run(t, se, docURL, redirect)
		if out["clientID"] != docURL {
			t.Errorf("client_id = %v, want the document URL %s", out["clientID"], docURL)
		}
	})
}

// typeScriptSDK returns the interop directory holding the pinned npm
// packages and the node binary, failing (or, with MCPGATE_SKIP_SERVICES=1,
// skipping) the test when they are missing.
func typeScriptSDK(t *testing.T) (interop, node string) {
	t.Helper()
	interop, _ = filepath.Abs("../interop")
	if _, err := os.Stat(filepath.Join(interop, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			t.Skip("interop packages not installed (MCPGATE_SKIP_SERVICES=1)")
		}
		t.Fatalf("the TypeScript SDK is not installed: run npm ci in %s (or set MCPGATE_SKIP_SERVICES=1): %v", interop, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v", err)
	}
	return interop, node
}
