package oauth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// RefreshToken rotates a refresh token (OAuth 2.1 §4.3.1): each one works
// once and is replaced by a new one of the same family. Presenting a used
// refresh token means it was copied: the whole grant is revoked and an
// "oauth.refresh_token_reuse" alert raised (OAuth 2.1 §4.3.1, RFC 9700
// §4.14.2). A narrower scope may be asked for; a resource, if sent, must
// equal the grant's.
func (s *opServer) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	now := s.now()
	c := clientOf(r.Client)
	hash := hashToken(r.Data.RefreshToken)
	if len(r.Form["resource"]) > 0 || len(r.Data.Scopes) > 0 {
		// A resource other than the grant's, or a scope beyond it, is
		// refused before the token is used: the client's mistake must not
		// spend it, nor make its next, correct, refresh look like a reuse.
		if peek, err := s.tokens.RefreshTokenByHash(ctx, hash); err == nil && peek.ClientID == c.ID {
			if _, ok := s.checkResource(r.Form["resource"], peek.Resource); !ok {
				return nil, invalidTarget()
			}
			if err := scopesWithin(r.Data.Scopes, peek.Scopes); err != nil {
				return nil, err
			}
		}
	}
	rt, err := s.tokens.UseRefreshToken(ctx, hash, now)
	switch {
	case errors.Is(err, mcpgate.ErrConflict):
		if rt.RevokedAt.IsZero() || s.grantLive(ctx, rt.GrantID) {
			if err := s.consents.RevokeGrantByID(ctx, rt.GrantID, now); err != nil {
				return nil, s.serverError(ctx, "revoke grant", err)
			}
			s.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeGrant, ID: rt.GrantID, At: now})
			s.opts.Logger.WarnContext(ctx, "oauth: refresh token reused; grant revoked", "client_id", rt.ClientID, "grant", rt.GrantID)
			s.opts.Alerts(ctx, "oauth.refresh_token_reuse", "client_id", rt.ClientID, "subject", rt.Subject, "tenant", rt.Tenant, "grant_id", rt.GrantID)
		}
		return nil, invalidGrant("refresh token already used")
	case errors.Is(err, mcpgate.ErrNotFound):
		return nil, invalidGrant("unknown refresh token")
	case err != nil:
		return nil, s.serverError(ctx, "use refresh token", err)
	}
	if rt.ClientID != c.ID {
		return nil, invalidGrant("refresh token was issued to another client")
	}
	if !rt.RevokedAt.IsZero() || !now.Before(rt.ExpiresAt) || s.revoked.token(rt.Family) {
		return nil, invalidGrant("refresh token expired or revoked")
	}
	if _, ok := s.checkResource(r.Form["resource"], rt.Resource); !ok {
		return nil, invalidTarget()
	}
	g, ok := s.activeGrant(ctx, rt.GrantID)
	if !ok {
		return nil, invalidGrant("grant revoked")
	}
	if g.KeyID != "" {
		if err := s.checkGrantKey(ctx, g, now); err != nil {
			return nil, err
		}
	}
	scopes := rt.Scopes
	if len(r.Data.Scopes) > 0 {
		if err := scopesWithin(r.Data.Scopes, rt.Scopes); err != nil {
			return nil, err
		}
		scopes = r.Data.Scopes
	}
	g.LastUsed = now
	if err := s.consents.SaveGrant(ctx, g); err != nil {
		return nil, s.serverError(ctx, "save grant", err)
	}
	resp, err := s.issueTokens(ctx, issue{
		subject:  rt.Subject,
		tenant:   rt.Tenant,
		clientID: c.ID,
		scopes:   scopes,
		// A narrower scope narrows the access token only; the new refresh
		// token keeps the scopes of the old one (RFC 6749 §6).
		refreshScopes: rt.Scopes,
		resource:      rt.Resource,
		grantID:       rt.GrantID,
		keyID:         g.KeyID,
		family:        rt.Family,
		refresh:       true,
	})
	return resp, err
}

// scopesWithin refuses a refresh that asks for a scope the refresh token
// does not carry (RFC 6749 §6: no scope beyond the original grant).
func scopesWithin(asked, granted []string) error {
	for _, sc := range asked {
		if !slices.Contains(granted, sc) {
			return oidc.ErrInvalidScope().WithDescription("scope exceeds the grant")
		}
	}
	return nil
}

// checkGrantKey refuses to refresh grant g, approved by a user who signed
// in with an API key, unless that key is still valid: revoking or expiring
// the key (or the end of a rotation's grace period) ends the grant, which
// is then revoked so that nothing else derives from it.
func (s *Server) checkGrantKey(ctx context.Context, g *mcpgate.Grant, now time.Time) error {
	if s.opts.Keys == nil {
		return invalidGrant("the API key of the grant cannot be checked")
	}
	k, err := s.opts.Keys.Key(ctx, g.KeyID)
	switch {
	case err == nil && k.Valid(now):
		return nil
	case err != nil && !errors.Is(err, mcpgate.ErrNotFound):
		return s.serverError(ctx, "look up API key", err)
	}
	if err := s.consents.RevokeGrantByID(ctx, g.ID, now); err != nil {
		return s.serverError(ctx, "revoke grant", err)
	}
	s.ApplyChange(mcpgate.Change{Kind: mcpgate.ChangeGrant, ID: g.ID, At: now})
	s.opts.Logger.InfoContext(ctx, "oauth: API key of the grant is no longer valid; grant revoked", "client_id", g.ClientID, "grant", g.ID, "key_id", g.KeyID)
	return invalidGrant("the API key the grant was approved with is revoked or expired")
}

func (s *Server) grantLive(ctx context.Context, id string) bool {
	_, ok := s.activeGrant(ctx, id)
	return ok
}
