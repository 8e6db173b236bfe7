// Package demo is mcpgate's built-in MCP server: internal docs served as
// doc://{id} resources with a search_docs tool and an ask_docs prompt, and
// per-user notes
// (notes_create, notes_list, notes://{id}) that only their author can see.
//
// It is an ordinary server of the official Go SDK, so it runs behind the
// gateway or inside any program. The caller is the *mcpgate.Principal that
// authentication attached to the request; without one, tools refuse to act.
package demo

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Version is reported as the server version in the initialize result. The
// build sets it with -ldflags "-X github.com/mcpgate/mcpgate/demo.Version=…".
var Version = "dev"

// Scopes of the built-in server.
const (
	ScopeDocsRead   = "docs:read"
	ScopeNotesRead  = "notes:read"
	ScopeNotesWrite = "notes:write"
)

//go:embed docs/*.md
var sampleDocs embed.FS

// Options configure NewServer. Nil options are valid: sample docs, and
// notes tools that report an error for want of a store.
type Options struct {
	// Docs holds the markdown files served as doc://{id}: every *.md file at
	// its root whose name (without .md) is a valid doc id. Nil means the
	// sample docs shipped with mcpgate. To serve a folder without following
	// symlinks out of it, pass os.Root.FS().
	Docs fs.FS
	// Notes keeps the notes. Without it the notes tools and resources
	// report an error.
	Notes mcpgate.NoteStore
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Policy decides which tools and resources a caller may see and use
	// inside the server; nil means Policy(). The gateway enforces its own
	// policy before a request gets here; this one keeps the server safe
	// when it is mounted on its own.
	Policy *authz.Policy
}

func (o *Options) withDefaults() Options {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Docs == nil {
		sub, err := fs.Sub(sampleDocs, "docs")
		if err != nil {
			panic(err) // the embedded directory always exists
		}
		opts.Docs = sub
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Policy == nil {
		opts.Policy = Policy()
	}
	return opts
}

// NewServer returns the built-in MCP server, named "mcpgate", with the docs
// and notes tools and resources registered, and with list results filtered
// and calls checked against opts.Policy.
func NewServer(opts *Options) *mcp.Server {
	o := opts.withDefaults()
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpgate", Title: "mcpgate", Version: Version}, &mcp.ServerOptions{
		Instructions: "Internal documentation (doc://{id}, search_docs, the ask_docs prompt) and private notes " +
			"(notes_create, notes_list, notes://{id}). Notes are visible only to their author.",
		Logger: o.Logger,
	})
	d := &docs{fsys: o.Docs, logger: o.Logger}
	d.register(s)
	n := &notes{store: o.Notes, now: o.Now, logger: o.Logger}
	n.register(s)
	registerDiagnostics(s)
	s.AddReceivingMiddleware(Enforce(o.Policy), FilterLists(o.Policy))
	return s
}

// Policy returns the scopes the built-in server requires: docs:read for
// search_docs, ask_docs and doc://*, notes:read for notes_list and notes://*,
// notes:write for notes_create. Anything else requires nothing beyond
// authentication.
func Policy() *authz.Policy {
	return &authz.Policy{
		Tools: []authz.Rule{
			{Match: "search_docs", Scopes: []string{ScopeDocsRead}},
			{Match: "notes_list", Scopes: []string{ScopeNotesRead}},
			{Match: "notes_create", Scopes: []string{ScopeNotesWrite}},
		},
		Resources: []authz.Rule{
			{Match: "doc://*", Scopes: []string{ScopeDocsRead}},
			{Match: "notes://*", Scopes: []string{ScopeNotesRead}},
		},
		Prompts: []authz.Rule{
			{Match: "ask_docs", Scopes: []string{ScopeDocsRead}},
		},
	}
}

// Scopes returns the scopes the built-in server uses, sorted: the minimal
// scopes_supported list for protected resource metadata.
func Scopes() []string {
	s := []string{ScopeDocsRead, ScopeNotesRead, ScopeNotesWrite}
	slices.Sort(s)
	return s
}

// principalFrom returns the caller of a request: the principal that
// authentication put in the token info, or else the one in ctx.
func principalFrom(ctx context.Context, extra *mcp.RequestExtra) *mcpgate.Principal {
	if extra != nil && extra.TokenInfo != nil {
		if p, ok := extra.TokenInfo.Extra["principal"].(*mcpgate.Principal); ok && p != nil {
			return p
		}
	}
	return mcpgate.PrincipalFromContext(ctx)
}
