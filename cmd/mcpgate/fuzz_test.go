package main

import (
	"strings"
	"testing"
)

// FuzzParseConfig: any bytes as a config file give a config or an error,
// never a panic, and an accepted config's upstreams are well formed.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"listen: 127.0.0.1:8080\n",
		"upstreams:\n  - name: a\n    url: http://127.0.0.1:9000/mcp\n",
		"upstreams:\n  - name: b\n    command: [node, x.js]\n    mode: shared\n    policy:\n      tools:\n        - match: \"*\"\n          scopes: [a]\n",
		"lisen: x\n",
		"upstreams: [{name: a, url: u, command: [x]}]\n",
		"upstreams: [{name: a, url: u}, {name: a, url: v}]\n",
		"upstreams: [{name: a, url: u, path: nope}]\n",
		"- just\n- a list\n",
		"{",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := parseConfig(b)
		if err != nil {
			return
		}
		for _, u := range cfg.Upstreams {
			if u.Name == "" || (u.URL == "") == (len(u.Command) == 0) {
				t.Fatalf("accepted a malformed upstream: %+v", u)
			}
		}
	})
}

// FuzzSplitCommand: --upstream-cmd values split into words or give an
// error; never a panic, never an empty word list.
func FuzzSplitCommand(f *testing.F) {
	for _, seed := range []string{`npx -y server`, `node "a b.js" 'c d'`, `a\ b`, `"unterminated`, `'`, `\`, ``, "   "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitCommand(s)
		if err != nil {
			return
		}
		if len(words) == 0 {
			t.Fatal("no words and no error")
		}
		if isPlainASCII(s) && strings.Join(words, " ") != strings.Join(strings.Fields(s), " ") {
			t.Fatalf("plain words %q split as %q", s, words)
		}
	})
}

// isPlainASCII reports whether s has no quotes, backslashes or non-ASCII
// bytes, so that a shell would split it exactly like strings.Fields.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == '\'' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"npx -y @modelcontextprotocol/server-everything", []string{"npx", "-y", "@modelcontextprotocol/server-everything"}, false},
		{`node "my server.js" --flag='a b'`, []string{"node", "my server.js", "--flag=a b"}, false},
		{`a\ b c`, []string{"a b", "c"}, false},
		{`"x \"y\""`, []string{`x "y"`}, false},
		{`'unterminated`, nil, true},
		{`"unterminated`, nil, true},
		{`trailing\`, nil, true},
		{"   ", nil, true},
	} {
		got, err := splitCommand(tc.in)
		if (err != nil) != tc.err || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("splitCommand(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
