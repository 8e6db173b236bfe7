package login

import (
	"context"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/oauth"
)

// ClientLookup finds a registered OAuth client by id, revoked or not, or
// returns mcpgate.ErrNotFound: the one method of mcpgate.ClientStore the
// pages need.
type ClientLookup interface {
	Client(ctx context.Context, id string) (*mcpgate.Client, error)
}

// OAuthBackend adapts the embedded authorization server to Backend. clients
// supplies client names and sources for the connected-apps page and the
// "unverified" mark; usually the server's own store.
func OAuthBackend(s *oauth.Server, clients ClientLookup) Backend {
	return oauthBackend{s: s, clients: clients}
}

type oauthBackend struct {
	s       *oauth.Server
	clients ClientLookup
}

func (b oauthBackend) PendingRequest(ctx context.Context, id, subject string) (*Request, error) {
	pr, err := b.s.PendingRequest(ctx, id, subject)
	if err != nil {
		return nil, err
	}
	return &Request{
		ID:            pr.ID,
		ClientID:      pr.ClientID,
		ClientName:    pr.ClientName,
		RedirectURI:   pr.RedirectURI,
		Scopes:        pr.Scopes,
		Resource:      pr.Resource,
		ScopeText:     pr.ScopeDescriptions,
		PriorApproval: pr.PriorApproval,
	}, nil
}

func (b oauthBackend) Approve(ctx context.Context, id string, user *mcpgate.Principal, scopes []string) (string, error) {
	return b.s.Approve(ctx, id, user, scopes)
}

func (b oauthBackend) Deny(ctx context.Context, id string) (string, error) {
	return b.s.Deny(ctx, id)
}

func (b oauthBackend) Client(ctx context.Context, id string) (*mcpgate.Client, error) {
	return b.clients.Client(ctx, id)
}
