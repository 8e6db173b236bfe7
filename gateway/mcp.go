package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
)

// mcpHandler wraps an MCP server (built-in or upstream) with the per-request
// path: audit, authenticate, bound and parse the body, check scopes.
//
// Streamable HTTP uses POST (messages), GET (event streams) and DELETE
// (end a session). Anything else is refused, and GET and DELETE may carry
// no body: a body the scope check never read must never reach a server
// that might act on it.
func (g *Gateway) mcpHandler(policy *authz.Policy, next http.Handler) http.Handler {
	inner := g.authn.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := auditFrom(r.Context())
		ev := &rec.AuditEvent
		p := mcpgate.PrincipalFromContext(r.Context())
		ev.Subject, ev.Tenant, ev.KeyID, ev.ClientID = p.Subject, p.Tenant, p.KeyID, p.ClientID

		if r.Method != http.MethodPost {
			if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
				ev.Decision = mcpgate.DecisionError
				writeRPCError(w, http.StatusBadRequest, authz.CodeInvalidRequest, r.Method+" requests take no body")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		body, err := readBody(w, r, g.opts.MaxBodyBytes)
		if err != nil {
			ev.Decision = mcpgate.DecisionError
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeRPCError(w, http.StatusRequestEntityTooLarge, authz.CodeInvalidRequest, "request body too large")
			} else {
				writeRPCError(w, http.StatusBadRequest, authz.CodeParseError, "could not read request body")
			}
			return
		}
		calls, err := authz.ParseCalls(body)
		if err != nil {
			ev.Decision = mcpgate.DecisionError
			code, msg := authz.CodeParseError, "parse error"
			var pe *authz.ParseError
			if errors.As(err, &pe) {
				code, msg = pe.Code, pe.Message
			}
			writeRPCError(w, http.StatusBadRequest, code, msg)
			return
		}
		rec.calls = calls
		if missing, ok := policy.Check(p, calls); !ok {
			ev.Decision = mcpgate.DecisionDeny
			authn.WriteInsufficientScope(w, g.prmURL, missing...)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	}))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.opts.Now()
		sw := &statusRecorder{ResponseWriter: w}
		rec := &auditRecord{AuditEvent: mcpgate.AuditEvent{
			Time:      start.UTC(),
			RequestID: requestIDFrom(r.Context()),
			Method:    r.Method,
			Remote:    r.RemoteAddr,
		}}
		defer func() {
			rec.Status = sw.status()
			rec.Latency = g.opts.Now().Sub(start)
			if rec.Decision == "" {
				rec.Decision = decisionFor(rec.Status)
			}
			g.recordAudit(rec)
		}()
		switch r.Method {
		case http.MethodPost, http.MethodGet, http.MethodDelete:
		default:
			rec.Decision = mcpgate.DecisionError
			sw.Header().Set("Allow", "GET, POST, DELETE")
			writeRPCError(sw, http.StatusMethodNotAllowed, authz.CodeInvalidRequest, "method not allowed")
			return
		}
		inner.ServeHTTP(sw, r.WithContext(withAudit(r.Context(), rec)))
	})
}

// decisionFor names what the status of a request that no check refused
// says happened: the server behind may still refuse (an SDK answers 403 to
// a session of another principal).
func decisionFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return mcpgate.DecisionUnauthenticated
	case status == http.StatusForbidden:
		return mcpgate.DecisionDeny
	case status >= 400:
		return mcpgate.DecisionError
	}
	return mcpgate.DecisionAllow
}

// auditRecord is the audit event of one HTTP request and the JSON-RPC
// calls it carried.
type auditRecord struct {
	mcpgate.AuditEvent
	calls []authz.Call
}

// recordAudit writes one event per JSON-RPC call (a batch is several), each
// with the request's id, principal, decision and status, so no call in a
// batch hides behind another; a request without calls (GET, DELETE, a
// refused one) is one event.
func (g *Gateway) recordAudit(rec *auditRecord) {
	if len(rec.calls) == 0 {
		ev := rec.AuditEvent
		g.audit.record(&ev)
		return
	}
	for _, c := range rec.calls {
		ev := rec.AuditEvent
		ev.Method, ev.Target = c.Method, c.Name
		if ev.Method == "" {
			ev.Method = "response"
		}
		g.audit.record(&ev)
	}
}

type auditKey struct{}

func withAudit(ctx context.Context, rec *auditRecord) context.Context {
	return context.WithValue(ctx, auditKey{}, rec)
}

// auditFrom returns the request's audit record; a throwaway one when the
// request did not come through mcpHandler, so callers never check for nil.
func auditFrom(ctx context.Context) *auditRecord {
	if rec, ok := ctx.Value(auditKey{}).(*auditRecord); ok {
		return rec
	}
	return new(auditRecord)
}

// readBody reads the whole request body, refusing more than limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// writeRPCError answers with a JSON-RPC error object and an HTTP status.
func writeRPCError(w http.ResponseWriter, status int, code int, msg string) {
	id := json.RawMessage("null")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg}})
}

// statusRecorder remembers the status written through it. Unwrap lets
// http.ResponseController reach Flush and deadlines of the real writer, so
// SSE streams pass through unbuffered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
