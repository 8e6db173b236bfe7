package oauth

import (
	"context"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Revocation revokes a refresh token (and with it its whole token family,
// access tokens included) or an access token (RFC 7009 §2.1). Tokens of
// other clients and unknown tokens are ignored: the answer is 200 either
// way (§2.2).
func (s *opServer) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	c := clientOf(r.Client)
	token := r.Data.Token
	now := s.now()
	if strings.Count(token, ".") == 2 { // a JWS: an access token
		claims, err := s.verifyJWT(ctx, token)
		if err == nil && claims.ClientID == c.ID {
			if err := s.tokens.RevokeAccessToken(ctx, claims.ID, now); err != nil {
				return nil, s.serverError(ctx, "revoke access token", err)
			}
			s.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeToken, ID: claims.ID, At: now})
		}
		return op.NewResponse(struct{}{}), nil
	}
	rt, err := s.tokens.RefreshTokenByHash(ctx, hashToken(token))
	if err == nil && rt.ClientID == c.ID {
		if err := s.tokens.RevokeTokenFamily(ctx, rt.Family, now); err != nil {
			return nil, s.serverError(ctx, "revoke token family", err)
		}
		s.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeToken, ID: rt.Family, At: now})
	}
	return op.NewResponse(struct{}{}), nil
}
