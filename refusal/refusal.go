// Package refusal is the one place where mcpgate answers an MCP request it
// will not serve. Each [Kind] has one row in a table: the HTTP status, the
// audit decision, and the shape of the body a client gets, so the gateway,
// the authenticator and the proxy answer the same refusal the same way.
//
// Two body shapes are used, each where clients expect it:
//
//   - an OAuth error object (RFC 6750 §3) for refusals about the
//     credential or the origin (401, 403, and 503 when authentication
//     cannot be decided), with WWW-Authenticate where RFC 6750 asks for it;
//   - a JSON-RPC error object for refusals about the message or the server
//     behind (400, 404, 405, 413, 429, 502, 503), which MCP clients show.
//
// What is sent never says more than the table and the caller's safe
// message; why a credential was refused goes to the log and the audit
// event only.
package refusal

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"strconv"
	"strings"

	"github.com/mcpgate/mcpgate"
)

// Kind names a refusal.
type Kind uint8

// The refusals, in the order the request path can produce them.
const (
	MethodNotAllowed    Kind = iota + 1 // 405: not GET, POST or DELETE
	ForeignOrigin                       // 403: a browser page of another origin
	Unauthenticated                     // 401: no, or no valid, credential
	AuthUnavailable                     // 503: the credential could not be checked
	RateLimited                         // 429: over a rate limit
	LimiterUnavailable                  // 503: the rate limit could not be checked
	BodyNotAllowed                      // 400: a GET or DELETE with a body
	BodyTooLarge                        // 413: over the body limit
	BodyUnreadable                      // 400: the body could not be read
	ParseError                          // 400: not JSON
	InvalidRequest                      // 400: not a valid JSON-RPC message
	BatchTooLarge                       // 400: a batch with too many messages
	HeaderMismatch                      // 400: Mcp-Method or Mcp-Name differs from the body
	InsufficientScope                   // 403: the credential lacks a scope
	SessionNotFound                     // 404: unknown, expired or another principal's session
	TooManySessions                     // 503: the server holds as many sessions as it may
	UpstreamUnavailable                 // 502: the server behind did not answer
	UpstreamUnusable                    // 502: its answer could not be checked, so it is withheld
	UpstreamRejected                    // 502: it refused mcpgate's own credentials for it
	Internal                            // 500
	// SignInRequired (403): the server behind needs the caller's token
	// from their identity provider, which mcpgate does not hold (any
	// more); the message tells the person to sign in again.
	SignInRequired
)

// JSON-RPC error codes used in refusals.
const (
	CodeParseError      = -32700
	CodeInvalidRequest  = -32600
	CodeInternalError   = -32603
	CodeServerError     = -32000 // implementation-defined: rate limited, overloaded
	CodeSessionNotFound = -32001
	CodeHeaderMismatch  = -32020 // SEP-2243: a standard request header differs from the body
)

type shape uint8

const (
	shapeRPC   shape = iota // {"jsonrpc":"2.0","id":…,"error":{"code","message"[,"data"]}}
	shapeOAuth              // {"error","error_description"[,"scope"]}
)

type row struct {
	status   int
	decision string // audit decision
	shape    shape
	code     int    // JSON-RPC code (shapeRPC)
	name     string // OAuth error code (shapeOAuth), or the reason logged
	message  string // default message sent to the client
	reason   string // audit reason; "" for a verifier's to fill in
}

