package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// mcpgate's own output, read the way its end-to-end tests read it.
var (
	servingRe  = regexpMust(`^mcpgate serving MCP at \S+ \(listening on (\S+)\)$`)
	keyRe      = regexpMust(`mcpg_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}`)
	clientIDRe = regexpMust(`Registered client (\S+) `)
	secretRe   = regexpMust(`(?m)^\s+(mcps_\S+)$`)
)

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// buildMcpgate builds the mcpgate binary of the module this program is
// run in into dir.
func buildMcpgate(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "mcpgate")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/mcpgate/mcpgate/cmd/mcpgate")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build mcpgate: %w\n%s", err, out)
	}
	return bin, nil
}

// gate is an mcpgate data directory prepared for the load: an API key and a
// machine client for the client_credentials grant.
type gate struct {
	bin, data    string
	key          string
	clientID     string
	clientSecret string
}

func newGate(ctx context.Context, bin, data string) (*gate, error) {
	g := &gate{bin: bin, data: data}
	if _, err := g.cli(ctx, "migrate"); err != nil {
		return nil, err
	}
	out, err := g.cli(ctx, "keys", "create", "--name", "load")
	if err != nil {
		return nil, err
	}
	if g.key = keyRe.FindString(out); g.key == "" {
		return nil, fmt.Errorf("keys create printed no key:\n%s", out)
	}
	out, err = g.cli(ctx, "clients", "add", "--name", "load", "--machine", "--scope", "docs:read")
	if err != nil {
		return nil, err
	}
	id, secret := clientIDRe.FindStringSubmatch(out), secretRe.FindStringSubmatch(out)
	if id == nil || secret == nil {
		return nil, fmt.Errorf("clients add printed no client id and secret:\n%s", out)
	}
	g.clientID, g.clientSecret = id[1], secret[1]
	return g, nil
}

// cli runs an mcpgate command on the gate's data directory.
func (g *gate) cli(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.bin, append([]string{"--data", g.data}, args...)...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mcpgate %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String(), nil
}

// serveCmd is `mcpgate serve` in front of upstream, listening on a free
// loopback port, logging at its default level.
func (g *gate) serveCmd(upstream string, extra []string) *exec.Cmd {
	args := append([]string{"--data", g.data, "--listen", "127.0.0.1:0", "serve", "--upstream", upstream}, extra...)
	cmd := exec.Command(g.bin, args...)
	cmd.Env = cleanEnv()
	return cmd
}

// token gets an access token for the MCP endpoint at mcpURL with the
// client_credentials grant. It names no scope: the endpoint is the fronted
// upstream, whose policy (none here) decides which scopes exist, and a
// token carries only scopes of the resource it is for.
func (g *gate) token(ctx context.Context, base, mcpURL string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {mcpURL}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(g.clientID), url.QueryEscape(g.clientSecret))
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: %d %s", resp.StatusCode, b)
	}
	return body.AccessToken, nil
}

// cleanEnv drops MCPGATE_* variables, so mcpgate runs on its defaults and
// the flags given here.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPGATE_") {
			env = append(env, kv)
		}
	}
	return env
}
