package demo

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	docScheme = "doc://"
	docMIME   = "text/markdown"
	// maxDocSize bounds what one doc may cost to read or search.
	maxDocSize = 1 << 20
	// Search limits.
	defaultSearchLimit = 5
	maxSearchLimit     = 20
	maxQueryLen        = 500
	maxQueryTerms      = 16
	snippetBefore      = 60
	snippetAfter       = 140
	// maxQuestionLen bounds the question of the ask_docs prompt.
	maxQuestionLen = 2000
)

// idPattern is what a doc or note id must look like. It leaves no room for
// path separators, dots or percent-escapes, so an id can never name a file
// outside the docs folder.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ValidID reports whether id is a valid doc or note id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// docs serves the markdown files of fsys.
type docs struct {
	fsys   fs.FS
	logger *slog.Logger
}

// doc is one loaded document.
type doc struct {
	id, title string
	body      []byte
}

// SearchDocsInput is the input of the search_docs tool.
type SearchDocsInput struct {
	Query string `json:"query" jsonschema:"words to look for, case-insensitive; documents matching more often rank first"`
	Limit int    `json:"limit,omitempty" jsonschema:"maximum number of results, 1 to 20 (default 5)"`
}

// DocHit is one search_docs result.
type DocHit struct {
	ID      string `json:"id"`
	URI     string `json:"uri" jsonschema:"read it with resources/read"`
	Title   string `json:"title"`
	Snippet string `json:"snippet" jsonschema:"text around the first match"`
	Hits    int    `json:"hits" jsonschema:"how often the query terms occur"`
}

// SearchDocsOutput is the output of the search_docs tool.
type SearchDocsOutput struct {
	Results []DocHit `json:"results"`
}

func (d *docs) register(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{
		Name:        "search_docs",
		Title:       "Search docs",
		Description: "Search the internal documentation by keywords. Returns matching docs, best first, with a snippet and the doc:// URI to read the whole document.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)},
	}, d.search)
	s.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: docScheme + "{id}",
		Name:        "doc",
		Title:       "Internal documentation",
		Description: "A markdown document; id is its file name without .md.",
		MIMEType:    docMIME,
	}, d.read)
	s.AddPrompt(&mcp.Prompt{
		Name:        "ask_docs",
		Title:       "Ask the docs",
		Description: "Answer a question from the internal documentation, citing the docs used.",
		Arguments: []*mcp.PromptArgument{{
			Name:        "question",
			Description: "what you want to know",
			Required:    true,
		}},
	}, d.ask)
	all, err := d.all()
	if err != nil {
		d.logger.Warn("demo: listing docs", "err", err)
	}
	for _, dc := range all {
		s.AddResource(&mcp.Resource{
			URI:      docScheme + dc.id,
			Name:     dc.id,
			Title:    dc.title,
			MIMEType: docMIME,
			Size:     int64(len(dc.body)),
		}, d.read)
	}
}

// errNoDoc is returned by load for a missing or unusable doc.
var errNoDoc = errors.New("no such doc")

// load reads the doc id. It fails with errNoDoc for an invalid id, a
// missing file, a directory or a file larger than maxDocSize.
func (d *docs) load(id string) (*doc, error) {
	if !ValidID(id) {
		return nil, errNoDoc
	}
	name := id + ".md"
	fi, err := fs.Stat(d.fsys, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNoDoc
		}
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxDocSize {
		return nil, errNoDoc
	}
	body, err := fs.ReadFile(d.fsys, name)
	if err != nil {
		return nil, err
	}
	if len(body) > maxDocSize {
		return nil, errNoDoc
	}
	return &doc{id: id, title: title(id, body), body: body}, nil
}

// all loads every valid doc, sorted by id. It skips files that fail to
// load and returns the first such error.
func (d *docs) all() ([]*doc, error) {
	entries, err := fs.ReadDir(d.fsys, ".")
	if err != nil {
		return nil, err
	}
	var (
		out   []*doc
		first error
	)
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".md")
		if !ok || !ValidID(id) {
			continue
		}
		dc, err := d.load(id)
		if err != nil {
			if !errors.Is(err, errNoDoc) && first == nil {
				first = err
			}
			continue
		}
		out = append(out, dc)
	}
	slices.SortFunc(out, func(a, b *doc) int { return strings.Compare(a.id, b.id) })
	return out, first
}

