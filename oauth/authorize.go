package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// VerifyAuthRequest finds the client of an authorization request and checks
// its redirect_uri. Both failures are answered with a 400 page and never a
// redirect, as the redirect target is not trusted (RFC 6749 §4.1.2.1).
func (s *opServer) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	ar := r.Data
	c, err := s.lookupClient(ctx, ar.ClientID)
	if errors.Is(err, errCIMDRateLimited) {
		noteFailure(ctx, failBusy, "")
		return nil, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("too many client metadata documents fetched for this address; try again later"), http.StatusTooManyRequests)
	}
	if err != nil {
		return nil, s.unknownClient(ctx, ar.ClientID, err)
	}
	if !redirectAllowed(c.RedirectURIs, ar.RedirectURI) {
		noteFailure(ctx, failRedirect, "")
		return nil, op.NewStatusError(oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is not registered for this client"), http.StatusBadRequest)
	}
	if ar.RequestParam != "" {
		// Refused in Authorize, where the error reaches the client.
		ar.RequestParam = "unsupported"
	}
	if ar.ResponseType != oidc.ResponseTypeCode {
		// Likewise refused in Authorize (from the original form value),
		// so the error carries iss and uses the query, not the fragment.
		ar.ResponseType = oidc.ResponseTypeCode
	}
	if len(ar.Scopes) == 0 {
		// The library refuses an empty scope; MCP clients often send none,
		// which means "what the client may have".
		ar.Scopes = s.defaultScopes(c, s.opts.Resource)
		if len(ar.Scopes) == 0 {
			ar.Scopes = []string{"mcp"} // no scopes configured: a placeholder dropped in Authorize
		}
	}
	return &op.ClientRequest[oidc.AuthRequest]{Request: r, Client: &opClient{c: c, s: s.Server}}, nil
}

// unknownClient is the refusal of a request whose client_id names no
// usable client; it says why in words that reveal nothing of this
// server's network (see cimdCause).
func (s *opServer) unknownClient(ctx context.Context, id string, err error) error {
	desc := "unknown client"
	kind, cause := failUnknownClient, ""
	switch {
	case id == "":
		kind, desc = failInvalid, "client_id is required"
	case errors.Is(err, mcpgate.ErrNotFound):
		if looksLikeURL(id) {
			if _, perr := s.cimd.parseID(id); perr != nil {
				cause = "its client_id looks like a client metadata document URL but is not one: " + perr.Error()
			} else if s.opts.DisableCIMD {
				cause = "this server does not accept apps that identify themselves by a client metadata document URL"
			}
		}
	case s.cimd.isCIMD(id):
		kind, cause = failClientMetadata, cimdCause(err)
		desc = "client metadata document could not be used: " + cause
		s.opts.Logger.WarnContext(ctx, "oauth: client metadata document", "client_id", id, "err", err)
	default:
		s.opts.Logger.WarnContext(ctx, "oauth: client lookup", "client_id", id, "err", err)
	}
	noteFailure(ctx, kind, cause)
	return op.NewStatusError(oidc.ErrInvalidRequestRedirectURI().WithDescription("%s", desc), http.StatusBadRequest)
}

func looksLikeURL(id string) bool {
	return strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")
}

// defaultScopes are the scopes a client gets for resource when it asks
// for none.
func (s *Server) defaultScopes(c *mcpgate.Client, resource string) []string {
	if len(c.Scopes) > 0 {
		return slices.Clone(c.Scopes)
	}
	return slices.Clone(s.scopesOf(resource))
}

