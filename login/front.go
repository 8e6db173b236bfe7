package login

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mcpgate/mcpgate/clientconfig"
)

// Server is an MCP endpoint the front page lists.
type Server struct {
	Name string // e.g. "Built-in server", or an upstream's name
	URL  string // its canonical URL, e.g. https://mcp.example.com/mcp
}

// FrontOptions configure FrontPage.
type FrontOptions struct {
	// Servers are the MCP endpoints served, the main one first.
	Servers []Server
	// SignIn says people sign in through the embedded authorization
	// server: the page offers sign-in and the connected-apps page, and
	// shows the clients' OAuth configuration before the API-key one.
	SignIn bool
	// Logger receives template errors; slog.Default() by default.
	Logger *slog.Logger
}

type frontPage struct {
	Host     string
	Servers  []frontServer
	Selected frontServer
	SignIn   bool
	OAuth    []clientconfig.Snippet // empty without SignIn
	Key      []clientconfig.Snippet
}

type frontServer struct {
	Server
	Link    string // the front page showing this server's setup
	Current bool
}

// FrontPage returns the handler of the front page: what this server is,
// the URL of each MCP server it serves, how to connect the common clients
// to the one chosen (?server=N, the first by default), and links to sign
// in and to the connected apps.
func FrontPage(o FrontOptions) http.Handler {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	var host string
	if len(o.Servers) > 0 {
		if u, err := url.Parse(o.Servers[0].URL); err == nil {
			host = u.Host
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chosen := 0
		if n, err := strconv.Atoi(r.URL.Query().Get("server")); err == nil && n >= 0 && n < len(o.Servers) {
			chosen = n
		}
		page := frontPage{Host: host, SignIn: o.SignIn}
		for i, s := range o.Servers {
			fs := frontServer{Server: s, Link: "/?server=" + strconv.Itoa(i) + "#connect", Current: i == chosen}
			page.Servers = append(page.Servers, fs)
			if fs.Current {
				page.Selected = fs
			}
		}
		if len(o.Servers) > 0 {
			name := "mcpgate"
			if chosen > 0 {
				name = clientConfigName(page.Selected.Name, chosen)
			}
			if o.SignIn {
				page.OAuth = clientconfig.Snippets(clientconfig.Options{URL: page.Selected.URL, Name: name})
			}
			page.Key = clientconfig.Snippets(clientconfig.Options{URL: page.Selected.URL, Name: name, APIKey: true})
		}
		tmpl, err := siteTemplates()
		if err != nil {
			tmpl = nil
		}
		renderPage(w, tmpl, log, http.StatusOK, "front.html", page)
	})
}

// clientConfigName is the name a server goes by in a client's
// configuration when there are several: mcpgate-<name>, in the characters
// every client accepts in a server name.
func clientConfigName(name string, i int) string {
	b := []byte("mcpgate-")
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c == ' ' || c == '.':
			b = append(b, '-')
		}
	}
	if len(b) == len("mcpgate-") {
		return "mcpgate-" + strconv.Itoa(i+1)
	}
	return string(b)
}
