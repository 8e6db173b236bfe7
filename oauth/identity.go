package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate/jose"
)

// SignIdentity signs an identity assertion for an upstream MCP server: a
// short-lived JWT, typ jose.TypeIdentity, with the claims the proxy sets
// (sub, aud, iat, exp, scope, tenant, client_id), issued by this server and
// verifiable with its published JWKS. Its typ keeps it from ever passing as
// an access token, and its audience is the upstream, so it is useless
// anywhere else. The signature matches proxy.IdentityOptions.Sign.
func (s *Server) SignIdentity(claims map[string]any) (string, error) {
	str := func(k string) string { v, _ := claims[k].(string); return v }
	unix := func(k string) time.Time {
		switch v := claims[k].(type) {
		case int64:
			return time.Unix(v, 0)
		case int:
			return time.Unix(int64(v), 0)
		case float64:
			return time.Unix(int64(v), 0)
		}
		return time.Time{}
	}
	c := &jose.Claims{
		Issuer:   s.opts.Issuer,
		Subject:  str("sub"),
		ID:       randomToken(16),
		IssuedAt: unix("iat"),
		Expires:  unix("exp"),
		Scope:    str("scope"),
		Tenant:   str("tenant"),
		ClientID: str("client_id"),
	}
	if aud := str("aud"); aud != "" {
		c.Audience = []string{aud}
	}
	if c.Subject == "" || len(c.Audience) == 0 || c.Expires.IsZero() {
		return "", errors.New("oauth: identity assertion needs sub, aud and exp")
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = s.now()
	}
	s.refreshKeys(context.Background())
	tok, err := s.signingKey().Sign(jose.TypeIdentity, c)
	if err != nil {
		return "", fmt.Errorf("oauth: sign identity assertion: %w", err)
	}
	return tok, nil
}
