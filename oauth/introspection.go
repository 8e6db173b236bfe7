package oauth

import (
	"context"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Introspect answers RFC 7662 token introspection for confidential
// clients (the library refuses unauthenticated callers first). An access
// token is active if Verify accepts it; a refresh token only for the client
// it was issued to. Anything else is {"active": false}.
func (s *opServer) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cc := r.Data.ClientCredentials
	c, err := s.lookupClient(ctx, cc.ClientID)
	if err != nil || c.SecretHash == nil || !secretMatches(c, cc.ClientSecret) {
		return nil, invalidClient("client authentication failed")
	}
	token := r.Data.IntrospectionRequest.Token
	resp := &oidc.IntrospectionResponse{}
	if strings.Count(token, ".") == 2 {
		if p, err := s.Verifier().Verify(ctx, token); err == nil {
			resp.Active = true
			resp.Scope = p.Scopes
			resp.ClientID = p.ClientID
			resp.TokenType = oidc.BearerToken
			resp.Expiration = oidc.FromTime(p.Expires)
			resp.Subject = p.Subject
			resp.Audience = p.Audience
			resp.Issuer = s.opts.Issuer
			resp.JWTID = p.TokenID
		}
	} else if rt, err := s.store.RefreshTokenByHash(ctx, hashToken(token)); err == nil && rt.ClientID == c.ID {
		now := s.now()
		if rt.UsedAt.IsZero() && rt.RevokedAt.IsZero() && now.Before(rt.ExpiresAt) && s.grantLive(ctx, rt.GrantID) && !s.revoked.token(rt.Family) {
			resp.Active = true
			resp.Scope = rt.Scopes
			resp.ClientID = rt.ClientID
			resp.TokenType = "refresh_token"
			resp.Expiration = oidc.FromTime(rt.ExpiresAt)
			resp.IssuedAt = oidc.FromTime(rt.CreatedAt)
			resp.Subject = rt.Subject
			resp.Audience = []string{rt.Resource}
			resp.Issuer = s.opts.Issuer
		}
	}
	return op.NewResponse(resp), nil
}
