package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var noteScopes = []string{ScopeNotesRead, ScopeNotesWrite}

func TestNotes(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	cs := connect(t, NewServer(&Options{Notes: mustStore(t), Now: func() time.Time { return now }}),
		&mcpgate.Principal{Subject: "ann", Tenant: "acme", Scopes: noteScopes})

	ref, res := callTool[NoteRef](t, cs, "notes_create", map[string]any{"title": "  Plan  ", "body": "Ship **it**."})
	if res.IsError {
		t.Fatalf("notes_create: %s", toolText(t, res))
	}
	if !ValidID(ref.ID) || ref.URI != "notes://"+ref.ID || ref.Title != "Plan" || !ref.CreatedAt.Equal(now) {
		t.Errorf("notes_create = %+v", ref)
	}
	second, _ := callTool[NoteRef](t, cs, "notes_create", map[string]any{"title": "Empty body", "body": ""})
	if second.ID == "" || second.ID == ref.ID {
		t.Errorf("second note id %q (first %q)", second.ID, ref.ID)
	}

	list, res := callTool[NotesListOutput](t, cs, "notes_list", map[string]any{})
	if res.IsError {
		t.Fatalf("notes_list: %s", toolText(t, res))
	}
	if len(list.Notes) != 2 {
		t.Fatalf("notes_list = %+v", list.Notes)
	}

	rr, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: ref.URI})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rr.Contents[0].Text, "# Plan\n\nShip **it**."; got != want {
		t.Errorf("note text %q, want %q", got, want)
	}
	for _, uri := range []string{"notes://nope", "notes://../" + ref.ID, "notes://" + strings.ToUpper(ref.ID)} {
		_, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri})
		assertNotFound(t, err)
	}
}

func TestNoteLimits(t *testing.T) {
	cs := connect(t, NewServer(&Options{Notes: mustStore(t)}), &mcpgate.Principal{Subject: "ann", Scopes: noteScopes})
	tests := []struct {
		name        string
		title, body string
		wantErr     string
	}{
		{"max title", strings.Repeat("é", MaxNoteTitle), "b", ""},
		{"max body", "t", strings.Repeat("x", MaxNoteBody), ""},
		{"title too long", strings.Repeat("a", MaxNoteTitle+1), "b", "title is longer than 200"},
		{"body too large", "t", strings.Repeat("x", MaxNoteBody+1), "body is larger than 64 KiB"},
		{"empty title", " ", "b", "title is empty"},
		{"multi-line title", "a\nb", "b", "single line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, res := callTool[NoteRef](t, cs, "notes_create", map[string]any{"title": tt.title, "body": tt.body})
			if tt.wantErr == "" {
				if res.IsError {
					t.Fatalf("unexpected error %s", toolText(t, res))
				}
				return
			}
			if !res.IsError || !strings.Contains(toolText(t, res), tt.wantErr) {
				t.Errorf("IsError %v, %q; want %q", res.IsError, toolText(t, res), tt.wantErr)
			}
		})
	}
	list, _ := callTool[NotesListOutput](t, cs, "notes_list", map[string]any{})
	if got, want := len(list.Notes), 2; got != want {
		t.Errorf("%d notes stored, want %d (only the valid ones)", got, want)
	}
}

// TestNotesIsolation drives the server the way the gateway does: over
// Streamable HTTP, with the principal put in the token info by bearer
// authentication.
func TestNotesIsolation(t *testing.T) {
	srv := NewServer(&Options{Notes: mustStore(t)})
	ann := &mcpgate.Principal{Subject: "ann", Scopes: noteScopes}
	bob := &mcpgate.Principal{Subject: "bob", Scopes: noteScopes}
	// Same subject in another tenant: a different owner.
	ann2 := &mcpgate.Principal{Subject: "ann", Tenant: "other", Scopes: noteScopes}
	cs := httpClients(t, srv, ann, bob, ann2)
	cs2 := cs["other/ann"]

	ref, res := callTool[NoteRef](t, cs["ann"], "notes_create", map[string]any{"title": "ann's", "body": "private"})
	if res.IsError {
		t.Fatal(toolText(t, res))
	}
	if _, err := cs["ann"].ReadResource(t.Context(), &mcp.ReadResourceParams{URI: ref.URI}); err != nil {
		t.Fatalf("owner reading: %v", err)
	}
	for name, other := range map[string]*mcp.ClientSession{"bob": cs["bob"], "ann in another tenant": cs2} {
		t.Run(name, func(t *testing.T) {
			_, err := other.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: ref.URI})
			assertNotFound(t, err)
			_, errMissing := other.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "notes://missing"})
			if err == nil || errMissing == nil || strings.ReplaceAll(err.Error(), ref.ID, "X") != strings.ReplaceAll(errMissing.Error(), "missing", "X") {
				t.Errorf("someone else's note: %v; missing note: %v; want the same error", err, errMissing)
			}
			list, _ := callTool[NotesListOutput](t, other, "notes_list", map[string]any{})
			if len(list.Notes) != 0 {
				t.Errorf("sees notes %+v", list.Notes)
			}
		})
	}
	list, _ := callTool[NotesListOutput](t, cs["ann"], "notes_list", map[string]any{})
	if len(list.Notes) != 1 || list.Notes[0].ID != ref.ID {
		t.Errorf("owner's list %+v", list.Notes)
	}
}

func TestCheckNote(t *testing.T) {
	tests := []struct {
		name    string
		in      NotesCreateInput
		wantErr string
	}{
		{"ok", NotesCreateInput{Title: "t", Body: "b"}, ""},
		{"invalid utf-8 title", NotesCreateInput{Title: "t\xff", Body: "b"}, "UTF-8"},
		{"invalid utf-8 body", NotesCreateInput{Title: "t", Body: "\xff"}, "UTF-8"},
		{"control character", NotesCreateInput{Title: "a\x00b"}, "control"},
	}
	for _, tt := range tests {
		err := checkNote(tt.in)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: checkNote = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}
