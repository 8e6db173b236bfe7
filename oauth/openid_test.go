package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOpenIDConfigurationTypeScriptSchema: the official TypeScript SDK
// (interop/oidc-discovery.mjs) accepts the OpenID configuration, and
// refuses the same document without the fields OpenID Connect Discovery
// requires, as it refused mcpgate's before they were served.
func TestOpenIDConfigurationTypeScriptSchema(t *testing.T) {
	interop, node := typeScriptSDK(t)
	e := newEnv(t, nil)
	check := func(t *testing.T, u string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "oidc-discovery.mjs")
		cmd.Dir = interop
		cmd.Env = append(os.Environ(), "CONFIG_URL="+u)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("node: %v\n%s%s", err, stdout.String(), stderr.String())
		}
		var out map[string]any
		if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &out); err != nil {
			t.Fatalf("output %q: %v", stdout.String(), err)
		}
		return out
	}

	if out := check(t, e.http.URL+"/.well-known/openid-configuration"); out["valid"] != true {
		t.Errorf("the SDK refused the OpenID configuration: %v", out)
	}

	// The same document less the two fields: the check can fail.
	resp, err := http.Get(e.http.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	delete(doc, "subject_types_supported")
	delete(doc, "id_token_signing_alg_values_supported")
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	defer bare.Close()
	out := check(t, bare.URL)
	if out["valid"] != false || !strings.Contains(strings.Join(toStrings(out["issues"]), " "), "subject_types_supported") {
		t.Errorf("the SDK accepted a document without subject_types_supported: %v", out)
	}
}

func toStrings(v any) []string {
	var s []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if str, ok := x.(string); ok {
				s = append(s, str)
			}
		}
	}
	return s
}
