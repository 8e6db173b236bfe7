package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
)

type doctorReport struct {
	Checks   []diagnosis `json:"checks"`
	Failures int         `json:"failures"`
	Warnings int         `json:"warnings"`
}

// doctor runs `mcpgate doctor --json` in process, with the data directory
// data and the working directory dir.
func doctor(t *testing.T, data, dir string, args ...string) (doctorReport, int) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--data", data, "doctor", "--json", "--dir", dir}, args...)
	code := run(context.Background(), full, strings.NewReader(""), &out, &errb)
	var rep doctorReport
	if code != exitUsage {
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("doctor %v: exit %d, output is not JSON: %v\n%s%s", args, code, err, out.String(), errb.String())
		}
	}
	return rep, code
}

// noData is a data directory not created yet: nothing to check there.
func noData(t *testing.T) string { return filepath.Join(t.TempDir(), "data") }

func (r doctorReport) find(check, severity string) *diagnosis {
	for i, d := range r.Checks {
		if d.Check == check && d.Severity == severity {
			return &r.Checks[i]
		}
	}
	return nil
}

func TestDoctorClean(t *testing.T) {
	rep, code := doctor(t, noData(t), t.TempDir(), "--registration-token", "env:MCPGATE_TEST_REG_TOKEN")
	if code != 0 || rep.Failures != 0 || rep.Warnings != 0 {
		t.Fatalf("a default configuration: exit %d, %+v", code, rep)
	}
	if len(rep.Checks) != len(doctorChecks) {
		t.Errorf("%d checks reported, want one line per check (%d)", len(rep.Checks), len(doctorChecks))
	}
}

// TestDoctorPitfalls configures each pitfall and checks that doctor names
// it, with its class and a fix, and exits 1 for failures, 0 for warnings.
func TestDoctorPitfalls(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		check    string
		severity string
	}{
		{"registration token as its value", []string{"--registration-token", "s3cr3t-registration"}, "secret-value", sevFail},
		{"introspection secret as literal:", []string{"--introspection-client-secret", "literal:s3cr3t"}, "secret-value", sevFail},
		{"alert secret as its value", []string{"--alert-secret", "0123456789abcdef0123"}, "secret-value", sevFail},
		{"encryption key as its value", []string{"--encryption-key", "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="}, "secret-value", sevFail}, // gitleaks:allow
		{"store URL with a password", []string{"--store", "postgres://mcpgate:pw@127.0.0.1:1/mcpgate"}, "secret-value", sevFail},
		{"redis URL with a password", []string{"--redis", "redis://:pw@127.0.0.1:6379/0"}, "secret-value", sevFail},
		{"public URL plain HTTP on a public host", []string{"--public-url", "http://mcp.example.com/mcp"}, "plain-http", sevFail},
		{"listener on every address with plain HTTP", []string{"--listen", "0.0.0.0:8080"}, "plain-http", sevFail},
		{"public URL on another port", []string{"--listen", "127.0.0.1:8080", "--public-url", "http://127.0.0.1:9090/mcp"}, "public-url", sevFail},
		{"public URL on another host", []string{"--listen", "10.0.0.5:8080", "--public-url", "http://10.0.0.6:8080/mcp"}, "public-url", sevFail},
		{"open registration", nil, "open-registration", sevWarn},
		{"rate limits off", []string{"--rate-limit", "off"}, "rate-limits", sevWarn},
		{"failed authentications unlimited", []string{"--auth-failure-limit", "off"}, "rate-limits", sevWarn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.check != "open-registration" {
				args = append(args, "--no-registration")
			}
			rep, code := doctor(t, noData(t), t.TempDir(), args...)
			assertDiagnosis(t, rep, code, tc.check, tc.severity)
		})
	}
}

func assertDiagnosis(t *testing.T, rep doctorReport, code int, check, severity string) {
	t.Helper()
	d := rep.find(check, severity)
	if d == nil {
		t.Fatalf("no %s %s in %+v", severity, check, rep.Checks)
	}
	if d.Fix == "" {
		t.Errorf("%s has no fix", check)
	}
	want := 0
	if severity == sevFail {
		want = 1
	}
	if code != want {
		t.Errorf("exit %d, want %d: %+v", code, want, rep.Checks)
	}
}

func TestDoctorSecretReferences(t *testing.T) {
	rep, code := doctor(t, noData(t), t.TempDir(), "--no-registration",
		"--registration-token", "env:REG", "--alert-secret", "file:/run/secrets/alert",
		"--introspection-client-secret", "env:INTRO", "--redis", "env:REDIS_URL", "--store", "env:MCPGATE_TEST_NO_STORE")
	if d := rep.find("secret-value", sevFail); d != nil {
		t.Errorf("references reported: %+v", d)
	}
	// The keys cannot be checked in a store whose reference is unset.
	if d := rep.find("key-age", sevFail); d == nil || !strings.Contains(d.Problem, "MCPGATE_TEST_NO_STORE") || code != 1 {
		t.Errorf("unset --store variable: exit %d, %+v", code, d)
	}
}

