package main

import (
	"bytes"
	"context"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/demo"
)

// runCLI runs mcpgate in this process, for commands that touch no store.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return cliResult{out.String(), errb.String(), code}
}

// TestCommandLine: the bare command prints help, the version is reported
// three ways, global flags are listed once, completion scripts print.
func TestCommandLine(t *testing.T) {
	t.Setenv("COMP_LINE", "")
	res := runCLI(t)
	if res.code != 0 || !strings.Contains(res.stdout, "Usage: mcpgate <command>") || !strings.Contains(res.stdout, "--data=DIR") {
		t.Errorf("mcpgate alone: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	want := "mcpgate " + versionString() + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if res := runCLI(t, args...); res.code != 0 || res.stdout != want {
			t.Errorf("mcpgate %v = %q (exit %d), want %q", args, res.stdout, res.code, want)
		}
	}
	if demo.Version != versionString() {
		t.Errorf("the built-in server reports version %q, want %q", demo.Version, versionString())
	}
	res = runCLI(t, "keys", "create", "--help")
	if res.code != 0 || strings.Contains(res.stdout, "--data=DIR") || strings.Contains(res.stdout, "--log-format") ||
		!strings.Contains(res.stdout, "--expires") || !strings.Contains(res.stdout, `see "mcpgate --help"`) {
		t.Errorf("keys create --help should list its own flags and point to mcpgate --help for the global ones:\n%s", res.stdout)
	}
	for shell, want := range map[string]string{"bash": "complete -C", "zsh": "bashcompinit", "fish": "complete -f -c mcpgate"} {
		if res := runCLI(t, "completion", shell); res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("completion %s: exit %d\n%s%s", shell, res.code, res.stdout, res.stderr)
		}
	}
	if res := runCLI(t, "completion", "powershell"); res.code != exitUsage {
		t.Errorf("completion powershell: exit %d, want %d", res.code, exitUsage)
	}
}

// TestCompletion answers the shell as the completion scripts ask it.
func TestCompletion(t *testing.T) {
	for line, want := range map[string][]string{
		"mcpgate ke":                    {"keys"},
		"mcpgate users ":                {"add", "disable", "enable", "list", "passwd", "remove"},
		"mcpgate keys create --scope n": {"notes:read", "notes:write"},
		"mcpgate completion ":           {"bash", "fish", "zsh"},
		"mcpgate audit --decision ":     {"allow", "deny", "rate_limited", "unauthenticated"},
	} {
		t.Setenv("COMP_LINE", line)
		res := runCLI(t)
		got := strings.Fields(res.stdout)
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				t.Errorf("completing %q = %q, want %q among them", line, got, w)
			}
		}
	}
}

func TestVersionFrom(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name, linked string
		bi           debug.BuildInfo
		want         string
	}{
		{"go install @version", "dev", debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"linked", "v2.0.0", debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v2.0.0"},
		{"checkout", "dev", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "dev (0123456789ab, modified)"},
		{"nothing known", "dev", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	} {
		if got := versionFrom(tc.linked, &tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestConfigErrors: errors name the key as written, with a suggestion.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"lisen: x\n", `line 1: unknown key "lisen"; did you mean "listen"?`},
		{"upstreams:\n  - name: x\n    url: http://a/mcp\n    polcy: {}\n", `line 4: unknown key "polcy"; did you mean "policy"?`},
		{"upstreams:\n  - name: x\n    url: http://a/mcp\n    policy:\n      tools:\n        - match: x\n          scope: [a]\n", `line 7: unknown key "scope"; did you mean "scopes"?`},
		{"upstreams:\n  - name: x\n    command: [x]\n    env: 7\n", "line 4: env: expected a mapping of names to text values, got a number (7)"},
	} {
		_, err := parseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q) = %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "main.") || strings.Contains(err.Error(), "not found in type")) {
			t.Errorf("parseConfig(%q) names Go types: %v", tc.yaml, err)
		}
	}
}

// TestQuietLibraries: the OAuth library's route lines appear only at debug.
func TestQuietLibraries(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var buf bytes.Buffer
		l := slog.New(quietLibraries{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})})
		l.Info("registered route", "endpoint", "/token")
		l.Info("mcpgate listening")
		if got := strings.Contains(buf.String(), "registered route"); got != tc.want {
			t.Errorf("at %v: route line logged %v, want %v:\n%s", tc.level, got, tc.want, buf.String())
		}
		if tc.want && !strings.Contains(buf.String(), "level=DEBUG msg=\"registered route\"") {
			t.Errorf("route line not lowered to debug:\n%s", buf.String())
		}
		if !strings.Contains(buf.String(), "mcpgate listening") {
			t.Errorf("other info lines were dropped:\n%s", buf.String())
		}
	}
}
