package leak

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/apikey"
)

func mustKey(t *testing.T) (key, id string) {
	t.Helper()
	key, id, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// nearMiss is key with its last checksum character changed: the right
// shape, but not a key.
func nearMiss(key string) string {
	last := key[len(key)-1]
	c := byte('A')
	if last == 'A' {
		c = 'B'
	}
	return key[:len(key)-1] + string(c)
}

func mustPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// A JWT built here rather than written as a literal, so that secret
// scanners of this repository have nothing to report.
func testJWT() string {
	return "eyJ" + "hbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.MEUCIQDx4b9PqkW1rzN4xVvL0mHk3Y2a7sFq"
}

func TestText(t *testing.T) {
	key, id := mustKey(t)
	secret := "mcps_" + "Qk3v9ZpX2mL0aR7tYw5uE1cN8bH4jF6dG-sK_oP3iUz"
	for _, tc := range []struct {
		name, text string
		kind       string // "" for nothing
		line       int
	}{
		{"api key", "MCPGATE_KEY=" + key, KindAPIKey, 1},
		{"api key on line 3", "a\nb\nAuthorization: Bearer " + key + "\n", KindAPIKey, 3},
		{"bad checksum", "MCPGATE_KEY=" + nearMiss(key), "", 0},
		{"placeholder", "mcpg_k3Y9xq2LmT0a_" + strings.Repeat("S", 43) + "CCCCCC", "", 0},
		{"client secret", `client_secret: "` + secret + `"`, KindClientSecret, 1},
		{"client secret placeholder", "mcps_" + strings.Repeat("x", 43), "", 0},
		{"client secret too long", secret + "abc", "", 0},
		{"jwt", "token=" + testJWT(), KindJWT, 1},
		{"jwt-shaped, no JOSE header", "eyJ" + "zdWIiOiJhbGljZSJ9.eyJzdWIiOiJhbGljZSJ9.MEUCIQDx4b9PqkW1rzN4", "", 0},
		{"private key", "x\n" + mustPEM(t), KindPrivateKey, 2},
		{"private key in a Go string", `const k = "-----BEGIN EC ` + `PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5rd6O0GxsZ5ZmoAoGCCqGSM49AwEHoUQDQgAE\n-----END EC ` + `PRIVATE KEY-----"`, KindPrivateKey, 1},
		{"pem armour only", `if block.Type != "-----BEGIN PRIVATE KEY-----" {` + "\n\treturn nil\n}", "", 0},
		{"allowed fixture", "key := \"" + key + "\" // gitleaks:allow", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Text([]byte(tc.text))
			if tc.kind == "" {
				if len(got) != 0 {
					t.Fatalf("found %+v, want nothing", got)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != tc.kind || got[0].Line != tc.line {
				t.Fatalf("found %+v, want one %s on line %d", got, tc.kind, tc.line)
			}
			if strings.Contains(got[0].Masked, got[0].Secret) || got[0].Secret == "" {
				t.Errorf("masked %q shows the secret", got[0].Masked)
			}
			if tc.kind == KindAPIKey && (got[0].KeyID != id || got[0].Secret != key || !strings.HasPrefix(got[0].Masked, "mcpg_"+id+"_")) {
				t.Errorf("key finding %+v: want id %s and the key", got[0], id)
			}
		})
	}
}

func TestDir(t *testing.T) {
	key, _ := mustKey(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "config", "client.env"), "A=1\nMCPGATE_KEY="+key+"\n")
	write(t, filepath.Join(dir, "near.txt"), nearMiss(key)+"\n")
	write(t, filepath.Join(dir, "blob.bin"), "\x00\x01"+key)
	write(t, filepath.Join(dir, ".git", "config"), key)
	got, err := Dir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].File != "config/client.env" || got[0].Line != 2 {
		t.Fatalf("got %+v, want the key in config/client.env:2 only", got)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// repo is a temporary git repository.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &repo{t, t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir, "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *repo) commit(file, content, msg string) string {
	r.t.Helper()
	write(r.t, filepath.Join(r.dir, file), content)
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func TestHistory(t *testing.T) {
	key, id := mustKey(t)
	r := newRepo(t)
	r.commit("README", "hello\n", "first")
	planted := r.commit("deploy/claude.json", "{\n  \"headers\": {\n    \"Authorization\": \"Bearer "+key+"\"\n  }\n}\n", "client config")
	r.commit("notes.txt", "near miss: "+nearMiss(key)+"\n", "notes")
	r.git("rm", "-q", "deploy/claude.json")
	r.git("commit", "-q", "-m", "remove the key")

	if got, _ := Dir(context.Background(), r.dir); len(got) != 0 {
		t.Fatalf("the work tree holds %+v; the key should be only in history", got)
	}
	got, err := History(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %+v, want one key", got)
	}
	f := got[0]
	if f.Kind != KindAPIKey || f.KeyID != id || f.Commit != planted || f.File != "deploy/claude.json" || f.Line != 3 {
		t.Errorf("got %+v, want key %s in deploy/claude.json:3 at %s", f, id, planted)
	}
}

func TestStaged(t *testing.T) {
	key, _ := mustKey(t)
	r := newRepo(t)
	r.commit("a.txt", "old line\n", "first")
	write(t, filepath.Join(r.dir, "a.txt"), "old line\nnew "+key+"\n")
	write(t, filepath.Join(r.dir, "unstaged.txt"), key)
	r.git("add", "a.txt")
	got, err := Staged(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].File != "a.txt" || got[0].Line != 2 || got[0].Commit != "" {
		t.Fatalf("got %+v, want the staged key at a.txt:2", got)
	}
}

func TestNotRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	for name, scan := range map[string]func(context.Context, string) ([]Finding, error){"history": History, "staged": Staged} {
		if _, err := scan(context.Background(), dir); !errors.Is(err, ErrNotRepository) {
			t.Errorf("%s of a plain directory: %v, want ErrNotRepository", name, err)
		}
	}
}
