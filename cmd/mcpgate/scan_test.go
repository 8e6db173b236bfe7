package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitRepo is a temporary git repository that ignores the developer's git
// configuration.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &gitRepo{t, t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func gitEnv() []string {
	return append(cleanEnv(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com")
}

// run runs git and returns its combined output and error.
func (r *gitRepo) run(args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return out
}

func (r *gitRepo) write(file, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, file)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *gitRepo) commit(file, content, msg string) string {
	r.t.Helper()
	r.write(file, content)
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// badChecksum changes a key's last character: the shape of a key, not a key.
func badChecksum(key string) string {
	c := "A"
	if strings.HasSuffix(key, "A") {
		c = "B"
	}
	return key[:len(key)-1] + c
}

// TestScanHistoryRevoke plants a live key three commits back, deletes it,
// and checks that scan --history finds it (and not a near miss), and that
// --revoke makes a running server refuse it.
func TestScanHistoryRevoke(t *testing.T) {
	data := t.TempDir()
	key, id := createKey(t, data, "--name", "ci")
	other, otherID := createKey(t, data, "--name", "untouched")
	srv := startServer(t, data)
	if resp, _ := rpc(t, srv.url, key, initBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("the key before the scan: %d", resp.StatusCode)
	}

	r := newGitRepo(t)
	r.commit("README.md", "# app\n", "start")
	planted := r.commit(".mcp.json", "{\n  \"mcpServers\": {\"gw\": {\"headers\": {\n    \"Authorization\": \"Bearer "+key+"\"}}}\n}\n", "add MCP config")
	r.commit("notes.md", "not a key: "+badChecksum(other)+"\n", "notes")
	r.git("rm", "-q", ".mcp.json")
	r.git("commit", "-q", "-m", "remove the config")

	res := mcpgateCLI(t, data, "scan", r.dir)
	if res.code != 0 {
		t.Fatalf("scan of the work tree: exit %d, want 0 (the key is only in history)\n%s%s", res.code, res.stdout, res.stderr)
	}

	res = mcpgateCLI(t, data, "scan", "--history", "--json", r.dir)
	if res.code != 1 {
		t.Fatalf("scan --history: exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, key[18:]) {
		t.Fatal("scan printed the key's secret")
	}
	var out struct {
		Findings []struct {
			Kind, File, Commit, Secret string
			Line                       int
			KeyID                      string `json:"key_id"`
		}
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("scan --json: %v\n%s", err, res.stdout)
	}
	if len(out.Findings) != 1 {
		t.Fatalf("findings %+v, want the planted key only (not %s, whose checksum is wrong)", out.Findings, otherID)
	}
	f := out.Findings[0]
	if f.Kind != "mcpgate-api-key" || f.KeyID != id || f.Commit != planted || f.File != ".mcp.json" || f.Line != 3 {
		t.Errorf("finding %+v, want key %s in .mcp.json:3 at %s", f, id, planted)
	}

	res = mcpgateCLI(t, data, "scan", "--history", "--revoke", r.dir)
	if res.code != 1 || !strings.Contains(res.stdout, "Key "+id+": revoked.") || !strings.Contains(res.stdout, planted[:12]) {
		t.Fatalf("scan --history --revoke: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	eventually(t, 5*time.Second, func() error {
		if resp, _ := rpc(t, srv.url, key, initBody); resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("the revoked key still gets %d", resp.StatusCode)
		}
		return nil
	})
	if resp, _ := rpc(t, srv.url, other, initBody); resp.StatusCode != http.StatusOK {
		t.Errorf("the key whose look-alike was in history: %d, want it untouched", resp.StatusCode)
	}

	res = mcpgateCLI(t, data, "scan", "--history", "--revoke", r.dir)
	if !strings.Contains(res.stdout, "Key "+id+": already revoked.") {
		t.Errorf("second --revoke:\n%s", res.stdout)
	}
}

func TestScanPreCommitHook(t *testing.T) {
	data := t.TempDir()
	key, _ := createKey(t, data, "--name", "dev")
	r := newGitRepo(t)
	r.commit("app.go", "package app\n", "start")

	res := mcpgateCLI(t, data, "scan", "--install-hook", r.dir)
	if res.code != 0 {
		t.Fatalf("--install-hook: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	r.write("config.env", "MCPGATE_KEY="+key+"\n")
	r.git("add", "config.env")
	out, err := r.run("commit", "-m", "add config")
	if err == nil {
		t.Fatalf("the hook let a commit with a key through:\n%s", out)
	}
	if !strings.Contains(out, "config.env:1") || !strings.Contains(out, "mcpgate-api-key") || strings.Contains(out, key) {
		t.Errorf("hook output:\n%s", out)
	}
	if log := r.git("log", "--oneline"); strings.Count(log, "\n") != 0 {
		t.Errorf("a commit was made:\n%s", log)
	}

	r.write("config.env", "MCPGATE_KEY=${MCPGATE_KEY}\n")
	r.git("add", "config.env")
	if out, err := r.run("commit", "-q", "-m", "add config"); err != nil {
		t.Fatalf("the hook refused a clean commit: %v\n%s", err, out)
	}

	// Reinstalling replaces scan's own hook; another tool's hook is kept.
	if res := mcpgateCLI(t, data, "scan", "--install-hook", r.dir); res.code != 0 {
		t.Errorf("reinstall: exit %d: %s", res.code, res.stderr)
	}
	os.WriteFile(filepath.Join(r.dir, ".git", "hooks", "pre-commit"), []byte("#!/bin/sh\nlint\n"), 0o755)
	if res := mcpgateCLI(t, data, "scan", "--install-hook", r.dir); res.code != exitCannotScan {
		t.Errorf("install over another hook: exit %d, want %d", res.code, exitCannotScan)
	}
}

func TestScanExitCodes(t *testing.T) {
	data := t.TempDir()
	clean := t.TempDir()
	os.WriteFile(filepath.Join(clean, "a.txt"), []byte("nothing here\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"clean directory", []string{"scan", clean}, 0},
		{"clean directory, json", []string{"scan", "--json", clean}, 0},
		{"history outside a repository", []string{"scan", "--history", clean}, exitCannotScan},
		{"staged outside a repository", []string{"scan", "--staged", clean}, exitCannotScan},
		{"missing path", []string{"scan", filepath.Join(clean, "nope")}, exitCannotScan},
		{"history and staged", []string{"scan", "--history", "--staged", clean}, exitUsage},
		{"hook with json", []string{"scan", "--install-hook", "--json", clean}, exitUsage},
		{"unknown flag", []string{"scan", "--all", clean}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := mcpgateCLI(t, data, tc.args...); res.code != tc.want {
				t.Errorf("exit %d, want %d\n%s%s", res.code, tc.want, res.stdout, res.stderr)
			}
		})
	}
}
