package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMachineClientCurl runs the curl command `clients add --machine`
// prints, as a person pasting it would, and gets an access token with it.
func TestMachineClientCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data)
	res := mcpgateCLI(t, data, "--public-url", srv.url, "clients", "add", "--name", "nightly-bot", "--machine", "--scope", "docs:read")
	if res.code != 0 {
		t.Fatalf("clients add: %d %s", res.code, res.stderr)
	}
	secret := regexp.MustCompile(`(?m)^\s+(mcps_\S+)$`).FindStringSubmatch(res.stdout)
	_, snippet, ok := strings.Cut(res.stdout, "Get an access token")
	if secret == nil || !ok {
		t.Fatalf("clients add --machine printed no secret or token request:\n%s", res.stdout)
	}
	_, snippet, _ = strings.Cut(snippet, "\n\n")
	if strings.Contains(snippet, secret[1]) {
		t.Errorf("the token request contains the secret:\n%s", snippet)
	}
	cmd := exec.Command("bash", "-c", snippet)
	cmd.Stdin = strings.NewReader(secret[1] + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the printed token request: %v\n%s\n%s", err, snippet, out)
	}
	var body struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(out, &body); err != nil || body.AccessToken == "" {
		t.Fatalf("token response %s: %v\n%s", out, err, snippet)
	}
	if resp, b := rpc(t, srv.url, body.AccessToken, initBody); resp.StatusCode != 200 {
		t.Errorf("the token from the printed request is refused: %d %s", resp.StatusCode, b)
	}
	// The OAuth library lists its routes only at debug.
	if strings.Contains(srv.logs.String(), "registered route") {
		t.Errorf("serve at the default level logged the OAuth library's routes:\n%s", srv.logs.String())
	}
}
