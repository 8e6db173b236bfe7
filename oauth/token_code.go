package oauth

import (
	"context"
	"errors"
	"slices"

	"github.com/mcpgate/mcpgate"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// CodeExchange redeems an authorization code (RFC 6749 §4.1.3, OAuth 2.1
// §4.1.3). The code is single-use: a second redemption is refused and
// revokes the tokens already issued from it (RFC 6749 §4.1.2). The
// redirect_uri must equal the one of the authorization request, the PKCE
// verifier must match the S256 challenge, a resource, if sent, must equal
// the grant's, and the API key the user signed in with, if any, must still
// be valid.
//
// The client, redirect_uri, verifier and resource are checked before the
// code is used up: someone who got hold of a code but not its verifier can
// neither burn it before its owner redeems it nor, by replaying it, revoke
// the owner's tokens.
func (s *opServer) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	now := s.now()
	c := clientOf(r.Client)
	ar, err := s.requests.RedeemCode(ctx, hashToken(r.Data.Code), now, func(ar *mcpgate.AuthRequest) error {
		return s.checkCodeRequest(r, c, ar)
	})
	var refused *oidc.Error
	switch {
	case errors.As(err, &refused):
		return nil, err
	case errors.Is(err, mcpgate.ErrConflict):
		s.opts.Logger.WarnContext(ctx, "oauth: authorization code reused", "client_id", ar.ClientID, "request", ar.ID)
		if err := s.tokens.RevokeTokenFamily(ctx, ar.ID, now); err != nil {
			return nil, s.serverError(ctx, "revoke token family", err)
		}
		s.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeToken, ID: ar.ID, At: now})
		s.opts.Alerts(ctx, "oauth.code_reuse", "client_id", ar.ClientID, "subject", ar.Subject)
		return nil, invalidGrant("authorization code already used")
	case errors.Is(err, mcpgate.ErrNotFound):
		return nil, invalidGrant("unknown authorization code")
	case err != nil:
		return nil, s.serverError(ctx, "redeem code", err)
	}
	if !now.Before(ar.ExpiresAt) {
		return nil, invalidGrant("authorization code expired")
	}
	g, ok := s.activeGrant(ctx, ar.GrantID)
	if !ok {
		return nil, invalidGrant("grant revoked")
	}
	if g.KeyID != "" {
		if err := s.checkGrantKey(ctx, g, now); err != nil {
			return nil, err
		}
	}
	return s.issueTokens(ctx, issue{
		subject:  ar.Subject,
		tenant:   ar.Tenant,
		clientID: c.ID,
		scopes:   ar.Scopes,
		resource: ar.Resource,
		grantID:  ar.GrantID,
		keyID:    g.KeyID,
		family:   ar.ID,
		refresh:  slices.Contains(c.GrantTypes, GrantRefreshToken),
	})
}

// checkCodeRequest decides whether the token request r of client c may
// redeem the code of authorization request ar: it was issued to c, for the
// same redirect_uri and resource, and r carries the PKCE verifier.
func (s *opServer) checkCodeRequest(r *op.ClientRequest[oidc.AccessTokenRequest], c *mcpgate.Client, ar *mcpgate.AuthRequest) error {
	if ar.ClientID != c.ID {
		return invalidGrant("authorization code was issued to another client")
	}
	if r.Data.RedirectURI != ar.RedirectURI {
		return invalidGrant("redirect_uri does not match the authorization request")
	}
	if r.Data.CodeVerifier == "" || !oidc.VerifyCodeChallenge(&oidc.CodeChallenge{Challenge: ar.CodeChallenge, Method: oidc.CodeChallengeMethodS256}, r.Data.CodeVerifier) {
		return invalidGrant("code_verifier does not match the code_challenge")
	}
	if _, ok := s.checkResource(r.Form["resource"], ar.Resource); !ok {
		return invalidTarget()
	}
	return nil
}
