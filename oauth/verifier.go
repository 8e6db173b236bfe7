package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
)

// Verifier checks access tokens issued by a Server, for the gateway's
// authentication chain.
type Verifier struct{ s *Server }

// Verifier returns the server's access token verifier.
func (s *Server) Verifier() *Verifier { return &Verifier{s: s} }

// Verify checks an access token and returns its principal. It accepts only
// RS256 JWTs with typ at+jwt (RFC 9068) signed by one of the server's keys,
// issued by this issuer for one of its resources (RFC 8707): for the one
// the request is for when ctx names it (mcpgate.WithResource, as the
// gateway does for each MCP endpoint), within exp and nbf
// (with the configured leeway), living no longer than MaxTokenLifetime,
// without a crit header, and not revoked: neither the token, its
// token family, its grant, its client nor its subject. Every error wraps
// mcpgate.ErrUnauthenticated.
func (v *Verifier) Verify(ctx context.Context, token string) (*mcpgate.Principal, error) {
	s := v.s
	now := s.now()
	key := jose.TokenHash(token)
	e, ok := s.verified.get(key)
	if !ok || !now.Before(e.expires.Add(s.opts.Leeway)) {
		c, err := s.verifyJWT(ctx, token)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", mcpgate.ErrUnauthenticated, err)
		}
		e = &cacheEntry{claims: c, expires: c.Expires}
		s.verified.put(key, e)
	}
	c := e.claims
	// After the cache, which holds a token whatever path it was first
	// shown on: a token for one MCP endpoint is refused at another.
	if r := mcpgate.ResourceFromContext(ctx); r != "" && !slices.Contains(c.Audience, r) {
		return nil, mcpgate.Refused(mcpgate.ReasonWrongAudience, fmt.Sprintf("token for %q, not %q", c.Audience, r))
	}
	if why := s.revoked.check(c); why != "" {
		return nil, mcpgate.Refused(mcpgate.ReasonRevoked, why+" revoked")
	}
	var scopes []string
	if c.Scope != "" {
		scopes = strings.Fields(c.Scope)
	}
	return &mcpgate.Principal{
		Subject:  c.Subject,
		Tenant:   c.Tenant,
		ClientID: c.ClientID,
		TokenID:  c.ID,
		GrantID:  c.GrantID,
		KeyID:    c.KeyID,
		Scopes:   scopes,
		Audience: c.Audience,
		Expires:  c.Expires,
		Method:   mcpgate.MethodOAuth,
	}, nil
}

func (s *Server) verifyJWT(ctx context.Context, token string) (*jose.Claims, error) {
	o := jose.VerifyOptions{
		Type:      jose.TypeAccessToken,
		Issuer:    s.opts.Issuer,
		Audiences: s.resourceURLs(),
		Leeway:    s.opts.Leeway,
		Now:       s.opts.Now,

		MaxLifetime: s.opts.MaxTokenLifetime,
	}
	c, err := s.keySet().Verify(token, o)
	if errors.Is(err, jose.ErrUnknownKey) && s.reloadKeysIfStale(ctx) {
		c, err = s.keySet().Verify(token, o)
	}
	if err != nil {
		return nil, err
	}
	if c.ID == "" || c.Subject == "" {
		return nil, errors.New("token lacks jti or sub")
	}
	return c, nil
}

// ApplyChange makes a revocation recorded in the change feed take effect
// on this server: the gateway calls it for every change it reads. Changes
// this server makes itself are applied at once.
func (s *Server) ApplyChange(c mcpgate.Change) {
	if c.At.IsZero() {
		c.At = s.now()
	}
	switch c.Kind {
	case mcpgate.ChangeSigningKey:
		s.keysMu.Lock()
		s.keysLoaded = time.Time{} // the next signing or unknown kid rereads the keys
		s.keysMu.Unlock()
		return
	case mcpgate.ChangeToken, mcpgate.ChangeSubject, mcpgate.ChangeClient:
		// A change scoped to an issuer applies here only when it names
		// this server's; an unscoped one applies to every issuer.
		iss, v := c.Scope()
		if iss != "" && iss != s.opts.Issuer {
			return
		}
		c.ID = v
		if c.Kind == mcpgate.ChangeClient {
			s.cimd.forget(c.ID)
		}
	}
	s.revoked.apply(c)
}

