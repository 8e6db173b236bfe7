package mcpgate

import (
	"context"
	"time"
)

// SigninSession is a person signed in on the login pages of the embedded
// authorization server. The session id lives only in the browser's cookie:
// a store keeps IDHash, its SHA-256, so a copy of the store does not sign
// anyone in. Sessions live in the store so that every replica serving the
// pages knows them, and so that one ended anywhere is ended everywhere.
type SigninSession struct {
	IDHash  []byte // SHA-256 of the session id: 32 bytes
	Subject string
	Tenant  string
	// Method is how the person signed in: "password", MethodAPIKey, or the
	// method of a federated sign-in.
	Method string
	KeyID  string // the API key signed in with; "" otherwise
	// Scopes caps what consent may grant when Capped is set.
	Scopes    []string
	Capped    bool
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SigninSessionStore keeps sign-in sessions of the login pages.
type SigninSessionStore interface {
	// CreateSigninSession stores s, whose IDHash must be 32 bytes;
	// ErrConflict if s.IDHash exists. When maxPerSubject > 0 and
	// s.Subject then has more sessions than that, its oldest ones are
	// deleted in the same transaction, so a subject never holds more than
	// maxPerSubject (a script signing in in a loop cannot fill the store).
	CreateSigninSession(ctx context.Context, s *SigninSession, maxPerSubject int) error
	// SigninSession returns the session with hash, expired or not, or
	// ErrNotFound: the caller compares ExpiresAt with its own clock.
	SigninSession(ctx context.Context, hash []byte) (*SigninSession, error)
	// DeleteSigninSession ends the session with hash. Ending a session
	// that is unknown (already ended, or pruned) is not an error.
	DeleteSigninSession(ctx context.Context, hash []byte) error
	// DeleteSubjectSigninSessions ends every session of subject, however
	// it signed in, and returns how many there were.
	DeleteSubjectSigninSessions(ctx context.Context, subject string) (int, error)
}