// allowedScopes filters requested to those resource supports and c is
// allowed.
func (s *Server) allowedScopes(c *mcpgate.Client, resource string, requested []string) []string {
	supported := s.scopesOf(resource)
	var out []string
	for _, sc := range requested {
		if !slices.Contains(supported, sc) {
			continue
		}
		if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, sc) {
			continue
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// Authorize runs once the client and redirect_uri are trusted: every
// failure from here on is redirected to the client with state and iss. It
// requires PKCE with S256 (OAuth 2.1 §4.1.1; plain is refused), checks the
// RFC 8707 resource, stores the pending request and sends the user to the
// login page.
func (s *opServer) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	ar := r.Data
	c := clientOf(r.Client)
	if ar.RequestParam != "" {
		return s.errorRedirect(ar.RedirectURI, ar.State, "request_not_supported", "request objects are not supported"), nil
	}
	if r.Form.Get("response_type") != string(oidc.ResponseTypeCode) {
		return s.errorRedirect(ar.RedirectURI, ar.State, "unsupported_response_type", "only response_type=code is supported"), nil
	}
	if ar.ResponseMode != "" && ar.ResponseMode != oidc.ResponseModeQuery {
		return s.errorRedirect(ar.RedirectURI, ar.State, "invalid_request", "only response_mode=query is supported"), nil
	}
	if ar.CodeChallenge == "" {
		return s.errorRedirect(ar.RedirectURI, ar.State, "invalid_request", "code_challenge is required (PKCE)"), nil
	}
	if ar.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return s.errorRedirect(ar.RedirectURI, ar.State, "invalid_request", "code_challenge_method must be S256"), nil
	}
	if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return s.errorRedirect(ar.RedirectURI, ar.State, "unauthorized_client", "client may not use the authorization code grant"), nil
	}
	resource, ok := s.checkResource(r.Form["resource"], "")
	if !ok {
		return s.errorRedirect(ar.RedirectURI, ar.State, "invalid_target", "resource is not served by this authorization server"), nil
	}
	scopes := s.allowedScopes(c, resource, ar.Scopes)
	if len(scopes) == 0 {
		// Nothing asked for is served here (e.g. only "openid", or the
		// scopes of another resource): offer what the client may have;
		// the token response states the scope.
		scopes = s.allowedScopes(c, resource, s.defaultScopes(c, resource))
	}
	now := s.now()
	req := &mcpgate.AuthRequest{
		ID:            randomToken(16),
		ClientID:      c.ID,
		RedirectURI:   ar.RedirectURI,
		State:         ar.State,
		Scopes:        scopes,
		Resource:      resource,
		CodeChallenge: ar.CodeChallenge,
		CreatedAt:     now,
		ExpiresAt:     now.Add(s.opts.LoginTTL),
	}
	if err := s.requests.CreateAuthRequest(ctx, req); err != nil {
		s.opts.Logger.ErrorContext(ctx, "oauth: store auth request", "err", err)
		return s.errorRedirect(ar.RedirectURI, ar.State, "server_error", ""), nil
	}
	return op.NewRedirect(s.loginURL(req.ID)), nil
}

// checkResource checks the RFC 8707 resource parameters of a request.
// For a new grant (want empty) none means the default resource, and one
// must name a resource of this server exactly. For a code or refresh
// token (want is its resource) none means want, and one must equal it:
// a token is never moved to another audience. More than one is refused,
// as each token has a single audience.
func (s *Server) checkResource(values []string, want string) (string, bool) {
	switch len(values) {
	case 0:
		if want == "" {
			return s.opts.Resource, true
		}
		return want, true
	case 1:
		if want == "" {
			return values[0], s.resource(values[0]) != nil
		}
		return want, values[0] == want
	}
	return "", false
}

// errorRedirect returns the redirect carrying an authorization error
// response (RFC 6749 §4.1.2.1) with iss (RFC 9207).
func (s *Server) errorRedirect(redirectURI, state, code, desc string) *op.Redirect {
	v := url.Values{"error": {code}, "iss": {s.opts.Issuer}}
	if desc != "" {
		v.Set("error_description", desc)
	}
	if state != "" {
		v.Set("state", state)
	}
	return op.NewRedirect(withQuery(redirectURI, v))
}

// withQuery adds v to the query of u, keeping its own parameters.
func withQuery(u string, v url.Values) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	for k, vs := range v {
		q[k] = vs
	}
	p.RawQuery = q.Encode()
	return p.String()
}