var table = [...]row{
	MethodNotAllowed:    {http.StatusMethodNotAllowed, mcpgate.DecisionBadRequest, shapeRPC, CodeInvalidRequest, "method_not_allowed", "method not allowed", "method_not_allowed"},
	ForeignOrigin:       {http.StatusForbidden, mcpgate.DecisionDeny, shapeOAuth, 0, "forbidden", "origin not allowed", "foreign_origin"},
	Unauthenticated:     {http.StatusUnauthorized, mcpgate.DecisionUnauthenticated, shapeOAuth, 0, "unauthorized", "a valid bearer credential is required", ""},
	AuthUnavailable:     {http.StatusServiceUnavailable, mcpgate.DecisionError, shapeOAuth, 0, "temporarily_unavailable", "authentication is temporarily unavailable", "auth_unavailable"},
	RateLimited:         {http.StatusTooManyRequests, mcpgate.DecisionRateLimited, shapeRPC, CodeServerError, "rate_limited", "rate limit exceeded", "rate_limited"},
	LimiterUnavailable:  {http.StatusServiceUnavailable, mcpgate.DecisionError, shapeRPC, CodeServerError, "limiter_unavailable", "rate limiting is temporarily unavailable", "limiter_unavailable"},
	BodyNotAllowed:      {http.StatusBadRequest, mcpgate.DecisionBadRequest, shapeRPC, CodeInvalidRequest, "body_not_allowed", "request takes no body", "body_not_allowed"},
	BodyTooLarge:        {http.StatusRequestEntityTooLarge, mcpgate.DecisionTooLarge, shapeRPC, CodeInvalidRequest, "too_large", "request body too large", mcpgate.ReasonBodyTooLarge},
	BodyUnreadable:      {http.StatusBadRequest, mcpgate.DecisionBadRequest, shapeRPC, CodeParseError, "unreadable", "could not read request body", "unreadable"},
	ParseError:          {http.StatusBadRequest, mcpgate.DecisionBadRequest, shapeRPC, CodeParseError, "malformed", "parse error", mcpgate.ReasonMalformed},
	InvalidRequest:      {http.StatusBadRequest, mcpgate.DecisionBadRequest, shapeRPC, CodeInvalidRequest, "invalid_request", "invalid request", "invalid_request"},
	BatchTooLarge:       {http.StatusBadRequest, mcpgate.DecisionTooLarge, shapeRPC, CodeInvalidRequest, "batch_too_large", "batch too large", mcpgate.ReasonBatchTooLarge},
	HeaderMismatch:      {http.StatusBadRequest, mcpgate.DecisionBadRequest, shapeRPC, CodeHeaderMismatch, "header_mismatch", "header mismatch", "header_mismatch"},
	InsufficientScope:   {http.StatusForbidden, mcpgate.DecisionDeny, shapeOAuth, 0, "insufficient_scope", "the credential lacks a required scope", mcpgate.ReasonInsufficientScope},
	SessionNotFound:     {http.StatusNotFound, mcpgate.DecisionBadRequest, shapeRPC, CodeSessionNotFound, "session_not_found", "session not found", "session_not_found"},
	TooManySessions:     {http.StatusServiceUnavailable, mcpgate.DecisionError, shapeRPC, CodeServerError, "too_many_sessions", "too many sessions; try again later", "too_many_sessions"},
	UpstreamUnavailable: {http.StatusBadGateway, mcpgate.DecisionError, shapeRPC, CodeInternalError, "upstream_unavailable", "upstream unavailable", "upstream_unavailable"},
	UpstreamUnusable:    {http.StatusBadGateway, mcpgate.DecisionError, shapeRPC, CodeInternalError, "upstream_unusable", "upstream response unusable", "upstream_unusable"},
	UpstreamRejected:    {http.StatusBadGateway, mcpgate.DecisionError, shapeRPC, CodeInternalError, "upstream_rejected", "the upstream server refused the gateway's credentials", "upstream_rejected"},
	Internal:            {http.StatusInternalServerError, mcpgate.DecisionError, shapeRPC, CodeInternalError, "internal", "internal error", "internal"},
	SignInRequired:      {http.StatusForbidden, mcpgate.DecisionDeny, shapeRPC, CodeServerError, "sign_in_required", "sign in again", mcpgate.ReasonSignInAgain},
}

// Status is the HTTP status of k.
func (k Kind) Status() int { return table[k].status }

// Decision is the audit decision recorded for k.
func (k Kind) Decision() string { return table[k].decision }

// Reason is the audit reason recorded for k: "" for Unauthenticated,
// whose reason is the verifier's (see [mcpgate.Reason]).
func (k Kind) Reason() string { return table[k].reason }

