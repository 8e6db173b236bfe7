package clientconfig

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testURL = "https://mcp.example.com/mcp/everything"

// testKey has the shape of a key; it is not one.
const testKey = "mcpg_abc123_notarealsecretnotarealsecret00" // gitleaks:allow

func byClient(t *testing.T, ss []Snippet) map[string]Snippet {
	t.Helper()
	m := map[string]Snippet{}
	var order []string
	for _, s := range ss {
		m[s.Client] = s
		order = append(order, s.Client)
	}
	if !slices.Equal(order, Clients) {
		t.Fatalf("clients %v, want %v", order, Clients)
	}
	return m
}

// TestFilesAreWhatClientsRead: each file snippet is JSON of the shape its
// client reads, naming the URL, with the key only where the file must hold
// it (Claude Desktop) and never in OAuth mode.
func TestFilesAreWhatClientsRead(t *testing.T) {
	for _, apiKey := range []bool{false, true} {
		s := byClient(t, Snippets(Options{URL: testURL, APIKey: apiKey, Key: testKey}))
		for _, c := range []string{ClaudeDesktop, VSCode, Cursor} {
			var v map[string]any
			if err := json.Unmarshal([]byte(s[c].Text), &v); err != nil {
				t.Fatalf("%s (api key %v): not JSON: %v\n%s", c, apiKey, err, s[c].Text)
			}
			if !strings.Contains(s[c].Text, testURL) {
				t.Errorf("%s: no URL in\n%s", c, s[c].Text)
			}
			holdsKey := strings.Contains(s[c].Text, testKey)
			if want := apiKey && c == ClaudeDesktop; holdsKey != want {
				t.Errorf("%s (api key %v): holds the key = %v, want %v", c, apiKey, holdsKey, want)
			}
		}
		var vs struct {
			Inputs []struct {
				ID       string `json:"id"`
				Password bool   `json:"password"`
			} `json:"inputs"`
			Servers map[string]struct {
				Type    string            `json:"type"`
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
			} `json:"servers"`
		}
		if err := json.Unmarshal([]byte(s[VSCode].Text), &vs); err != nil {
			t.Fatal(err)
		}
		srv := vs.Servers["mcpgate"]
		if srv.Type != "http" || srv.URL != testURL {
			t.Errorf("VS Code server %+v", srv)
		}
		if apiKey && (len(vs.Inputs) != 1 || !vs.Inputs[0].Password || srv.Headers["Authorization"] != "Bearer ${input:"+vs.Inputs[0].ID+"}") {
			t.Errorf("VS Code must prompt for the key as a password input: %s", s[VSCode].Text)
		}
		if !apiKey && (len(vs.Inputs) != 0 || srv.Headers != nil) {
			t.Errorf("VS Code by OAuth sends no header: %s", s[VSCode].Text)
		}
	}
	s := byClient(t, Snippets(Options{URL: testURL, APIKey: true}))
	if !strings.Contains(s[ClaudeDesktop].Text, "Bearer "+KeyPlaceholder) {
		t.Errorf("without a key, Claude Desktop shows the placeholder:\n%s", s[ClaudeDesktop].Text)
	}
}

// TestShellSnippetsRun runs the Claude Code and Inspector commands in bash
// against stand-ins for claude and npx that print their arguments: the key
// typed at the prompt arrives whole in the Authorization header, never on
// the command line typed, and the URL arrives as one argument.
func TestShellSnippetsRun(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	bin := t.TempDir()
	for _, name := range []string{"claude", "npx"} {
		script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	odd := "https://mcp.example.com/mcp/it's here"
	for _, url := range []string{testURL, odd} {
		for _, apiKey := range []bool{true, false} {
			s := byClient(t, Snippets(Options{URL: url, APIKey: apiKey, Key: testKey}))
			for _, c := range []string{ClaudeCode, Inspector} {
				text := s[c].Text
				if strings.Contains(text, testKey) {
					t.Errorf("%s: the command holds the key:\n%s", c, text)
				}
				cmd := exec.Command("bash", "-c", text)
				cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
				cmd.Stdin = strings.NewReader(testKey + "\n")
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Run(); err != nil {
					t.Fatalf("%s: %v\n%s\n%s", c, err, text, errb.String())
				}
				args := strings.Split(strings.TrimSpace(out.String()), "\n")
				if c == Inspector && !apiKey {
					if !slices.Equal(args, []string{"-y", "@modelcontextprotocol/inspector"}) {
						t.Errorf("Inspector args %q", args)
					}
					continue
				}
				if !slices.Contains(args, url) {
					t.Errorf("%s (api key %v): URL %q not one argument of %q", c, apiKey, url, args)
				}
				hasHeader := slices.Contains(args, "Authorization: Bearer "+testKey)
				if hasHeader != apiKey {
					t.Errorf("%s (api key %v): header with the key = %v in %q", c, apiKey, hasHeader, args)
				}
			}
		}
	}
}

func TestWrite(t *testing.T) {
	var b strings.Builder
	if err := Write(&b, Options{URL: testURL, APIKey: true, Key: testKey}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	last := -1
	for _, c := range Clients {
		i := strings.Index(out, c+": ")
		if i <= last {
			t.Fatalf("%s not after the previous client in\n%s", c, out)
		}
		last = i
	}
}
