// Package clientconfig writes the configuration that connects the common MCP
// clients (Claude Code, Claude Desktop, VS Code, Cursor and the MCP
// Inspector) to an MCP URL served by mcpgate. `mcpgate keys create` prints
// these snippets for a new key, and the front page shows them for each URL
// the server serves, so that both always say the same thing.
//
// A client connects in one of two ways: by OAuth, where the client finds
// the authorization server from the 401 challenge and opens a browser for
// the person to sign in (nothing to paste), or with an mcpgate API key sent
// as a bearer credential. Snippets keep the key out of files and shell
// history where the client allows it: read at a prompt (Claude Code, VS
// Code, the Inspector) or from the environment (Cursor); Claude Desktop's
// file is the one that must hold it.
package clientconfig

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Clients are the clients Snippets covers, in the order it returns them.
var Clients = []string{ClaudeCode, ClaudeDesktop, VSCode, Cursor, Inspector}

// Names of the clients, as snippets are titled.
const (
	ClaudeCode    = "Claude Code"
	ClaudeDesktop = "Claude Desktop"
	VSCode        = "VS Code"
	Cursor        = "Cursor"
	Inspector     = "MCP Inspector"
)

// KeyVariable is the environment variable the snippets read an API key
// from where they do not prompt for it.
const KeyVariable = "MCPGATE_KEY"

// KeyPlaceholder stands for the key in a snippet written without one.
const KeyPlaceholder = "<your mcpgate API key>"

// mcpRemote is the version of mcp-remote that Claude Desktop runs to reach
// an HTTP server; pinned so that a new release changes nothing unseen.
const mcpRemote = "mcp-remote@0.15.1"

// Options say what the snippets connect to and how.
type Options struct {
	// URL is the MCP endpoint, e.g. https://mcp.example.com/mcp.
	URL string
	// Name is what the server is called in the client's configuration;
	// "mcpgate" when empty.
	Name string
	// APIKey makes the snippets send an API key; otherwise the client
	// signs in by OAuth.
	APIKey bool
	// Key is the API key itself, written only where a configuration file
	// must hold it (Claude Desktop); KeyPlaceholder is written when empty.
	Key string
}

// Snippet is the configuration of one client.
type Snippet struct {
	Client string // one of Clients
	Where  string // where the text goes: a command to run, or a file
	Text   string // what to run or paste
	Note   string // one sentence on what happens next; may be empty
}

