package oauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate"
)

// PendingRequest is an authorization request waiting for the user to log
// in and consent, as the login pages show it.
type PendingRequest struct {
	ID          string
	ClientID    string
	ClientName  string
	RedirectURI string
	Scopes      []string
	Resource    string
	// ScopeDescriptions are the plain words configured for the scopes of
	// Resource (see Resource.ScopeDescriptions); nil when it has none.
	ScopeDescriptions map[string]string
	// PriorApproval is true when an active grant of this user to this
	// client already covers these scopes: consent may be skipped.
	PriorApproval bool
}

// pending returns the request with id if it is still waiting.
func (s *Server) pending(ctx context.Context, id string) (*mcpgate.AuthRequest, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	r, err := s.requests.AuthRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.CodeHash != nil || !s.now().Before(r.ExpiresAt) {
		return nil, ErrNotFound
	}
	return r, nil
}

// PendingRequest returns the pending authorization request id. subject is
// the logged-in user, or "" before login. It returns ErrNotFound if the
// request is unknown, expired or already answered.
func (s *Server) PendingRequest(ctx context.Context, id string, subject string) (*PendingRequest, error) {
	r, err := s.pending(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := s.lookupClient(ctx, r.ClientID)
	if err != nil {
		return nil, ErrNotFound
	}
	p := &PendingRequest{
		ID:          r.ID,
		ClientID:    c.ID,
		ClientName:  c.Name,
		RedirectURI: r.RedirectURI,
		Scopes:      slices.Clone(r.Scopes),
		Resource:    r.Resource,
	}
	if res := s.resource(r.Resource); res != nil {
		p.ScopeDescriptions = maps.Clone(res.ScopeDescriptions)
	}
	if p.ClientName == "" {
		p.ClientName = c.ID
	}
	if subject != "" {
		g, err := s.consents.ActiveGrant(ctx, subject, c.ID, r.Resource)
		if err == nil && covers(g.Scopes, r.Scopes) {
			p.PriorApproval = true
		}
	}
	return p, nil
}

func covers(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// Approve records that user consented to request id with scopes, which are
// cut down to the requested scopes the user holds (a user signed in with an
// API key gets at most the key's scopes). It creates the user's grant for
// the client, or extends an existing one, issues the authorization code and
// returns the client redirect URL carrying code, state and iss.
func (s *Server) Approve(ctx context.Context, id string, user *mcpgate.Principal, scopes []string) (string, error) {
	if user == nil || user.Subject == "" {
		return "", errors.New("oauth: Approve needs an authenticated user")
	}
	r, err := s.pending(ctx, id)
	if err != nil {
		return "", err
	}
	if _, err := s.lookupClient(ctx, r.ClientID); err != nil {
		return "", ErrNotFound
	}
	var granted []string
	for _, sc := range scopes {
		if slices.Contains(r.Scopes, sc) && user.HasScope(sc) && !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	now := s.now()
	g, err := s.consents.ActiveGrant(ctx, user.Subject, r.ClientID, r.Resource)
	switch {
	case err == nil && g.Tenant == user.Tenant && g.KeyID == user.KeyID:
		for _, sc := range granted {
			if !slices.Contains(g.Scopes, sc) {
				g.Scopes = append(g.Scopes, sc)
			}
		}
		g.LastUsed = now
	case err == nil || errors.Is(err, mcpgate.ErrNotFound):
		g = &mcpgate.Grant{
			ID:        randomToken(16),
			Subject:   user.Subject,
			Tenant:    user.Tenant,
			ClientID:  r.ClientID,
			Scopes:    granted,
			Resource:  r.Resource,
			KeyID:     user.KeyID,
			CreatedAt: now,
			LastUsed:  now,
		}
	default:
		return "", fmt.Errorf("oauth: grant: %w", err)
	}
	if err := s.consents.SaveGrant(ctx, g); err != nil {
		return "", fmt.Errorf("oauth: save grant: %w", err)
	}
	code := randomToken(32)
	r.Subject = user.Subject
	r.Tenant = user.Tenant
	r.GrantID = g.ID
	r.Scopes = granted
	r.CodeHash = hashToken(code)
	r.ExpiresAt = now.Add(s.opts.CodeTTL)
	if err := s.requests.ApproveAuthRequest(ctx, r); err != nil {
		return "", err
	}
	v := url.Values{"code": {code}, "iss": {s.opts.Issuer}}
	if r.State != "" {
		v.Set("state", r.State)
	}
	return withQuery(r.RedirectURI, v), nil
}

// Deny answers request id with access_denied and returns the client
// redirect URL carrying the error, state and iss.
func (s *Server) Deny(ctx context.Context, id string) (string, error) {
	r, err := s.pending(ctx, id)
	if err != nil {
		return "", err
	}
	if err := s.requests.DeleteAuthRequest(ctx, id); err != nil {
		return "", err
	}
	return s.errorRedirect(r.RedirectURI, r.State, "access_denied", "the user denied the request").URL, nil
}

// Grants returns the grant store for the connected-apps page. Revoking a
// grant through it takes effect on this server at once.
func (s *Server) Grants() mcpgate.GrantStore {
	return applyingGrants{GrantStore: s.grants, apply: s.ApplyChange}
}

// applyingGrants is a GrantStore that applies each revocation to the
// server as soon as the store has recorded it, instead of when the
// server next reads the change feed.
type applyingGrants struct {
	mcpgate.GrantStore
	apply func(mcpgate.Change)
}

func (g applyingGrants) RevokeGrant(ctx context.Context, subject, id string, at time.Time) error {
	if err := g.GrantStore.RevokeGrant(ctx, subject, id, at); err != nil {
		return err
	}
	g.apply(mcpgate.Change{Kind: mcpgate.ChangeGrant, ID: id, At: at})
	return nil
}
