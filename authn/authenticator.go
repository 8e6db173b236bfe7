package authn

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/jose"
	"github.com/mcpgate/mcpgate/refusal"
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
	// Resource, if set, is the canonical URL of the MCP endpoint this
	// authenticator guards (its RFC 8707 resource). Verifiers see it
	// through mcpgate.ResourceFromContext and refuse tokens issued for
	// another endpoint; API keys, which name no audience, are unaffected.
	Resource string
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
		params = append(params, "resource_metadata", a.opts.ResourceMetadataURL)
	}
	if a.opts.Scope != "" {
		params = append(params, "scope", a.opts.Scope)
	}
	a.challengeMissing = refusal.Challenge(params...)
	a.challengeInvalid = refusal.Challenge(append(params, "error", "invalid_token")...)
	return a
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
	ctx := r.Context()
	if a.opts.Resource != "" && !strings.HasPrefix(token, apikey.Prefix) {
		// API keys name no audience: the context is left as it is,
		// sparing the hot path an allocation.
		ctx = mcpgate.WithResource(ctx, a.opts.Resource)
	}
	p, err := a.v.Verify(ctx, token)
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
// converts. Its expiry check allows the leeway every verifier allows
// ([jose.Leeway]); without it a token accepted a second past exp would be
// refused here.
func SDKTokenInfo(next http.Handler) http.Handler {
	return auth.RequireBearerToken(sdkTokenInfo, &auth.RequireBearerTokenOptions{ClockSkew: jose.Leeway})(next)
}

func sdkTokenInfo(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
	p := mcpgate.PrincipalFromContext(ctx)
	if p == nil {
		return nil, auth.ErrInvalidToken
	}
	return TokenInfo(p), nil
}

// Refusal is the answer to a request that Check did not authenticate with
// err: 401 with an RFC 6750 challenge, the same body whatever the reason,
// or 503 with Retry-After when the verifier could not decide. The reason
// is logged here (never the credential) and kept in the refusal's Err for
// the audit event; it is never sent.
func (a *Authenticator) Refusal(r *http.Request, err error) *refusal.Refusal {
	if a.opts.OnFailure != nil {
		a.opts.OnFailure(r, err)
	}
	if !errors.Is(err, mcpgate.ErrUnauthenticated) {
		a.opts.Logger.LogAttrs(r.Context(), slog.LevelError, "authentication could not be decided",
			slog.Any("error", err), slog.String("remote", r.RemoteAddr))
		return &refusal.Refusal{Kind: refusal.AuthUnavailable, Header: retryAfter1, Err: err}
	}
	a.opts.Logger.LogAttrs(r.Context(), slog.LevelDebug, "authentication refused",
		slog.String("reason", mcpgate.Reason(err)), slog.String("error", err.Error()), slog.String("remote", r.RemoteAddr))
	rf := &refusal.Refusal{Kind: refusal.Unauthenticated, Challenge: a.challengeInvalid, Err: err}
	if errors.Is(err, ErrNoCredential) {
		rf.Challenge = a.challengeMissing
	}
	return rf
}

var retryAfter1 = http.Header{"Retry-After": {"1"}}

func (a *Authenticator) fail(w http.ResponseWriter, r *http.Request, err error) {
	refusal.Write(w, a.Refusal(r, err))
}

// InsufficientScope is the answer to a request whose credential lacks a
// scope: 403 with an RFC 6750 §3.1 challenge naming the scopes needed, so
// that an OAuth client can ask for them (step-up authorization):
//
//	WWW-Authenticate: Bearer error="insufficient_scope", scope="a b", resource_metadata="…"
//
// The JSON body names them too.
func InsufficientScope(resourceMetadataURL string, scopes ...string) *refusal.Refusal {
	scope := strings.Join(scopes, " ")
	params := []string{"error", "insufficient_scope"}
	if scope != "" {
		params = append(params, "scope", scope)
	}
	if resourceMetadataURL != "" {
		params = append(params, "resource_metadata", resourceMetadataURL)
	}
	return &refusal.Refusal{Kind: refusal.InsufficientScope, Challenge: refusal.Challenge(params...), Scope: scope}
}

// WriteInsufficientScope answers with [InsufficientScope].
func WriteInsufficientScope(w http.ResponseWriter, resourceMetadataURL string, scopes ...string) {
	refusal.Write(w, InsufficientScope(resourceMetadataURL, scopes...))
}
