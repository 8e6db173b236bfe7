package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cliIn runs mcpgate in dir with stdin, as a user in another directory
// pointing at the server's store with --data.
func cliIn(t *testing.T, dir, stdin string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

// onlyURL reports whether out names want, at least twice (the snippets of
// several clients), and no other URL of the loopback host.
func onlyURL(out, want string) bool {
	urls := regexp.MustCompile(`https?://127\.0\.0\.1[:/][^\s"']*`).FindAllString(out, -1)
	for _, u := range urls {
		if strings.TrimRight(u, ".,") != want {
			return false
		}
	}
	return len(urls) >= 2
}

// TestURLsFromServer: keys create, users add and clients add print the
// URLs of the server running on the store (here on a random port, with an
// upstream from a config file the CLI does not read), not the CLI's own
// default of 127.0.0.1:8080; --upstream picks a fronted server, and an
// unknown name is a usage error with a suggestion. Before any server ran,
// they fall back to --public-url and say so.
func TestURLsFromServer(t *testing.T) {
	root := t.TempDir()
	data, elsewhere := filepath.Join(root, "data"), filepath.Join(root, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.NotFoundHandler())
	defer upstream.Close()
	cfg := filepath.Join(root, "mcpgate.yaml")
	if err := os.WriteFile(cfg, []byte("upstreams:\n  - name: github\n    url: "+upstream.URL+"/mcp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	migrate(t, data)
	cli := func(stdin string, args ...string) cliResult {
		t.Helper()
		return cliIn(t, elsewhere, stdin, append([]string{"--data", data}, args...)...)
	}

	// No server has run: the CLI's own default, said on stderr.
	res := cli("", "keys", "create", "--name", "early")
	if res.code != 0 || !strings.Contains(res.stdout, "http://127.0.0.1:8080/mcp") ||
		!strings.Contains(res.stderr, "no server has run on this store yet to record its URL; using --public-url http://127.0.0.1:8080/mcp") {
		t.Errorf("keys create before any server ran: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	srv := startServer(t, data, "--config", cfg)
	if strings.Contains(srv.url, ":8080/") {
		t.Fatalf("the server should listen on a random port, not %s", srv.url)
	}
	github := srv.base + "/mcp/github"

	res = cli("", "keys", "create", "--name", "laptop")
	if res.code != 0 {
		t.Fatalf("keys create: exit %d: %s", res.code, res.stderr)
	}
	if strings.Contains(res.stdout, "8080") || strings.Contains(res.stderr, "no server") || !onlyURL(res.stdout, srv.url) {
		t.Errorf("keys create should print the server's URL %s in every snippet:\n%s%s", srv.url, res.stdout, res.stderr)
	}
	// The printed URL and key work together.
	key := keyRe.FindString(res.stdout)
	s := connect(t, srv.url, key)
	s.Close()
	res = cli("", "keys", "rotate", key, "--grace", "1h")
	if res.code != 0 || !onlyURL(res.stdout, srv.url) {
		t.Errorf("keys rotate should print the server's URL %s in every snippet:\n%s%s", srv.url, res.stdout, res.stderr)
	}

	res = cli("", "keys", "create", "--name", "gh", "--upstream", "github")
	if res.code != 0 || !onlyURL(res.stdout, github) {
		t.Errorf("keys create --upstream github should print %s:\n%s%s", github, res.stdout, res.stderr)
	}
	res = cli("", "keys", "create", "--name", "gh", "--upstream", "github", "--json")
	var created struct{ URL string }
	if err := json.Unmarshal([]byte(res.stdout), &created); err != nil || created.URL != github {
		t.Errorf("keys create --json --upstream github: url %q (%v), want %s\n%s", created.URL, err, github, res.stdout)
	}
	for _, args := range [][]string{
		{"keys", "create", "--name", "typo", "--upstream", "githb"},
		{"users", "add", "typo", "--upstream", "githb"},
		{"clients", "add", "--name", "typo", "--machine", "--upstream", "githb"},
	} {
		res := cli("correct horse battery\n", args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, `no MCP server named "githb"; did you mean "github"?`) {
			t.Errorf("%v: exit %d, want %d with a suggestion:\n%s", args, res.code, exitUsage, res.stderr)
		}
	}
	if res := cli("", "keys", "list"); strings.Contains(res.stdout, "typo") {
		t.Errorf("keys create with an unknown upstream created a key:\n%s", res.stdout)
	}

	res = cli("correct horse battery\n", "users", "add", "alice")
	if res.code != 0 || !strings.Contains(res.stdout, srv.base+"/login when an app connects to "+srv.url) {
		t.Errorf("users add should name the server's sign-in page and MCP URL:\n%s%s", res.stdout, res.stderr)
	}
	res = cli("", "clients", "add", "--name", "robot", "--machine", "--upstream", "github")
	if res.code != 0 || !strings.Contains(res.stdout, "resource="+github+" "+srv.base+"/token") {
		t.Errorf("clients add --machine --upstream github should print a token request for %s at %s/token:\n%s%s", github, srv.base, res.stdout, res.stderr)
	}

	// The CLI's own --public-url no longer decides, and it says so.
	res = cli("", "--public-url", "https://stale.example/mcp", "keys", "create", "--name", "other")
	if res.code != 0 || strings.Contains(res.stdout, "stale.example") || !strings.Contains(res.stdout, srv.url) ||
		!strings.Contains(res.stderr, "the server records its URL as "+srv.url+"; --public-url https://stale.example/mcp is not used") {
		t.Errorf("keys create --public-url elsewhere: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	// A server started again elsewhere replaces the record.
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, data)
	res = cli("", "keys", "create", "--name", "after-restart", "--upstream", "github")
	if res.code != exitUsage || !strings.Contains(res.stderr, "it serves only its built-in server, at "+again.url) {
		t.Errorf("after a restart without upstreams: exit %d\n%s", res.code, res.stderr)
	}
}
