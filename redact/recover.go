package redact

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

var body500 = []byte(`{"error":"internal_error","error_description":"internal server error"}` + "\n")

// Recover returns middleware that turns a panic in a handler into a 500
// JSON response and an Error record on logger carrying the panic value and
// the stack, both masked with [String] (and by logger's handler, if it is
// a [NewHandler]). logger nil means slog.Default().
//
// http.ErrAbortHandler is re-panicked, as net/http expects. If the response
// had already started, the 500 cannot be sent; the panic is logged and the
// connection aborted with http.ErrAbortHandler, so that the client sees a
// broken response rather than a truncated one that looks complete.
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := &startedWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				stack := debug.Stack()
				logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("panic", String(fmt.Sprint(v))),
					slog.String("method", r.Method),
					slog.String("path", String(r.URL.Path)),
					slog.String("stack", String(string(stack))))
				if rw.started {
					panic(http.ErrAbortHandler)
				}
				h := w.Header()
				clear(h) // whatever the handler meant to send no longer applies
				h.Set("Content-Type", "application/json")
				h.Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusInternalServerError)
				w.Write(body500)
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// startedWriter records whether the response has started. It passes
// Flush on, and Unwrap lets http.ResponseController reach the rest.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (w *startedWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.started = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *startedWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

func (w *startedWriter) Flush() {
	w.started = true
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *startedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