// title returns the text of the doc's first "# " heading, or id.
func title(id string, body []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if t, ok := strings.CutPrefix(sc.Text(), "# "); ok {
			if t = strings.TrimSpace(t); t != "" && utf8.ValidString(t) {
				return t
			}
		}
	}
	return id
}

func (d *docs) read(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	id, ok := strings.CutPrefix(uri, docScheme)
	if !ok {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	dc, err := d.load(id)
	if errors.Is(err, errNoDoc) {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if err != nil {
		d.logger.Error("demo: reading doc", "id", id, "err", err)
		return nil, fmt.Errorf("reading %s failed", uri)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI:      uri,
		MIMEType: docMIME,
		Text:     string(dc.body),
	}}}, nil
}

// ask returns the ask_docs prompt: the question, with instructions to
// answer it from the docs through search_docs and doc:// resources.
func (d *docs) ask(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	q := strings.TrimSpace(req.Params.Arguments["question"])
	switch {
	case q == "":
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "ask_docs: the question argument is required"}
	case len(q) > maxQuestionLen:
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("ask_docs: the question is longer than %d bytes", maxQuestionLen)}
	}
	return &mcp.GetPromptResult{
		Description: "Answer from the internal documentation",
		Messages: []*mcp.PromptMessage{{
			Role: "user",
			Content: &mcp.TextContent{Text: "Answer the question below from the internal documentation only. " +
				"Find the relevant documents with the search_docs tool, read them as doc://{id} resources, " +
				"and name the doc:// URIs your answer relies on. If the docs do not answer it, say so.\n\n" +
				"Question: " + q},
		}},
	}, nil
}

// terms splits a query into distinct lower-case terms.
func terms(query string) []string {
	var out []string
	for _, t := range strings.Fields(strings.ToLower(query)) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (d *docs) search(_ context.Context, _ *mcp.CallToolRequest, in SearchDocsInput) (*mcp.CallToolResult, SearchDocsOutput, error) {
	var out SearchDocsOutput
	q := strings.TrimSpace(in.Query)
	switch {
	case q == "":
		return nil, out, errors.New("query is empty: give one or more words to search for")
	case len(q) > maxQueryLen:
		return nil, out, fmt.Errorf("query is longer than %d bytes", maxQueryLen)
	case in.Limit < 0 || in.Limit > maxSearchLimit:
		return nil, out, fmt.Errorf("limit must be between 1 and %d", maxSearchLimit)
	}
	limit := cmp.Or(in.Limit, defaultSearchLimit)
	ts := terms(q)
	if len(ts) > maxQueryTerms {
		return nil, out, fmt.Errorf("query has more than %d words", maxQueryTerms)
	}
	all, err := d.all()
	if err != nil {
		d.logger.Warn("demo: listing docs", "err", err)
	}
	out.Results = []DocHit{}
	for _, dc := range all {
		text := string(dc.body)
		lower := strings.ToLower(text)
		hits, first := 0, -1
		for _, t := range ts {
			n := strings.Count(lower, t)
			hits += n
			if i := strings.Index(lower, t); n > 0 && (first < 0 || i < first) {
				first = i
			}
		}
		if hits == 0 {
			continue
		}
		out.Results = append(out.Results, DocHit{
			ID:      dc.id,
			URI:     docScheme + dc.id,
			Title:   dc.title,
			Snippet: snippet(text, lower, first),
			Hits:    hits,
		})
	}
	slices.SortStableFunc(out.Results, func(a, b DocHit) int {
		return cmp.Or(cmp.Compare(b.Hits, a.Hits), strings.Compare(a.ID, b.ID))
	})
	if len(out.Results) > limit {
		out.Results = out.Results[:limit]
	}
	return nil, out, nil
}

// snippet returns the text around byte offset at of lower, the lower-cased
// text, with runs of white space collapsed. Lower-casing may change the
// length of some characters; then offsets into lower do not fit text, and
// the snippet is cut from lower instead.
func snippet(text, lower string, at int) string {
	src := text
	if len(lower) != len(text) {
		src = lower
	}
	start, end := max(at-snippetBefore, 0), min(at+snippetAfter, len(src))
	for start > 0 && !utf8.RuneStart(src[start]) {
		start--
	}
	for end < len(src) && !utf8.RuneStart(src[end]) {
		end++
	}
	s := strings.Join(strings.Fields(src[start:end]), " ")
	if start > 0 {
		s = "…" + s
	}
	if end < len(src) {
		s += "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
