package secret_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/secret"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("MCPGATE_TEST_SECRET", "from-env")
	t.Setenv("MCPGATE_TEST_EMPTY", "")
	tests := []struct {
		name    string
		ref     string
		want    string
		wantErr error // nil: no error, unless failing is set
		failing bool  // any error will do
	}{
		{"literal", "s3cret", "s3cret", nil, false},
		{"literal prefix", "literal:env:NOT_A_REFERENCE", "env:NOT_A_REFERENCE", nil, false},
		{"none", "", "", nil, false},
		{"env", "env:MCPGATE_TEST_SECRET", "from-env", nil, false},
		{"env unset", "env:MCPGATE_TEST_UNSET_VARIABLE", "", secret.ErrEmpty, false},
		{"env empty", "env:MCPGATE_TEST_EMPTY", "", secret.ErrEmpty, false},
		{"file", "file:" + write("s", "from-file\n"), "from-file", nil, false},
		{"file crlf", "file:" + write("crlf", "from-file\r\n"), "from-file", nil, false},
		{"file empty", "file:" + write("empty", "\n"), "", secret.ErrEmpty, false},
		{"file missing", "file:" + filepath.Join(dir, "missing"), "", os.ErrNotExist, false},
		{"file too large", "file:" + write("big", strings.Repeat("x", 65<<10)), "", nil, true},
		{"vault without field", "vault:secret/mcpgate", "", nil, true},
		{"vault without mount", "vault:mcpgate#token", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secret.Resolve(tt.ref)
			if tt.failing {
				if err == nil {
					t.Fatalf("Resolve(%q) succeeded, want an error", tt.ref)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Resolve(%q) error = %v, want %v", tt.ref, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
}

func TestRefRereadsChangedFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := secret.Load("file:" + p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Get(); got != "first" || err != nil {
		t.Fatalf("Get() = %q, %v; want first", got, err)
	}

	// Replace the file as a secret volume does: a new file renamed over
	// the old one, with a later modification time.
	tmp := p + ".new"
	if err := os.WriteFile(tmp, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Get(); got != "second" || err != nil {
		t.Fatalf("after rotation Get() = %q, %v; want second", got, err)
	}

	// While the file is missing, the last value is kept and the error
	// reported.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Get(); got != "second" || err == nil {
		t.Fatalf("file removed: Get() = %q, %v; want second and an error", got, err)
	}
}

func TestLoadFailsEarly(t *testing.T) {
	if _, err := secret.Load("env:MCPGATE_TEST_UNSET_VARIABLE"); !errors.Is(err, secret.ErrEmpty) {
		t.Errorf("Load of an unset variable: %v, want ErrEmpty", err)
	}
	if _, err := secret.Load("file:" + filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want ErrNotExist", err)
	}
}

func TestRefStringHidesLiterals(t *testing.T) {
	t.Setenv("MCPGATE_TEST_SECRET", "from-env")
	for ref, want := range map[string]string{
		"env:MCPGATE_TEST_SECRET": "env:MCPGATE_TEST_SECRET",
		"s3cret":                  secret.Hidden,
		"literal:s3cret":          secret.Hidden,
	} {
		r, err := secret.Load(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.String(); got != want {
			t.Errorf("Ref(%q).String() = %q, want %q", ref, got, want)
		}
	}
}

// BenchmarkRefGet measures what a use of a secret costs: nothing for an
// env: reference, one stat for a file: reference that has not changed.
func BenchmarkRefGet(b *testing.B) {
	p := filepath.Join(b.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("value\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("MCPGATE_BENCH_SECRET", "value")
	for _, ref := range []string{"env:MCPGATE_BENCH_SECRET", "file:" + p} {
		r, err := secret.Load(ref)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.SplitN(ref, ":", 2)[0], func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Get(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
