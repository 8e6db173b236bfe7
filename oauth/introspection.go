package oauth

import (
	"context"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Introspect answers [RFC 7662] token introspection for confidential
// clients; requests without a client secret never get here (see
// requireClient). A client learns only about tokens issued to itself
// (§4: the server must not tell a client about tokens it has no business
// with), unless it is registered for introspection (Client.Introspection),
// as a resource server is: then about every access token. An access token
// is active if Verify accepts it; a refresh token only ever for the client
// it was issued to, since no resource server holds one. A token of a grant
// approved under an API key is active only while the key is valid.
// Anything else is {"active": false}.
//
// [RFC 7662]: https://www.rfc-editor.org/rfc/rfc7662
func (s *opServer) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cc := r.Data.ClientCredentials
	c, err := s.lookupClient(ctx, cc.ClientID)
	if err != nil || c.SecretHash == nil || !secretMatches(c, cc.ClientSecret) {
		return nil, invalidClient("client authentication failed")
	}
	token := r.Data.IntrospectionRequest.Token
	resp := &oidc.IntrospectionResponse{}
	if strings.Count(token, ".") == 2 {
		if p, err := s.Verifier().Verify(ctx, token); err == nil && (c.Introspection || p.ClientID == c.ID) && s.keyLive(ctx, p.KeyID) {
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
	} else if rt, err := s.tokens.RefreshTokenByHash(ctx, hashToken(token)); err == nil && rt.ClientID == c.ID {
		now := s.now()
		g, live := s.activeGrant(ctx, rt.GrantID)
		if live && rt.UsedAt.IsZero() && rt.RevokedAt.IsZero() && now.Before(rt.ExpiresAt) && !s.revoked.token(rt.Family) && s.keyLive(ctx, g.KeyID) {
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

// keyLive reports whether the API key with id ("" for none) is valid now.
func (s *Server) keyLive(ctx context.Context, id string) bool {
	if id == "" {
		return true
	}
	if s.opts.Keys == nil {
		return false
	}
	k, err := s.opts.Keys.Key(ctx, id)
	return err == nil && k.Valid(s.now())
}
