package authn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpgate/mcpgate"
)

// Options configure an [Authenticator]. The zero value is valid.
type Options struct {
	// ResourceMetadataURL is the URL of this server's OAuth protected
	// resource metadata ([RFC 9728]), announced in every 401 and 403 so that
	// clients can discover the authorization server.
	//
	// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728#section-5.1
	ResourceMetadataURL string
	// Scope, if set, is announced in 401 challenges as the scope a client
	// should request (space-separated).
	Scope string
	// Logger receives the reason of each failure (never the credential);
	// slog.Default() by default. Refusals are logged at Debug, verifier
	// failures at Error.
	Logger *slog.Logger
	// OnFailure, if set, is called for every request that is not
	// authenticated, with the reason, e.g. to record an audit event.
	OnFailure func(r *http.Request, err error)
}

// Authenticator authenticates requests by their bearer credential.
type Authenticator struct {
	v    Verifier
	opts Options

	challengeMissing string // WWW-Authenticate when no credential was sent
	challengeInvalid string // … and when one was sent and refused
}

// New returns an Authenticator that verifies bearer credentials with v.
// opts may be nil.
func New(v Verifier, opts *Options) *Authenticator {
	a := &Authenticator{v: v}
	if opts != nil {
		a.opts = *opts
	}
	if a.opts.Logger == nil {
		a.opts.Logger = slog.Default()
	}
	var params []string
	if a.opts.ResourceMetadataURL != "" {
		params = append(params, "resource_metadata="+quote(a.opts.ResourceMetadataURL))
	}
	if a.opts.Scope != "" {
		params = append(params, "scope="+quote(a.opts.Scope))
	}
	a.challengeMissing = challenge(params)
	a.challengeInvalid = challenge(append(params, `error="invalid_token"`))
	return a
}

func challenge(params []string) string {
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

var errNoPrincipal = errors.New("authn: verifier returned neither a principal nor an error")

// Check returns the principal that r's bearer credential authenticates.
// When the credential is missing or refused the error matches
// [mcpgate.ErrUnauthenticated] (and [ErrNoCredential] when there was none);
// any other error means the verifier could not decide.
func (a *Authenticator) Check(r *http.Request) (*mcpgate.Principal, error) {
	token, err := BearerFromRequest(r)
	if err != nil {
		return nil, err
	}
	p, err := a.v.Verify(r.Context(), token)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errNoPrincipal
	}
	return p, nil
}

// Handler returns middleware that lets only authenticated requests through
// to next. The principal is put in the request context, where
// [mcpgate.PrincipalFromContext] finds it, and also as the MCP Go SDK's
// auth.TokenInfo (see [TokenInfo]), so that MCP handlers find it in
// req.Extra.TokenInfo and the SDK binds each session to its principal.
//
// A refused request gets 401 with an RFC 6750 challenge, the same body
// whatever the reason, and Cache-Control: no-store. If the verifier cannot
// decide (its store is down) the answer is 503.
func (a *Authenticator) Handler(next http.Handler) http.Handler {
	return a.Authenticate(SDKTokenInfo(next))
}

// Authenticate is Handler without the SDK's TokenInfo: it puts only the
// principal in the context. Handlers that are not go-sdk servers (an
// upstream proxy) need no more, and skip the conversion on every request.
func (a *Authenticator) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Check(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(mcpgate.WithPrincipal(r.Context(), p)))
	})
}

// SDKTokenInfo hands the principal that Authenticate put in the context to
// the go-sdk as *auth.TokenInfo, so MCP handlers find it at
// req.Extra.TokenInfo and SDK sessions are bound to it. The SDK keeps its
// context key private; its own middleware is the only way in, and by the
// time it runs the credential has been checked, so its verifier only
// converts.
func SDKTokenInfo(next http.Handler) http.Handler {
	return auth.RequireBearerToken(sdkTokenInfo, nil)(next)
}

func sdkTokenInfo(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
	p := mcpgate.PrincipalFromContext(ctx)
	if p == nil {
		return nil, auth.ErrInvalidToken
	}
	return TokenInfo(p), nil
}

var (
	bodyUnauthorized = []byte(`{"error":"unauthorized","error_description":"a valid bearer credential is required"}` + "\n")
	bodyUnavailable  = []byte(`{"error":"temporarily_unavailable","error_description":"authentication is temporarily unavailable"}` + "\n")
)

func (a *Authenticator) fail(w http.ResponseWriter, r *http.Request, err error) {
	if a.opts.OnFailure != nil {
		a.opts.OnFailure(r, err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if !errors.Is(err, mcpgate.ErrUnauthenticated) {
		a.opts.Logger.LogAttrs(r.Context(), slog.LevelError, "authentication could not be decided",
			slog.Any("error", err), slog.String("remote", r.RemoteAddr))
		h.Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(bodyUnavailable)
		return
	}
	a.opts.Logger.LogAttrs(r.Context(), slog.LevelDebug, "authentication refused",
		slog.String("reason", err.Error()), slog.String("remote", r.RemoteAddr))
	if errors.Is(err, ErrNoCredential) {
		h.Set("WWW-Authenticate", a.challengeMissing)
	} else {
		h.Set("WWW-Authenticate", a.challengeInvalid)
	}
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(bodyUnauthorized)
}

// WriteInsufficientScope answers a request whose credential lacks a scope
// with 403 and an RFC 6750 §3.1 challenge naming the scopes needed, so that
// an OAuth client can ask for them (step-up authorization):
//
//	WWW-Authenticate: Bearer error="insufficient_scope", scope="a b", resource_metadata="…"
//
// The JSON body names them too.
func WriteInsufficientScope(w http.ResponseWriter, resourceMetadataURL string, scopes ...string) {
	scope := strings.Join(scopes, " ")
	params := []string{`error="insufficient_scope"`}
	if scope != "" {
		params = append(params, "scope="+quote(scope))
	}
	if resourceMetadataURL != "" {
		params = append(params, "resource_metadata="+quote(resourceMetadataURL))
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Scope       string `json:"scope,omitempty"`
	}{"insufficient_scope", "the credential lacks a required scope: " + scope, scope})
	h := w.Header()
	h.Set("WWW-Authenticate", challenge(params))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusForbidden)
	w.Write(append(body, '\n'))
}

// quote returns s as an RFC 9110 quoted-string: backslash and double quote
// are escaped, and control characters, which a header may not carry, are
// dropped.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
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
	return b.String()
}
