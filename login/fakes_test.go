package login

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// fakeBackend stands in for the authorization server: it keeps pending
// requests, answers them once, and remembers approvals per subject and
// client like the real server does.
type fakeBackend struct {
	mu       sync.Mutex
	requests map[string]*Request
	clients  map[string]*mcpgate.Client
	approved map[string]bool // subject + " " + client id
	grants   *fakeGrants     // approvals become grants here, if set
	now      func() time.Time

	approvals []approval
	denials   []string
}

type approval struct {
	ID     string
	User   mcpgate.Principal
	Scopes []string // granted
	Asked  []string // as passed to Approve
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		requests: map[string]*Request{},
		clients:  map[string]*mcpgate.Client{},
		approved: map[string]bool{},
		now:      time.Now,
	}
}

func (b *fakeBackend) addClient(c *mcpgate.Client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clients[c.ID] = c
}

// addRequest registers a pending request of client for scopes and returns
// its id.
func (b *fakeBackend) addRequest(clientID, redirectURI string, scopes ...string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := fmt.Sprintf("req-%d", len(b.requests)+1)
	name := clientID
	if c := b.clients[clientID]; c != nil {
		name = c.Name
	}
	b.requests[id] = &Request{ID: id, ClientID: clientID, ClientName: name, RedirectURI: redirectURI,
		Scopes: scopes, Resource: "http://127.0.0.1/mcp"}
	return id
}

func (b *fakeBackend) PendingRequest(_ context.Context, id, subject string) (*Request, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.requests[id]
	if r == nil {
		return nil, mcpgate.ErrNotFound
	}
	c := *r
	c.Scopes = slices.Clone(r.Scopes)
	c.PriorApproval = subject != "" && b.approved[subject+" "+r.ClientID]
	return &c, nil
}

func (b *fakeBackend) Approve(_ context.Context, id string, user *mcpgate.Principal, scopes []string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.requests[id]
	if r == nil {
		return "", mcpgate.ErrNotFound
	}
	delete(b.requests, id)
	asked := slices.Clone(scopes)
	// Like the real server: only requested scopes the approver holds.
	var granted []string
	for _, sc := range scopes {
		if slices.Contains(r.Scopes, sc) && user.HasScope(sc) && !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	scopes = granted
	b.approved[user.Subject+" "+r.ClientID] = true
	b.approvals = append(b.approvals, approval{ID: id, User: *user, Scopes: slices.Clone(scopes), Asked: asked})
	if b.grants != nil {
		b.grants.add(&mcpgate.Grant{ID: "grant-" + id, Subject: user.Subject, Tenant: user.Tenant,
			ClientID: r.ClientID, Scopes: scopes, Resource: r.Resource, CreatedAt: b.now()})
	}
	return withQuery(r.RedirectURI, "code", "code-"+id, "state", "st"), nil
}

func (b *fakeBackend) Deny(_ context.Context, id string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.requests[id]
	if r == nil {
		return "", mcpgate.ErrNotFound
	}
	delete(b.requests, id)
	b.denials = append(b.denials, id)
	return withQuery(r.RedirectURI, "error", "access_denied", "state", "st"), nil
}

func (b *fakeBackend) Client(_ context.Context, id string) (*mcpgate.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.clients[id]
	if c == nil {
		return nil, mcpgate.ErrNotFound
	}
	return c, nil
}

func (b *fakeBackend) lastApproval() (approval, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.approvals) == 0 {
		return approval{}, false
	}
	return b.approvals[len(b.approvals)-1], true
}

func withQuery(u string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + v.Encode()
}

// fakeUsers is an in-memory mcpgate.UserStore.
type fakeUsers struct {
	mu    sync.Mutex
	users map[string]*mcpgate.User
	err   error // returned by User when set
}

func newFakeUsers() *fakeUsers { return &fakeUsers{users: map[string]*mcpgate.User{}} }

func (s *fakeUsers) CreateUser(_ context.Context, u *mcpgate.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[u.Name] != nil {
		return mcpgate.ErrConflict
	}
	c := *u
	s.users[u.Name] = &c
	return nil
}

func (s *fakeUsers) disable(name string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name].DisabledAt = at
}

func (s *fakeUsers) User(_ context.Context, name string) (*mcpgate.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	u := s.users[name]
	if u == nil {
		return nil, mcpgate.ErrNotFound
	}
	c := *u
	return &c, nil
}

func (s *fakeUsers) ListUsers(context.Context) ([]*mcpgate.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*mcpgate.User
	for _, u := range s.users {
		c := *u
		out = append(out, &c)
	}
	return out, nil
}

// fakeGrants is an in-memory mcpgate.GrantStore that records revocations.
type fakeGrants struct {
	mu      sync.Mutex
	grants  map[string]*mcpgate.Grant
	revoked []string
}

func newFakeGrants() *fakeGrants { return &fakeGrants{grants: map[string]*mcpgate.Grant{}} }

func (s *fakeGrants) add(g *mcpgate.Grant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *g
	s.grants[g.ID] = &c
}

func (s *fakeGrants) ListGrants(_ context.Context, subject string) ([]*mcpgate.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*mcpgate.Grant
	for _, g := range s.grants {
		if g.Subject == subject && g.RevokedAt.IsZero() {
			c := *g
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *mcpgate.Grant) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *fakeGrants) Grant(_ context.Context, id string) (*mcpgate.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.grants[id]
	if g == nil {
		return nil, mcpgate.ErrNotFound
	}
	c := *g
	return &c, nil
}

func (s *fakeGrants) RevokeGrant(_ context.Context, subject, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.grants[id]
	if g == nil || g.Subject != subject {
		return mcpgate.ErrNotFound
	}
	if g.RevokedAt.IsZero() {
		g.RevokedAt = at
	}
	s.revoked = append(s.revoked, id)
	return nil
}

func (s *fakeGrants) revocations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.revoked)
}

// fakeKeys verifies API keys from a fixed table, like authn.KeyVerifier,
// and refuses those revoked since.
type fakeKeys struct {
	byToken map[string]*mcpgate.Principal
	revoked *sync.Map // key ids
}

func (k fakeKeys) Verify(_ context.Context, token string) (*mcpgate.Principal, error) {
	p := k.byToken[token]
	if p == nil || k.isRevoked(p.KeyID) {
		return nil, fmt.Errorf("api key: %w", mcpgate.ErrUnauthenticated)
	}
	c := *p
	return &c, nil
}

func (k fakeKeys) CheckKey(_ context.Context, id string) error {
	for _, p := range k.byToken {
		if p.KeyID == id && id != "" && !k.isRevoked(id) {
			return nil
		}
	}
	return fmt.Errorf("api key %s: %w", id, mcpgate.ErrUnauthenticated)
}

func (k fakeKeys) revoke(id string) { k.revoked.Store(id, true) }

func (k fakeKeys) isRevoked(id string) bool {
	if k.revoked == nil {
		return false
	}
	_, ok := k.revoked.Load(id)
	return ok
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