// String is k's name, as logged and audited ("too_large", "rate_limited").
func (k Kind) String() string {
	if int(k) >= len(table) || k == 0 {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return table[k].name
}

// A Refusal is one refused request: its Kind and what the answer carries
// beyond the table's defaults. The zero values of the other fields keep
// the defaults.
type Refusal struct {
	Kind Kind
	// Message replaces the kind's default message; it is sent to the
	// client, so it must say nothing a client should not know.
	Message string
	// Code replaces the kind's JSON-RPC error code (a parse error's
	// -32700 or -32600).
	Code int
	// ID is the raw id of the JSON-RPC request answered; null when nil.
	ID json.RawMessage
	// Challenge is the WWW-Authenticate value of a 401 or 403.
	Challenge string
	// Scope names the scopes an insufficient_scope refusal lacks.
	Scope string
	// Data is the JSON-RPC error's data member, marshalled as JSON.
	Data any
	// Header holds further response headers (Allow, Retry-After,
	// RateLimit).
	Header http.Header
	// Page, when set, is the URL of a page for people. A browser that
	// opened an MCP URL gets a short HTML body pointing there instead of
	// the JSON one; the status and the headers stay those of the table,
	// challenge included.
	Page string
	// Err is why, for the log and the audit event; never sent.
	Err error
}

// New returns a refusal of kind k with the table's defaults.
func New(k Kind) *Refusal { return &Refusal{Kind: k} }

// Error describes r for logs.
func (r *Refusal) Error() string {
	s := r.Kind.String()
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

// Write answers the request with r.
func Write(w http.ResponseWriter, r *Refusal) {
	row := table[r.Kind]
	h := w.Header()
	for k, vv := range r.Header {
		h[k] = vv
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if r.Challenge != "" {
		h.Set("WWW-Authenticate", r.Challenge)
	}
	msg := r.Message
	if msg == "" {
		msg = row.message
	}
	var b []byte
	switch {
	case r.Page != "":
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", pageCSP)
		b = appendPage(make([]byte, 0, 640), r.Page)
	case row.shape == shapeOAuth:
		b = appendOAuth(make([]byte, 0, 128), row.name, msg, r.Scope)
	default:
		code := r.Code
		if code == 0 {
			code = row.code
		}
		b = appendRPC(make([]byte, 0, 128), r.ID, code, msg, r.Data)
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(row.status)
	_, _ = w.Write(b)
}

// pageStyle is the one style of the page a browser gets; the policy
// allows it by its hash and nothing else.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1.2rem;line-height:1.5;color:#1d2330;background:#f4f5f7}` +
	`h1{font-size:1.4rem}a{color:#2457d6}` +
	`@media (prefers-color-scheme: dark){body{color:#e6e9ef;background:#0f1217}a{color:#8cb4ff}}`

var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

// appendPage is the body a browser gets in place of the JSON: it says what
// the address is and points to page.
func appendPage(b []byte, page string) []byte {
	b = append(b, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>MCP server</title><style>`+pageStyle+`</style></head>
<body><h1>This is an MCP server</h1>
<p>This address is for AI apps, such as Claude, VS Code or Cursor, which connect to it with their own credentials; a browser cannot open it.</p>
<p>To connect an app, see <a href="`...)
	b = append(b, html.EscapeString(page)...)
	return append(b, `">how to connect</a>.</p></body></html>
`...)
}

// Answer writes a refusal of kind k with message msg; a shorthand for
// Write(w, &Refusal{Kind: k, Message: msg}).
func Answer(w http.ResponseWriter, k Kind, msg string) {
	Write(w, &Refusal{Kind: k, Message: msg})
}

func appendOAuth(b []byte, code, desc, scope string) []byte {
	b = append(b, `{"error":`...)
	b = appendString(b, code)
	b = append(b, `,"error_description":`...)
	if scope != "" {
		desc += ": " + scope
	}
	b = appendString(b, desc)
	if scope != "" {
		b = append(b, `,"scope":`...)
		b = appendString(b, scope)
	}
	return append(b, "}\n"...)
}

func appendRPC(b []byte, id json.RawMessage, code int, msg string, data any) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	if len(id) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, id...)
	}
	b = append(b, `,"error":{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	if data != nil {
		if d, err := json.Marshal(data); err == nil {
			b = append(b, `,"data":`...)
			b = append(b, d...)
		}
	}
	return append(b, "}}\n"...)
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// Challenge returns an RFC 6750 WWW-Authenticate value for the Bearer
// scheme with the given auth-params, each a name and a value that is
// quoted here: Challenge("resource_metadata", u, "error", "invalid_token").
func Challenge(params ...string) string {
	if len(params) < 2 {
		return "Bearer"
	}
	var b strings.Builder
	b.WriteString("Bearer ")
	for i := 0; i+1 < len(params); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(params[i])
		b.WriteByte('=')
		quote(&b, params[i+1])
	}
	return b.String()
}

// quote writes s as an RFC 9110 quoted-string: backslash and double quote
// are escaped, and control characters, which a header may not carry, are
// dropped.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := range len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 && c != '\t', c == 0x7f:
			// dropped
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
