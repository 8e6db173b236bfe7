package oauth

import (
	"context"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// ClientCredentialsExchange issues an access token to a confidential
// machine client for itself (RFC 6749 §4.4): the subject and tenant are the
// client's, the scopes at most the client's. No refresh token is issued.
// The library refuses public clients before this runs; clients that were
// not added with the CLI (dynamically registered, CIMD) are refused here.
func (s *opServer) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	c := clientOf(r.Client)
	if c.SecretHash == nil {
		return nil, invalidClient("client must be confidential")
	}
	// Machine clients are made by an operator with the CLI only. Any other
	// client holding this grant type (a registration before this rule, a
	// store edited by hand) would get tokens with no user behind them.
	if c.Source != SourceCLI {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("client_credentials is only for clients added with the CLI")
	}
	resource, ok := s.checkResource(r.Form["resource"], "")
	if !ok {
		return nil, &oidc.Error{ErrorType: "invalid_target", Description: "resource is not served by this authorization server"}
	}
	var scopes []string
	if len(r.Data.Scope) == 0 {
		scopes = s.allowedScopes(c, resource, s.defaultScopes(c, resource))
	} else {
		for _, sc := range r.Data.Scope {
			if !slices.Contains(s.allowedScopes(c, resource, []string{sc}), sc) {
				return nil, oidc.ErrInvalidScope().WithDescription("scope not allowed for this client")
			}
		}
		scopes = s.allowedScopes(c, resource, r.Data.Scope)
	}
	subject := c.Subject
	if subject == "" {
		subject = c.ID
	}
	return s.issueTokens(ctx, issue{
		subject:  subject,
		tenant:   c.Tenant,
		clientID: c.ID,
		scopes:   scopes,
		resource: resource,
	})
}
