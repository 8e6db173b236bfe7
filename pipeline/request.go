package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/refusal"
)

// Request is what the pipeline admitted: who is calling, the body read
// within the limit, and the JSON-RPC messages in it. The MCP server behind
// finds it with [FromContext] and reads nothing again.
type Request struct {
	// ID identifies the request in logs and audit events.
	ID string
	// Principal is who authenticated it.
	Principal *mcpgate.Principal
	// Body is the whole body of a POST, at most the pipeline's limit;
	// nil for GET and DELETE. It must not be modified.
	Body []byte
	// Calls are the JSON-RPC messages of Body, in order: one for a single
	// message, several for a batch.
	Calls []authz.Call
	// Batch is true when Body is a JSON array.
	Batch bool
	// Reason is set by the handler behind when it refuses a request the
	// pipeline admitted (an audit reason, see mcpgate.Reason); the audit
	// event records it.
	Reason string

	reserved bool // a place in the session table waits for this request
}

type requestKey struct{}

// WithRequest returns a context carrying req.
func WithRequest(ctx context.Context, req *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, req)
}

// FromContext returns the Request the pipeline admitted, or nil when ctx
// did not come through a pipeline.
func FromContext(ctx context.Context) *Request {
	req, _ := ctx.Value(requestKey{}).(*Request)
	return req
}

// SingleID returns the id of the request when Body is a single JSON-RPC
// request, for an error that answers it; nil for a notification, a
// response, a batch or no body.
func (req *Request) SingleID() json.RawMessage {
	if req == nil || req.Batch || len(req.Calls) != 1 {
		return nil
	}
	c := req.Calls[0]
	if c.Method == "" || len(c.ID) == 0 || c.ID[0] == 'n' {
		return nil
	}
	return c.ID
}

// Has reports whether a message of req calls method.
func (req *Request) Has(method string) bool {
	if req == nil {
		return false
	}
	for i := range req.Calls {
		if req.Calls[i].Method == method {
			return true
		}
	}
	return false
}

// NewBody returns a reader over req.Body to hand to a handler that reads
// the request body itself.
func (req *Request) NewBody() io.ReadCloser {
	if req == nil || len(req.Body) == 0 {
		return http.NoBody
	}
	return io.NopCloser(bytes.NewReader(req.Body))
}

// readBodyWithin is readBody with a deadline on reading the body, lifted
// afterwards. A connection whose deadline cannot be set (HTTP/2, a test
// recorder) reads without one.
func readBodyWithin(w http.ResponseWriter, r *http.Request, max int64, timeout time.Duration) ([]byte, *refusal.Refusal) {
	if r.Method != http.MethodPost {
		return readBody(w, r, max)
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(timeout)) != nil {
		return readBody(w, r, max)
	}
	body, rf := readBody(w, r, max)
	if rf == nil {
		_ = rc.SetReadDeadline(time.Time{})
	} else {
		// The deadline stays: net/http would otherwise wait for the rest
		// of the body before answering. The connection is not reused.
		w.Header().Set("Connection", "close")
	}
	return body, rf
}

// exactReadMax is the largest declared body allocated whole before it
// arrives.
const exactReadMax = 64 << 10

// readBody reads r's body: none for GET and DELETE (a body the scope check
// never read must never reach a server that might act on it), at most max
// bytes for POST. A body whose declared length is over the limit is
// refused before a byte of it is read.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *refusal.Refusal) {
	if r.Method != http.MethodPost {
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			return nil, &refusal.Refusal{Kind: refusal.BodyNotAllowed, Message: r.Method + " requests take no body"}
		}
		return nil, nil
	}
	if r.ContentLength > max {
		return nil, &refusal.Refusal{Kind: refusal.BodyTooLarge}
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 && r.ContentLength <= exactReadMax {
		// The common case: one allocation of exactly the declared size.
		// net/http stops the reader at Content-Length.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		// A large or unknown length grows with what arrives: a client
		// that declares megabytes and sends a byte holds only that byte.
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &refusal.Refusal{Kind: refusal.BodyTooLarge, Err: err}
		}
		return nil, &refusal.Refusal{Kind: refusal.BodyUnreadable, Err: err}
	}
	return body, nil
}

// parseCalls parses body, a batch holding at most maxBatch messages.
func parseCalls(body []byte, maxBatch int) ([]authz.Call, bool, *refusal.Refusal) {
	calls, err := authz.ParseBatch(body, maxBatch)
	if err != nil {
		if err == authz.ErrBatchTooLarge {
			return nil, true, &refusal.Refusal{Kind: refusal.BatchTooLarge, Err: err}
		}
		rf := &refusal.Refusal{Kind: refusal.ParseError, Err: err}
		if pe, ok := errors.AsType[*authz.ParseError](err); ok {
			if pe.Code == authz.CodeInvalidRequest {
				rf.Kind = refusal.InvalidRequest
			}
			rf.Message = pe.Message
		}
		return nil, false, rf
	}
	return calls, isArray(body), nil
}

func isArray(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '['
	}
	return false
}

// Read reads and parses r's body as the pipeline does, for an MCP handler
// that was reached without a pipeline in front of it (tests, or a handler
// embedded on its own). The principal is taken from r's context.
func Read(w http.ResponseWriter, r *http.Request, maxBody int64, maxBatch int) (*Request, *refusal.Refusal) {
	req := &Request{Principal: mcpgate.PrincipalFromContext(r.Context())}
	var rf *refusal.Refusal
	if req.Body, rf = readBody(w, r, maxBody); rf != nil {
		return nil, rf
	}
	if req.Body != nil {
		if req.Calls, req.Batch, rf = parseCalls(req.Body, maxBatch); rf != nil {
			return nil, rf
		}
	}
	return req, nil
}
