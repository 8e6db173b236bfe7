package mcpgate

import (
	"context"
	"time"
)

// Client is an OAuth client known to the embedded authorization server:
// pre-registered with the CLI, registered dynamically (RFC 7591), or
// described by a Client ID Metadata Document (its ID is then an https URL).
type Client struct {
	ID           string
	Name         string
	RedirectURIs []string
	// SecretHash is the SHA-256 of the client secret for confidential
	// clients; nil for public clients (token_endpoint_auth_method "none").
	SecretHash []byte
	GrantTypes []string // authorization_code, refresh_token, client_credentials
	Scopes     []string // scopes the client may ask for; empty: any supported
	// Subject and Tenant are the identity of a client_credentials client.
	Subject string
	Tenant  string
	// Source says how the client came to be: "cli", "dcr" or "cimd".
	Source string
	// Introspection marks a confidential client that may introspect tokens
	// issued to other clients (RFC 7662), such as a resource server
	// checking the access tokens it receives. Any other client learns
	// only about its own tokens.
	Introspection bool
	CreatedAt     time.Time
	RevokedAt     time.Time // zero: active
}

// ClientStore keeps OAuth clients.
type ClientStore interface {
	// CreateClient stores c; ErrConflict if c.ID exists.
	CreateClient(ctx context.Context, c *Client) error
	// Client returns the client, revoked or not, or ErrNotFound.
	Client(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client, newest first.
	ListClients(ctx context.Context) ([]*Client, error)
	// RevokeClient marks the client revoked (keeping an earlier revocation
	// time), revokes its grants and refresh tokens, and appends a
	// ChangeClient entry, in one transaction. ErrNotFound for an unknown
	// client.
	RevokeClient(ctx context.Context, id string, at time.Time) error
}

// User is a local login user of the embedded authorization server.
type User struct {
	Name         string // also the subject of tokens issued to the user
	Tenant       string
	PasswordHash string // PHC-formatted argon2id hash
	Scopes       []string
	CreatedAt    time.Time
	DisabledAt   time.Time
}

// UserStore keeps local users.
type UserStore interface {
	// CreateUser stores u; ErrConflict if the name is taken.
	CreateUser(ctx context.Context, u *User) error
	// User returns the user, or ErrNotFound.
	User(ctx context.Context, name string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
}

// UserAdminStore is how an administrator changes and removes local users.
// Ending what a user's approvals gave apps is the caller's part (see
// GrantStore): a store only changes the user.
type UserAdminStore interface {
	UserStore
	// DeleteUser removes the user; ErrNotFound if unknown.
	DeleteUser(ctx context.Context, name string) error
	// SetUserPassword replaces the user's PasswordHash, which must not be
	// empty; ErrNotFound if unknown.
	SetUserPassword(ctx context.Context, name, hash string) error
	// SetUserDisabled sets the user's DisabledAt, the zero time enabling
	// the user again; ErrNotFound if unknown.
	SetUserDisabled(ctx context.Context, name string, at time.Time) error
}

// Grant is a user's approval of a client: the consent that authorization
// codes, access tokens and refresh tokens derive from. Revoking a grant
// revokes every token issued under it.
type Grant struct {
	ID        string
	Subject   string
	Tenant    string
	ClientID  string
	Scopes    []string
	Resource  string // RFC 8707 resource the grant's tokens are bound to
	CreatedAt time.Time
	LastUsed  time.Time
	RevokedAt time.Time
	// KeyID is the API key the user signed in with when approving, ""
	// after a password sign-in: the grant's tokens live only as long as
	// that key is valid.
	KeyID string
}

// GrantStore keeps grants, for the connected-apps page and for revocation.
type GrantStore interface {
	// ListGrants returns the subject's active grants, newest first.
	ListGrants(ctx context.Context, subject string) ([]*Grant, error)
	// Grant returns a grant by id, revoked or not, or ErrNotFound.
	Grant(ctx context.Context, id string) (*Grant, error)
	// RevokeGrant revokes the grant and every token under it, and appends a
	// ChangeGrant entry to the change feed. A grant of another subject is
	// ErrNotFound.
	RevokeGrant(ctx context.Context, subject, id string, at time.Time) error
}

// ConsentStore is how the authorization server records a user's consent
// as a grant, and ends a grant on its own when the grant's tokens are
// abused or its API key is gone.
type ConsentStore interface {
	// SaveGrant creates g, or updates Scopes and LastUsed of an existing one.
	SaveGrant(ctx context.Context, g *Grant) error
	// ActiveGrant returns the newest unrevoked grant of subject to client for
	// resource, or ErrNotFound.
	ActiveGrant(ctx context.Context, subject, clientID, resource string) (*Grant, error)
	// RevokeGrantByID revokes a grant regardless of its subject, with the
	// same effects as RevokeGrant; ErrNotFound for an unknown grant.
	RevokeGrantByID(ctx context.Context, id string, at time.Time) error
}
