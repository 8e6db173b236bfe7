package oauth

import (
	"context"
	"fmt"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// issue describes the tokens one token response carries.
type issue struct {
	subject, tenant, clientID string
	scopes                    []string
	refreshScopes             []string // default scopes
	resource                  string
	grantID                   string
	keyID                     string // API key the grant was approved under
	family                    string // "" for client credentials
	refresh                   bool
}

// issueTokens signs an access token and, if asked, stores and returns a new
// refresh token of the same family.
func (s *Server) issueTokens(ctx context.Context, in issue) (*op.Response, error) {
	now := s.now()
	jti := randomToken(16)
	family := in.family
	if family == "" {
		family = jti
	}
	s.refreshKeys(ctx)
	signer := s.signingKey()
	at, err := signer.Sign(jose.TypeAccessToken, &jose.Claims{
		Issuer:   s.opts.Issuer,
		Subject:  in.subject,
		Audience: []string{in.resource},
		ID:       jti,
		IssuedAt: now,
		Expires:  now.Add(s.opts.AccessTokenTTL),
		ClientID: in.clientID,
		Scope:    strings.Join(in.scopes, " "),
		GrantID:  in.grantID,
		Family:   family,
		Tenant:   in.tenant,
		KeyID:    in.keyID,
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: sign access token: %w", err)
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken: at,
		TokenType:   oidc.BearerToken,
		ExpiresIn:   uint64(s.opts.AccessTokenTTL.Seconds()),
		Scope:       in.scopes,
	}
	if in.refresh {
		rt := randomToken(32)
		refreshScopes := in.refreshScopes
		if refreshScopes == nil {
			refreshScopes = in.scopes
		}
		err := s.tokens.CreateRefreshToken(ctx, &mcpgate.RefreshToken{
			Hash:      hashToken(rt),
			Family:    family,
			GrantID:   in.grantID,
			ClientID:  in.clientID,
			Subject:   in.subject,
			Tenant:    in.tenant,
			Scopes:    refreshScopes,
			Resource:  in.resource,
			CreatedAt: now,
			ExpiresAt: now.Add(s.opts.RefreshTokenTTL),
		})
		if err != nil {
			return nil, fmt.Errorf("oauth: store refresh token: %w", err)
		}
		resp.RefreshToken = rt
	}
	r := op.NewResponse(resp)
	r.Header.Set("Cache-Control", "no-store")
	r.Header.Set("Pragma", "no-cache")
	return r, nil
}

func invalidGrant(desc string) error {
	return oidc.ErrInvalidGrant().WithDescription("%s", desc)
}

func invalidTarget() error {
	return &oidc.Error{ErrorType: "invalid_target", Description: "resource does not match the grant"}
}

// serverError logs err and returns the generic server_error: internal
// details never reach the client.
func (s *Server) serverError(ctx context.Context, what string, err error) error {
	s.opts.Logger.ErrorContext(ctx, "oauth: "+what, "err", err)
	return oidc.ErrServerError()
}

// activeGrant returns the grant id if it exists and is not revoked.
func (s *Server) activeGrant(ctx context.Context, id string) (*mcpgate.Grant, bool) {
	g, err := s.grants.Grant(ctx, id)
	if err != nil || !g.RevokedAt.IsZero() || s.revoked.grant(id) {
		return nil, false
	}
	return g, true
}