// Snippets returns the configuration of every client in Clients, in that
// order.
func Snippets(o Options) []Snippet {
	name := o.Name
	if name == "" {
		name = "mcpgate"
	}
	key := o.Key
	if key == "" {
		key = KeyPlaceholder
	}
	header := "Authorization: Bearer $" + KeyVariable
	var out []Snippet

	// Claude Code.
	if o.APIKey {
		// Read at a prompt, not typed on the command line, so the key
		// stays out of the shell's history.
		out = append(out, Snippet{Client: ClaudeCode, Where: "Run in a terminal (paste the key at the prompt)",
			Text: fmt.Sprintf("read -rs -p 'mcpgate key: ' %s && echo &&\nclaude mcp add --transport http %s %s --header \"%s\"",
				KeyVariable, shellWord(name), shellWord(o.URL), header)})
	} else {
		out = append(out, Snippet{Client: ClaudeCode, Where: "Run in a terminal",
			Text: fmt.Sprintf("claude mcp add --transport http %s %s", shellWord(name), shellWord(o.URL)),
			Note: "Then type /mcp in Claude Code and choose " + name + " to sign in."})
	}

	// Claude Desktop reaches HTTP servers through mcp-remote.
	desktop := stdioServer{Command: "npx", Args: []string{"-y", mcpRemote, o.URL}}
	note := "Restart Claude Desktop; a browser opens for you to sign in."
	if strings.HasPrefix(o.URL, "https://") {
		note += " Or, without this file: Settings, Connectors, Add custom connector, and enter " + o.URL + "."
	}
	if o.APIKey {
		desktop.Args = append(desktop.Args, "--header", "Authorization:${MCPGATE_AUTH}")
		desktop.Env = map[string]string{"MCPGATE_AUTH": "Bearer " + key}
		note = "Restart Claude Desktop. The file holds the key: keep it private."
	}
	out = append(out, Snippet{Client: ClaudeDesktop, Where: "claude_desktop_config.json",
		Text: jsonText(map[string]any{"mcpServers": map[string]any{name: desktop}}), Note: note})

	// VS Code prompts for inputs marked password and keeps them in its
	// secret storage.
	vs := vsCodeConfig{Servers: map[string]httpServer{}}
	srv := httpServer{Type: "http", URL: o.URL}
	note = "VS Code offers to sign you in when the server first starts."
	if o.APIKey {
		srv.Headers = map[string]string{"Authorization": "Bearer ${input:mcpgate-key}"}
		vs.Inputs = []vsCodeInput{{Type: "promptString", ID: "mcpgate-key", Description: "mcpgate API key", Password: true}}
		note = "VS Code asks for the key once and keeps it in its secret storage."
	}
	vs.Servers[name] = srv
	out = append(out, Snippet{Client: VSCode, Where: ".vscode/mcp.json", Text: jsonText(vs), Note: note})

	// Cursor expands ${env:NAME} in mcp.json.
	cur := httpServer{URL: o.URL}
	note = "Cursor shows a Connect button that opens a browser for you to sign in."
	if o.APIKey {
		cur.Headers = map[string]string{"Authorization": "Bearer ${env:" + KeyVariable + "}"}
		note = "Start Cursor with " + KeyVariable + " set to the key in its environment."
	}
	out = append(out, Snippet{Client: Cursor, Where: "~/.cursor/mcp.json",
		Text: jsonText(map[string]any{"mcpServers": map[string]any{name: cur}}), Note: note})

	// The Inspector.
	if o.APIKey {
		out = append(out, Snippet{Client: Inspector, Where: "Run in a terminal (lists the tools)",
			Text: fmt.Sprintf("read -rs -p 'mcpgate key: ' %s && echo &&\nnpx -y @modelcontextprotocol/inspector --cli %s --transport http --method tools/list --header \"%s\"",
				KeyVariable, shellWord(o.URL), header)})
	} else {
		out = append(out, Snippet{Client: Inspector, Where: "Run in a terminal",
			Text: "npx -y @modelcontextprotocol/inspector",
			Note: "In the page it opens, choose Streamable HTTP, enter " + o.URL + " and connect; it walks you through signing in."})
	}
	return out
}

// Write prints the snippets as text, each under its client's name.
func Write(w io.Writer, o Options) error {
	for _, s := range Snippets(o) {
		text := "  " + strings.ReplaceAll(s.Text, "\n", "\n  ")
		if _, err := fmt.Fprintf(w, "%s: %s\n\n%s\n\n", s.Client, lowerFirst(s.Where), text); err != nil {
			return err
		}
		if s.Note != "" {
			if _, err := fmt.Fprintf(w, "  %s\n\n", s.Note); err != nil {
				return err
			}
		}
	}
	return nil
}

// The shapes of the clients' files, in the order people write them.
type (
	stdioServer struct {
		Command string            `json:"command"`
		Args    []string          `json:"args"`
		Env     map[string]string `json:"env,omitempty"`
	}
	httpServer struct {
		Type    string            `json:"type,omitempty"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
	}
	vsCodeInput struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		Description string `json:"description"`
		Password    bool   `json:"password"`
	}
	vsCodeConfig struct {
		Inputs  []vsCodeInput         `json:"inputs,omitempty"`
		Servers map[string]httpServer `json:"servers"`
	}
)

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// jsonText is v as indented JSON, without HTML escaping so that a URL
// with & reads as typed.
func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // maps of strings always encode
	return strings.TrimSuffix(b.String(), "\n")
}

// shellWord quotes s for a POSIX shell when it holds anything but the
// characters of a plain URL or name.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@%+=,~") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
