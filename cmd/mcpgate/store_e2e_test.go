package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// inDir runs mcpgate with args in dir, with no --data: as a user does who
// runs the quick start in one directory and the CLI from another.
func inDir(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	return runCmd(t, cmd)
}

// TestOneStore: only serve and migrate create a store. The CLI run from
// another directory refuses, names the file it looked for and how to point
// at the right one, and creates nothing; every command names its store.
func TestOneStore(t *testing.T) {
	root := t.TempDir()
	home, elsewhere := filepath.Join(root, "home"), filepath.Join(root, "elsewhere")
	for _, d := range []string{home, elsewhere} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	res := inDir(t, home, nil, "migrate")
	if res.code != 0 || !strings.Contains(res.stdout, "Created the store at schema version") {
		t.Fatalf("migrate: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	homeDB := filepath.Join(home, "mcpgate-data", "mcpgate.db")
	if want := "mcpgate: using SQLite store " + homeDB + "\n"; res.stderr != want {
		t.Errorf("migrate stderr = %q, want %q", res.stderr, want)
	}
	if res := inDir(t, home, nil, "migrate"); res.code != 0 || !strings.Contains(res.stdout, "is at schema version") {
		t.Errorf("second migrate: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := inDir(t, home, nil, "keys", "create", "--name", "laptop"); res.code != 0 || !strings.Contains(res.stderr, homeDB) {
		t.Errorf("keys create in the store's directory: exit %d, stderr %q should name %s", res.code, res.stderr, homeDB)
	}

	for _, args := range [][]string{
		{"keys", "create", "--name", "ci"},
		{"keys", "list"},
		{"users", "list"},
		{"clients", "list"},
		{"tokens", "revocations"},
		{"audit"},
		{"oauth", "rotate-key"},
	} {
		res := inDir(t, elsewhere, nil, args...)
		missing := filepath.Join(elsewhere, "mcpgate-data", "mcpgate.db")
		if res.code != exitError {
			t.Errorf("%v from another directory: exit %d, want %d", args, res.code, exitError)
		}
		for _, want := range []string{"no store at " + missing, "--data", "MCPGATE_DATA", "--store", "mcpgate migrate", "--init"} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("%v: stderr should mention %q:\n%s", args, want, res.stderr)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "mcpgate-data")); err == nil {
		t.Error("a command other than serve or migrate created a data directory")
	}

	// Pointing at the store by environment works from anywhere.
	env := []string{"MCPGATE_DATA=" + filepath.Join(home, "mcpgate-data")}
	if res := inDir(t, elsewhere, env, "keys", "list"); res.code != 0 || !strings.Contains(res.stdout, "laptop") {
		t.Errorf("keys list with MCPGATE_DATA: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// --init creates on purpose.
	if res := inDir(t, elsewhere, nil, "--init", "keys", "list"); res.code != 0 {
		t.Errorf("keys list --init: exit %d: %s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "mcpgate-data", "mcpgate.db")); err != nil {
		t.Errorf("--init created no store: %v", err)
	}
}
