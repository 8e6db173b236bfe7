package main

import (
	"context"
	"log/slog"
)

// quietLibraries lowers to debug the info lines libraries log through
// slog's default logger that tell an operator nothing, such as the OAuth
// library listing each route it registers at start.
type quietLibraries struct{ slog.Handler }

// routine holds the messages lowered to debug.
var routine = map[string]bool{"registered route": true}

func (h quietLibraries) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && routine[r.Message] {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietLibraries) WithAttrs(as []slog.Attr) slog.Handler {
	return quietLibraries{h.Handler.WithAttrs(as)}
}

func (h quietLibraries) WithGroup(name string) slog.Handler {
	return quietLibraries{h.Handler.WithGroup(name)}
}
