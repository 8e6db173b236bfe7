package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	notesScheme = "notes://"
	noteMIME    = "text/markdown"
	// MaxNoteTitle is the longest note title, in characters.
	MaxNoteTitle = 200
	// MaxNoteBody is the largest note body, in bytes.
	MaxNoteBody = 64 << 10
)

// notes serves per-principal notes from store.
type notes struct {
	store  mcpgate.NoteStore
	now    func() time.Time
	logger *slog.Logger
}

// NotesCreateInput is the input of the notes_create tool.
type NotesCreateInput struct {
	Title string `json:"title" jsonschema:"a short title, at most 200 characters"`
	Body  string `json:"body" jsonschema:"the note in markdown, at most 64 KiB"`
}

// NoteRef identifies a note in the output of notes_create and notes_list.
type NoteRef struct {
	ID        string    `json:"id"`
	URI       string    `json:"uri" jsonschema:"read the note with resources/read"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"createdAt"`
}

// NotesListInput is the (empty) input of the notes_list tool.
type NotesListInput struct{}

// NotesListOutput is the output of the notes_list tool.
type NotesListOutput struct {
	Notes []NoteRef `json:"notes"`
}

func (n *notes) register(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{
		Name:        "notes_create",
		Title:       "Create a note",
		Description: "Save a private note. Only you can list or read it. Returns its notes:// URI.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: new(false), OpenWorldHint: new(false)},
	}, n.create)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "notes_list",
		Title:       "List my notes",
		Description: "List your notes, oldest first, with their notes:// URIs.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)},
	}, n.list)
	s.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: notesScheme + "{id}",
		Name:        "note",
		Title:       "Your notes",
		Description: "A note you created with notes_create.",
		MIMEType:    noteMIME,
	}, n.read)
}

// owner returns the id that owns the caller's notes: Principal.ID(), tenant
// and subject together.
func owner(ctx context.Context, extra *mcp.RequestExtra) (string, error) {
	p := principalFrom(ctx, extra)
	if p == nil || p.Subject == "" {
		return "", errors.New("notes need an authenticated caller")
	}
	return p.ID(), nil
}

func (n *notes) ref(note *mcpgate.Note) NoteRef {
	return NoteRef{ID: note.ID, URI: notesScheme + note.ID, Title: note.Title, CreatedAt: note.CreatedAt}
}

// errStore is what a client sees when the store fails; the cause is logged.
var errStore = errors.New("the note store is unavailable; try again later")

func checkNote(in NotesCreateInput) error {
	title := strings.TrimSpace(in.Title)
	switch {
	case title == "":
		return errors.New("title is empty")
	case !utf8.ValidString(in.Title) || !utf8.ValidString(in.Body):
		return errors.New("title and body must be valid UTF-8")
	case utf8.RuneCountInString(in.Title) > MaxNoteTitle:
		return fmt.Errorf("title is longer than %d characters", MaxNoteTitle)
	case strings.IndexFunc(in.Title, unicode.IsControl) >= 0:
		return errors.New("title must be a single line without control characters")
	case len(in.Body) > MaxNoteBody:
		return fmt.Errorf("body is larger than %d KiB", MaxNoteBody>>10)
	}
	return nil
}

func (n *notes) create(ctx context.Context, req *mcp.CallToolRequest, in NotesCreateInput) (*mcp.CallToolResult, NoteRef, error) {
	own, err := owner(ctx, req.Extra)
	if err != nil {
		return nil, NoteRef{}, err
	}
	if err := checkNote(in); err != nil {
		return nil, NoteRef{}, err
	}
	if n.store == nil {
		return nil, NoteRef{}, errStore
	}
	note := &mcpgate.Note{
		// 130 random bits, lower-cased so that the id is a valid resource id.
		ID:        strings.ToLower(rand.Text()),
		Owner:     own,
		Title:     strings.TrimSpace(in.Title),
		Body:      in.Body,
		CreatedAt: n.now().UTC(),
	}
	if err := n.store.CreateNote(ctx, note); err != nil {
		n.logger.Error("demo: creating note", "owner", own, "err", err)
		return nil, NoteRef{}, errStore
	}
	return nil, n.ref(note), nil
}

func (n *notes) list(ctx context.Context, req *mcp.CallToolRequest, _ NotesListInput) (*mcp.CallToolResult, NotesListOutput, error) {
	out := NotesListOutput{Notes: []NoteRef{}}
	own, err := owner(ctx, req.Extra)
	if err != nil {
		return nil, out, err
	}
	if n.store == nil {
		return nil, out, errStore
	}
	all, err := n.store.ListNotes(ctx, own)
	if err != nil {
		n.logger.Error("demo: listing notes", "owner", own, "err", err)
		return nil, out, errStore
	}
	for _, note := range all {
		out.Notes = append(out.Notes, n.ref(note))
	}
	return nil, out, nil
}

// read serves notes://{id}. Someone else's note, a missing note, a
// malformed id and a request without a caller all get the same
// resource-not-found error, so that nobody learns which notes exist.
func (n *notes) read(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	id, ok := strings.CutPrefix(uri, notesScheme)
	own, err := owner(ctx, req.Extra)
	if !ok || !ValidID(id) || err != nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if n.store == nil {
		return nil, errStore
	}
	note, err := n.store.Note(ctx, own, id)
	if errors.Is(err, mcpgate.ErrNotFound) {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if err != nil {
		n.logger.Error("demo: reading note", "owner", own, "err", err)
		return nil, errStore
	}
	text := "# " + note.Title + "\n\n" + note.Body
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI:      uri,
		MIMEType: noteMIME,
		Text:     text,
	}}}, nil
}
