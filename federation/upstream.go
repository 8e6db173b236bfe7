package federation

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/refusal"
)

// Authorization returns the Authorization header value an upstream MCP
// server configured to receive the user's identity provider token gets
// for pr (it fits proxy.Options.Credential): "Bearer " and the token of
// [Federation.AccessToken]. This is mcpgate's own token from the provider
// for that user; the MCP client's token is never passed on. Its errors
// are refusals whose message tells the person what to do: sign in again
// (refusal.SignInRequired, audit reason idp_sign_in_required), sign in
// with the provider at all (not_federated), or try again later when the
// provider does not answer.
func (f *Federation) Authorization(ctx context.Context, pr *mcpgate.Principal) (string, error) {
	tok, err := f.AccessToken(ctx, pr)
	if err == nil {
		return "Bearer " + tok, nil
	}
	names := f.names()
	switch {
	case errors.Is(err, ErrNotFederated):
		return "", &refusal.Refusal{Kind: refusal.SignInRequired,
			Message: "this server needs you to sign in with " + names + ": connect with OAuth and choose " + names +
				" on the sign-in page (API keys and other tokens cannot be used here)",
			Err: reasoned(mcpgate.ReasonNotFederated, err)}
	case errors.Is(err, ErrSignInAgain):
		return "", &refusal.Refusal{Kind: refusal.SignInRequired,
			Message: "sign in again: your " + names + " sign-in for this server has ended; reconnect this server in your app" +
				f.appsHint() + " and sign in with " + names,
			Err: reasoned(mcpgate.ReasonSignInAgain, err)}
	case errors.Is(err, ErrUnavailable):
		return "", &refusal.Refusal{Kind: refusal.UpstreamUnavailable,
			Message: names + " did not answer; try again shortly",
			Err:     reasoned(mcpgate.ReasonUnavailable, err)}
	}
	return "", &refusal.Refusal{Kind: refusal.Internal, Err: err}
}

// names joins the providers' names for a message: "Acme SSO" or
// "Acme SSO or Google".
func (f *Federation) names() string {
	n := make([]string, len(f.providers))
	for i, p := range f.providers {
		n[i] = p.Name
	}
	return strings.Join(n, " or ")
}

// appsHint points at the connected-apps page, where the old connection
// can be revoked.
func (f *Federation) appsHint() string {
	u, err := url.Parse(f.opts.RedirectURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return " (or revoke it at " + u.Scheme + "://" + u.Host + "/apps)"
}

// reasonedError carries an audit reason (see mcpgate.Reason).
type reasonedError struct {
	reason string
	err    error
}

func reasoned(reason string, err error) error { return &reasonedError{reason, err} }

func (e *reasonedError) Error() string  { return e.err.Error() }
func (e *reasonedError) Unwrap() error  { return e.err }
func (e *reasonedError) Reason() string { return e.reason }
