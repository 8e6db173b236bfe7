package mcpgate

import (
	"context"
	"time"
)

// AuthRequest is an authorization request of the embedded authorization
// server: pending while the user logs in and consents, then carrying the
// authorization code it was approved with. The code itself is never stored,
// only CodeHash, its SHA-256.
type AuthRequest struct {
	ID            string
	ClientID      string
	RedirectURI   string
	State         string
	Scopes        []string
	Resource      string
	CodeChallenge string // S256 challenge (RFC 7636)
	CreatedAt     time.Time
	ExpiresAt     time.Time // the pending request, then the code, stops being usable

	// Set when the user approves.
	Subject  string
	Tenant   string
	GrantID  string
	CodeHash []byte
	UsedAt   time.Time // when the code was redeemed; zero: not yet
}

// RefreshToken is the stored form of a refresh token: only its SHA-256 hash.
// Tokens of one Family descend from one authorization code by rotation.
type RefreshToken struct {
	Hash      []byte
	Family    string
	GrantID   string
	ClientID  string
	Subject   string
	Tenant    string
	Scopes    []string
	Resource  string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // rotated: presenting it again is reuse
	RevokedAt time.Time
}

// SigningKey is a key the authorization server signs access tokens with.
// PrivateKey is the PKCS #8 DER of the private key.
type SigningKey struct {
	ID         string // kid
	Algorithm  string // JWS alg, e.g. RS256
	PrivateKey []byte
	CreatedAt  time.Time
	// RetiredAt is when the key stopped signing; zero for the active key. A
	// retired key stays published until its last token has expired.
	RetiredAt time.Time
}

// OAuthStore is what the embedded authorization server keeps durably.
type OAuthStore interface {
	GrantStore
	ChangeFeed

	// CreateClient stores c; ErrConflict if c.ID exists.
	CreateClient(ctx context.Context, c *Client) error
	// Client returns the client, revoked or not, or ErrNotFound.
	Client(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client, newest first.
	ListClients(ctx context.Context) ([]*Client, error)
	// RevokeClient marks the client revoked, revokes its grants and refresh
	// tokens, and appends a ChangeClient entry, in one transaction.
	// ErrNotFound for an unknown client.
	RevokeClient(ctx context.Context, id string, at time.Time) error

	// CreateAuthRequest stores a pending request; ErrConflict if r.ID exists.
	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	// AuthRequest returns a request by id, or ErrNotFound.
	AuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// ApproveAuthRequest records the user's approval of a pending request:
	// Subject, Tenant, GrantID, CodeHash and ExpiresAt of r. It returns
	// ErrNotFound if the request is unknown or was already approved.
	ApproveAuthRequest(ctx context.Context, r *AuthRequest) error
	// DeleteAuthRequest removes a request (denied); ErrNotFound if unknown.
	DeleteAuthRequest(ctx context.Context, id string) error
	// RedeemCode marks the code with hash used at at and returns its request.
	// If the code was already used it returns the request and ErrConflict;
	// ErrNotFound for an unknown code.
	RedeemCode(ctx context.Context, hash []byte, at time.Time) (*AuthRequest, error)

	// SaveGrant creates g, or updates Scopes and LastUsed of an existing one.
	SaveGrant(ctx context.Context, g *Grant) error
	// ActiveGrant returns the newest unrevoked grant of subject to client for
	// resource, or ErrNotFound.
	ActiveGrant(ctx context.Context, subject, clientID, resource string) (*Grant, error)
	// RevokeGrantByID revokes a grant regardless of its subject, with the
	// same effects as RevokeGrant.
	RevokeGrantByID(ctx context.Context, id string, at time.Time) error

	// CreateRefreshToken stores t.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// UseRefreshToken marks the token with hash used at at and returns it.
	// A token already used is returned with ErrConflict; ErrNotFound for an
	// unknown token.
	UseRefreshToken(ctx context.Context, hash []byte, at time.Time) (*RefreshToken, error)
	// RefreshTokenByHash returns a token without using it, or ErrNotFound.
	RefreshTokenByHash(ctx context.Context, hash []byte) (*RefreshToken, error)
	// RevokeTokenFamily revokes every refresh token of family and appends a
	// ChangeToken entry with the family as id, so access tokens of the family
	// stop working too.
	RevokeTokenFamily(ctx context.Context, family string, at time.Time) error
	// RevokeAccessToken appends a ChangeToken entry for the jti.
	RevokeAccessToken(ctx context.Context, jti string, at time.Time) error

	// SigningKeys returns every signing key, newest first.
	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	// AddSigningKey stores k and retires every other active key at
	// k.CreatedAt, in one transaction.
	AddSigningKey(ctx context.Context, k *SigningKey) error
}
