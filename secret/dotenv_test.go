package secret_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/secret"
)

func TestParseEnvFile(t *testing.T) {
	in := "\uFEFF# comment\n" +
		"\n" +
		"PLAIN=value\n" +
		"export EXPORTED=yes\n" +
		"  SPACED = around  \n" +
		"COMMENTED=abc # trailing comment\n" +
		"HASH=abc#def\n" +
		"SINGLE='a $b \\n # c'\n" +
		"DOUBLE=\"line\\nnext \\\"q\\\" \\\\\" # after\n" +
		"EMPTY=\n" +
		"URL=postgres://u:p@h/db?sslmode=disable\n" +
		"CRLF=x\r\n"
	got, err := secret.ParseEnvFile(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []secret.EnvVar{
		{"PLAIN", "value", 3},
		{"EXPORTED", "yes", 4},
		{"SPACED", "around", 5},
		{"COMMENTED", "abc", 6},
		{"HASH", "abc#def", 7},
		{"SINGLE", "a $b \\n # c", 8},
		{"DOUBLE", "line\nnext \"q\" \\", 9},
		{"EMPTY", "", 10},
		{"URL", "postgres://u:p@h/db?sslmode=disable", 11},
		{"CRLF", "x", 12},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseEnvFile:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseEnvFileErrors(t *testing.T) {
	const secretValue = "hunter2-do-not-print" // gitleaks:allow
	for _, tt := range []struct{ in, want string }{
		{"A=1\n" + secretValue + "\n", "line 2: want NAME=VALUE"},
		{"A=1\nB=2\n1X=" + secretValue, "line 3: the name before ="},
		{"MY-VAR=" + secretValue, "line 1: the name"},
		{"A='" + secretValue, "line 1: A: the single quote is not closed"},
		{"A=\"" + secretValue, "line 1: A: the double quote is not closed"},
		{"A=\"" + secretValue + "\" junk", "line 1: A: text after the closing quote"},
		{"A=\"\\q" + secretValue + "\"", `line 1: A: unknown escape \q`},
		{"=" + secretValue, "line 1: the name"},
	} {
		_, err := secret.ParseEnvFile(strings.NewReader(tt.in))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParseEnvFile(%q) error = %v, want %q…", tt.in, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q quotes the value", err)
		}
	}
	if _, err := secret.ParseEnvFile(strings.NewReader(strings.Repeat("A=1234567\n", 110_000))); err == nil {
		t.Error("a file over 1 MiB was read")
	}
}

func TestLoadEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(p, []byte("MCPGATE_TEST_DOTENV_NEW=from-file\nMCPGATE_TEST_DOTENV_SET=from-file\nMCPGATE_TEST_DOTENV_NEW=later\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MCPGATE_TEST_DOTENV_SET", "from-environment")
	t.Setenv("MCPGATE_TEST_DOTENV_NEW", "")
	os.Unsetenv("MCPGATE_TEST_DOTENV_NEW")
	set, err := secret.LoadEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set, []string{"MCPGATE_TEST_DOTENV_NEW"}) {
		t.Errorf("set %v, want only the variable the environment did not have", set)
	}
	if got := os.Getenv("MCPGATE_TEST_DOTENV_NEW"); got != "later" {
		t.Errorf("MCPGATE_TEST_DOTENV_NEW = %q, want the later line's value", got)
	}
	if got := os.Getenv("MCPGATE_TEST_DOTENV_SET"); got != "from-environment" {
		t.Errorf("MCPGATE_TEST_DOTENV_SET = %q, want the environment's value kept", got)
	}
	if _, err := secret.LoadEnvFile(p + ".missing"); err == nil {
		t.Error("a missing env file is no error")
	}
}

// FuzzParseEnvFile checks that no input panics, that an error names a
// line, and that every variable read is well formed.
func FuzzParseEnvFile(f *testing.F) {
	for _, s := range []string{
		"A=1\n", "export B='x y'\n", "C=\"a\\nb\" # c\n", "# only\n\n", "D=e # f\n",
		"bad line\n", "E='open\n", "F=\"\\", "=x", "G=\"\\q\"", "\uFEFFH=1\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		vars, err := secret.ParseEnvFile(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.HasPrefix(err.Error(), "larger than") {
				t.Fatalf("error %q names no line", err)
			}
			return
		}
		lines := strings.Count(in, "\n") + 1
		for _, v := range vars {
			if v.Name == "" || strings.ContainsAny(v.Name, "= \t\n#") {
				t.Fatalf("bad name %q", v.Name)
			}
			if strings.ContainsAny(v.Value, "\n") && !strings.Contains(in, `\n`) {
				t.Fatalf("value %q spans lines", v.Value)
			}
			if v.Line < 1 || v.Line > lines {
				t.Fatalf("line %d out of 1..%d", v.Line, lines)
			}
		}
	})
}