func TestDoctorDotenv(t *testing.T) {
	t.Run("tracked", func(t *testing.T) {
		r := newGitRepo(t)
		r.commit("deploy/.env", "MCPGATE_REGISTRATION_TOKEN=x\n", "config")
		r.commit(".env.example", "MCPGATE_REGISTRATION_TOKEN=\n", "template")
		rep, code := doctor(t, noData(t), r.dir, "--no-registration")
		assertDiagnosis(t, rep, code, "dotenv-in-git", sevFail)
		if d := rep.find("dotenv-in-git", sevFail); !strings.Contains(d.Problem, "deploy/.env is tracked") {
			t.Errorf("problem: %s", d.Problem)
		}
		if strings.Contains(string(mustJSON(t, rep)), ".env.example") {
			t.Error("a committed template was reported")
		}
	})
	t.Run("in history", func(t *testing.T) {
		r := newGitRepo(t)
		r.commit(".env", "MCPGATE_REGISTRATION_TOKEN=x\n", "config")
		r.git("rm", "-q", "--cached", ".env")
		r.commit(".gitignore", ".env\n", "ignore .env")
		rep, code := doctor(t, noData(t), r.dir, "--no-registration")
		assertDiagnosis(t, rep, code, "dotenv-in-git", sevFail)
		if d := rep.find("dotenv-in-git", sevFail); !strings.Contains(d.Problem, "still in the history") {
			t.Errorf("problem: %s", d.Problem)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDoctorDataPermissions(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	db, err := sqlite.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	rep, code := doctor(t, data, t.TempDir(), "--no-registration")
	if d := rep.find("data-permissions", sevFail); d != nil || code != 0 {
		t.Fatalf("a store as sqlite.Open creates it: exit %d, %+v", code, d)
	}
	for _, tc := range []struct{ path, name string }{{data, "directory"}, {filepath.Join(data, sqlite.FileName), "database"}} {
		t.Run(tc.name, func(t *testing.T) {
			fi, _ := os.Stat(tc.path)
			if err := os.Chmod(tc.path, fi.Mode().Perm()|0o005); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(tc.path, fi.Mode().Perm())
			rep, code := doctor(t, data, t.TempDir(), "--no-registration")
			assertDiagnosis(t, rep, code, "data-permissions", sevFail)
		})
	}
}

func TestDoctorIntrospectionCache(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "mcpgate.yaml")
	os.WriteFile(cfg, []byte("introspection:\n  url: https://idp.example.com/introspect\n  client_id: mcpgate\n  client_secret: env:INTRO\n  cache_ttl: 1s\n"), 0o600)
	rep, code := doctor(t, noData(t), t.TempDir(), "--no-registration", "--config", cfg)
	assertDiagnosis(t, rep, code, "introspection-cache", sevWarn)
}

func TestDoctorKeys(t *testing.T) {
	data := noData(t)
	db, err := sqlite.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	_, old, _ := newKey("old", "ci", "", []string{"docs:read"}, 365*24*time.Hour)
	old.CreatedAt, old.ExpiresAt = now.Add(-100*24*time.Hour), now.Add(200*24*time.Hour)
	_, forever, _ := newKey("forever", "ci", "", []string{"docs:read"}, 0)
	_, fine, _ := newKey("fine", "ci", "", []string{"docs:read"}, 30*24*time.Hour)
	_, revoked, _ := newKey("revoked", "ci", "", []string{"docs:read"}, 0)
	revoked.CreatedAt = now.Add(-200 * 24 * time.Hour)
	for _, k := range []*mcpgate.APIKey{old, forever, fine, revoked} {
		if err := db.CreateKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RevokeKey(context.Background(), revoked.ID, now); err != nil {
		t.Fatal(err)
	}
	db.Close()

	rep, code := doctor(t, data, t.TempDir(), "--no-registration")
	assertDiagnosis(t, rep, code, "key-age", sevWarn)
	assertDiagnosis(t, rep, code, "key-expiry", sevWarn)
	if d := rep.find("key-age", sevWarn); !strings.Contains(d.Problem, old.ID) || strings.Contains(d.Problem, revoked.ID) || strings.Contains(d.Problem, fine.ID) {
		t.Errorf("key-age: %s; want %s only", d.Problem, old.ID)
	}
	if d := rep.find("key-expiry", sevWarn); !strings.Contains(d.Problem, forever.ID) || strings.Contains(d.Problem, revoked.ID) || strings.Contains(d.Problem, old.ID) {
		t.Errorf("key-expiry: %s; want %s only", d.Problem, forever.ID)
	}
}

func TestDoctorBadArguments(t *testing.T) {
	if _, code := doctor(t, noData(t), t.TempDir(), "--no-such-flag"); code != exitUsage {
		t.Errorf("unknown flag: exit %d, want %d", code, exitUsage)
	}
}