// loadRevocations applies the changes recent enough to matter to tokens
// that may still be live.
func (s *Server) loadRevocations(ctx context.Context) error {
	changes, err := s.changes.ChangesSince(ctx, 0)
	if err != nil {
		return fmt.Errorf("oauth: load revocations: %w", err)
	}
	horizon := s.now().Add(-s.opts.AccessTokenTTL - 2*s.opts.Leeway)
	for _, c := range changes {
		if c.Kind == mcpgate.ChangeClient || c.At.After(horizon) {
			s.revoked.apply(c)
		}
	}
	return nil
}

// revocations are the revoked ids that live access tokens may carry, each
// with the time of its revocation.
type revocations struct {
	mu       sync.RWMutex
	tokens   map[string]time.Time // jti or token family
	grants   map[string]time.Time // grant id
	clients  map[string]time.Time // client id
	subjects map[string]time.Time // subject or tenant/subject: tokens issued up to then
	// horizon is how long a revocation matters: the longest an access
	// token lives. Older entries are pruned once the set grows.
	horizon time.Duration
}

// pruneAt is the size past which apply drops entries older than horizon.
const pruneAt = 4096

func newRevocations(horizon time.Duration) *revocations {
	return &revocations{
		tokens:   map[string]time.Time{},
		grants:   map[string]time.Time{},
		clients:  map[string]time.Time{},
		subjects: map[string]time.Time{},
		horizon:  horizon,
	}
}

func (r *revocations) apply(c mcpgate.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m map[string]time.Time
	switch c.Kind {
	case mcpgate.ChangeToken:
		m = r.tokens
	case mcpgate.ChangeGrant:
		m = r.grants
	case mcpgate.ChangeClient:
		m = r.clients
	case mcpgate.ChangeSubject:
		m = r.subjects
	default:
		return
	}
	if c.At.After(m[c.ID]) {
		m[c.ID] = c.At
	}
	if len(m) > pruneAt {
		// Tokens revoked before the horizon have expired by now; a
		// revoked grant or client can no longer obtain new ones, as the
		// store refuses them.
		cutoff := c.At.Add(-r.horizon)
		for id, at := range m {
			if at.Before(cutoff) {
				delete(m, id)
			}
		}
	}
}

// check returns what revoked the token, or "".
func (r *revocations) check(c *jose.Claims) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, jti := r.tokens[c.ID]
	_, family := r.tokens[c.Family]
	_, grant := r.grants[c.GrantID]
	_, client := r.clients[c.ClientID]
	switch {
	case jti || (c.Family != "" && family):
		return "token"
	case c.GrantID != "" && grant:
		return "grant"
	case client:
		return "client"
	}
	id := (&mcpgate.Principal{Tenant: c.Tenant, Subject: c.Subject}).ID()
	for _, k := range []string{c.Subject, id} {
		if at, ok := r.subjects[k]; ok && !c.IssuedAt.After(at) {
			return "subject"
		}
	}
	return ""
}

func (r *revocations) has(m map[string]time.Time, id string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := m[id]
	return ok
}

func (r *revocations) grant(id string) bool  { return r.has(r.grants, id) }
func (r *revocations) token(id string) bool  { return r.has(r.tokens, id) }
func (r *revocations) client(id string) bool { return r.has(r.clients, id) }

// tokenCache remembers verified tokens by hash until they expire, so a
// request costs a map lookup rather than an RSA verification. Revocation is
// checked on every hit.
type tokenCache struct {
	mu  sync.Mutex
	max int
	m   map[[32]byte]*cacheEntry
}

type cacheEntry struct {
	claims  *jose.Claims
	expires time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[[32]byte]*cacheEntry)}
}

func (c *tokenCache) get(k [32]byte) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e, ok
}

func (c *tokenCache) put(k [32]byte, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m) // crude but bounded; refilled by the next verifications
	}
	c.m[k] = e
}

func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}
