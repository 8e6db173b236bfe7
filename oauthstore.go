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

// AuthRequestStore keeps authorization requests, from the redirect to
// /authorize until their code is redeemed.
type AuthRequestStore interface {
	// CreateAuthRequest stores a pending request; ErrConflict if r.ID exists.
	// Requests that expired more than a day before r.CreatedAt are deleted.
	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	// AuthRequest returns a request by id, or ErrNotFound.
	AuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// ApproveAuthRequest records the user's approval of a pending request:
	// Subject, Tenant, GrantID, Scopes, CodeHash and ExpiresAt of r. It
	// returns ErrNotFound if the request is unknown or was already approved.
	ApproveAuthRequest(ctx context.Context, r *AuthRequest) error
	// DeleteAuthRequest removes a request (denied); ErrNotFound if unknown.
	DeleteAuthRequest(ctx context.Context, id string) error
	// RedeemCode marks the code with hash used at at and returns its request.
	// check, if not nil, first decides whether the caller may redeem the
	// request at all (its client, PKCE verifier and redirect URI): if it
	// returns an error, the code is left as it was and RedeemCode returns
	// that error, so that only the code's owner can use it up. If check
	// passes and the code was already used it returns the request and
	// ErrConflict; ErrNotFound for an unknown code. Of concurrent
	// redemptions of one code, exactly one succeeds.
	RedeemCode(ctx context.Context, hash []byte, at time.Time, check func(*AuthRequest) error) (*AuthRequest, error)
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

// RefreshTokenStore keeps refresh tokens, and records the revocation of
// access tokens, which are not stored.
type RefreshTokenStore interface {
	// CreateRefreshToken stores t, whose Hash must be 32 bytes;
	// ErrConflict if t.Hash exists. Tokens that expired more than a day
	// before t.CreatedAt are deleted.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// UseRefreshToken marks the token with hash used at at and returns it.
	// A token already used is returned with ErrConflict; ErrNotFound for an
	// unknown token. Of concurrent uses of one token, exactly one succeeds.
	UseRefreshToken(ctx context.Context, hash []byte, at time.Time) (*RefreshToken, error)
	// RefreshTokenByHash returns a token without using it, or ErrNotFound.
	RefreshTokenByHash(ctx context.Context, hash []byte) (*RefreshToken, error)
	// RevokeTokenFamily revokes every refresh token of family and, in the
	// same transaction, appends a ChangeToken entry with the family as id,
	// so that access tokens of the family stop working too.
	RevokeTokenFamily(ctx context.Context, family string, at time.Time) error
	// RevokeAccessToken appends a ChangeToken entry for the jti.
	RevokeAccessToken(ctx context.Context, jti string, at time.Time) error
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

// SigningKeyStore keeps the keys the authorization server signs access
// tokens with.
type SigningKeyStore interface {
	// SigningKeys returns every signing key, retired or not, newest first.
	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	// AddSigningKey stores k and retires every other active key at
	// k.CreatedAt, in one transaction; ErrConflict if k.ID exists. It
	// appends nothing to the change feed: the caller publishes a
	// ChangeSigningKey entry once the key is stored.
	AddSigningKey(ctx context.Context, k *SigningKey) error
	// UpdateSigningKey replaces the stored PrivateKey of the key id with
	// to, if it still is from: re-encrypting a key under a new key
	// encryption key changes its form, never the key. ErrNotFound if no
	// key id holds from (it was never there, or another process replaced
	// it first). It appends nothing to the change feed.
	UpdateSigningKey(ctx context.Context, id string, from, to []byte) error
}

// OAuthStore is everything the embedded authorization server keeps
// durably. Each of its flows uses one or two of the stores joined here;
// the sqlite and postgres stores implement them all.
type OAuthStore interface {
	ClientStore
	AuthRequestStore
	GrantStore
	ConsentStore
	RefreshTokenStore
	SigningKeyStore
	ChangeFeed
}
