package mcpgate

import (
	"context"
	"time"
)

// MethodFederated is the Principal.Method of a sign-in session started at
// an upstream OpenID provider (federated sign-in).
const MethodFederated = "oidc"

// LoginState is a federated sign-in in progress: the browser was sent to an
// upstream OpenID provider with a random state, and comes back to the
// callback with it. Only StateHash, the SHA-256 of the state, is stored.
// It is kept in the store so that any replica can finish the sign-in; it
// lives minutes and is used once.
type LoginState struct {
	StateHash []byte
	// Issuer is the provider the browser was sent to.
	Issuer string
	// Nonce is the OpenID Connect nonce the ID token must carry.
	Nonce string
	// Verifier is the PKCE code verifier (RFC 7636) of the code to come.
	Verifier string
	// RequestID is the pending authorization request the sign-in is for;
	// empty when the person signs in for the connected-apps page.
	RequestID string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// LoginStateStore keeps federated sign-ins in progress.
type LoginStateStore interface {
	// CreateLoginState stores s, whose StateHash must be 32 bytes;
	// ErrConflict if it exists. States that expired before s.CreatedAt
	// are deleted.
	CreateLoginState(ctx context.Context, s *LoginState) error
	// TakeLoginState deletes the state with hash and returns it: a state
	// is read once. It returns ErrNotFound for an unknown hash, one taken
	// already, and one expired at at (which is deleted too). Of
	// concurrent takes of one state, exactly one succeeds.
	TakeLoginState(ctx context.Context, hash []byte, at time.Time) (*LoginState, error)
}

// IdPTokens are the tokens an upstream OpenID provider issued to mcpgate
// for a person who signed in there: mcpgate's own credentials for that
// user at that provider, which it may present to upstream MCP servers that
// ask for them. AccessToken and RefreshToken hold the tokens sealed (see
// package seal), never in the clear.
type IdPTokens struct {
	// Subject is the local subject the provider's user maps to.
	Subject string
	// Issuer is the provider.
	Issuer       string
	AccessToken  []byte
	RefreshToken []byte    // empty: the provider gave none
	Expiry       time.Time // of the access token; zero: not stated
	UpdatedAt    time.Time
}

// IdPTokenStore keeps the tokens of federated users, one set per subject.
type IdPTokenStore interface {
	// SaveIdPTokens stores t, replacing any tokens of t.Subject (a new
	// sign-in).
	SaveIdPTokens(ctx context.Context, t *IdPTokens) error
	// IdPTokens returns the tokens of subject, or ErrNotFound.
	IdPTokens(ctx context.Context, subject string) (*IdPTokens, error)
	// UpdateIdPTokens replaces the tokens of t.Subject with t if its
	// stored AccessToken is still from: of several replicas refreshing
	// one user's tokens at once, one wins and the others read its
	// result. It returns ErrConflict if the stored tokens changed, and
	// ErrNotFound if there are none.
	UpdateIdPTokens(ctx context.Context, t *IdPTokens, from []byte) error
	// DeleteIdPTokens removes the tokens of subject; ErrNotFound if none.
	DeleteIdPTokens(ctx context.Context, subject string) error
}

// Audit reasons of a request refused because the server behind needs the
// caller's identity provider token.
const (
	// ReasonSignInAgain: mcpgate holds no usable token of the user's
	// identity provider (the provider refused the refresh).
	ReasonSignInAgain = "idp_sign_in_required"
	// ReasonNotFederated: the caller did not sign in at an identity
	// provider through mcpgate (an API key, another issuer's token).
	ReasonNotFederated = "not_federated"
)
