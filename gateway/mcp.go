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
func (g *Gateway) mcpHandler(policy *authz.Policy, next http.Handler) http.Handler {
	inner := g.authn.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev := auditFrom(r.Context())
		p := mcpgate.PrincipalFromContext(r.Context())
		ev.Subject, ev.Tenant, ev.KeyID, ev.ClientID = p.Subject, p.Tenant, p.KeyID, p.ClientID

		if r.Method == http.MethodPost {
			body, err := readBody(w, r, g.opts.MaxBodyBytes)
			if err != nil {
				ev.Decision = mcpgate.DecisionError
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, "request body too large")
				} else {
					writeRPCError(w, http.StatusBadRequest, -32700, "could not read request body")
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
			if len(calls) > 0 {
				ev.Method, ev.Target = calls[0].Method, calls[0].Name
				if ev.Method == "" {
					ev.Method = "response"
				}
			}
			if missing, ok := policy.Check(p, calls); !ok {
				ev.Decision = mcpgate.DecisionDeny
				authn.WriteInsufficientScope(w, g.prmURL, missing...)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		next.ServeHTTP(w, r)
	}))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.opts.Now()
		rec := &statusRecorder{ResponseWriter: w}
		ev := &mcpgate.AuditEvent{
			Time:      start.UTC(),
			RequestID: requestIDFrom(r.Context()),
			Method:    r.Method,
			Remote:    r.RemoteAddr,
		}
		defer func() {
			ev.Status = rec.status()
			ev.Latency = g.opts.Now().Sub(start)
			if ev.Decision == "" {
				ev.Decision = mcpgate.DecisionAllow
				if ev.Status >= 500 {
					ev.Decision = mcpgate.DecisionError
				}
			}
			g.audit.record(ev)
		}()
		inner.ServeHTTP(rec, r.WithContext(withAudit(r.Context(), ev)))
	})
}

type auditKey struct{}

func withAudit(ctx context.Context, ev *mcpgate.AuditEvent) context.Context {
	return context.WithValue(ctx, auditKey{}, ev)
}

// auditFrom returns the request's audit event; a throwaway one when the
// request did not come through mcpHandler, so callers never check for nil.
func auditFrom(ctx context.Context) *mcpgate.AuditEvent {
	if ev, ok := ctx.Value(auditKey{}).(*mcpgate.AuditEvent); ok {
		return ev
	}
	return new(mcpgate.AuditEvent)
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
