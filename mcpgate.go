// Package mcpgate holds the nouns and contracts of the mcpgate gateway: the
// authenticated Principal, API keys, notes, audit events, and the store
// interfaces that the sqlite and postgres packages implement.
//
// It imports only the standard library. Behaviour lives in subpackages:
// authn (who is calling), authz (what they may do), demo (the built-in MCP
// server), gateway (everything assembled into one http.Handler) and
// cmd/mcpgate (the binary).
package mcpgate

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Errors returned by stores and services. Callers test with errors.Is.
var (
	// ErrNotFound means the requested record does not exist (or is not
	// visible to the caller; the two are deliberately indistinguishable).
	ErrNotFound = errors.New("not found")
	// ErrConflict means a record with the same identity already exists.
	ErrConflict = errors.New("already exists")
	// ErrUnauthenticated means the credential is missing, malformed, unknown,
	// revoked or expired. Which of these is never told to the client.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden means the principal lacks a required scope.
	ErrForbidden = errors.New("forbidden")
)

// Principal is the authenticated caller of one request: who they are, on
// whose behalf, and what they may do. It is built by the authn package from
// an API key or an access token and never from client-supplied headers.
type Principal struct {
	// Subject identifies the user or machine (an API key's owner, a token's sub).
	Subject string
	// Tenant partitions data between organisations; empty means the default.
	Tenant string
	// ClientID is the OAuth client the token was issued to, if any.
	ClientID string
	// KeyID is the API key id when the credential is an API key.
	KeyID string
	// TokenID is the access token's jti when the credential is a token.
	TokenID string
	// GrantID ties an OAuth token to the user's grant (consent) that produced it.
	GrantID string
	// Scopes the credential carries.
	Scopes []string
	// Audience the credential was issued for (RFC 8707 resource).
	Audience []string
	// Expires is when the credential stops being valid; zero means never.
	Expires time.Time
	// Method says how the principal authenticated: "api_key", "oauth",
	// "jwt" (an identity provider's JWT) or "introspection" (an identity
	// provider's opaque token).
	Method string
	// Issuer is the identity provider that vouched for the principal: the
	// iss of its token. Empty for mcpgate's own API keys and tokens.
	Issuer string
}

// Authentication methods recorded in Principal.Method.
const (
	MethodAPIKey = "api_key"
	MethodOAuth  = "oauth"
	MethodJWT    = "jwt"
	// MethodIntrospection: an identity provider's opaque token, checked
	// with RFC 7662 introspection.
	MethodIntrospection = "introspection"
)

// HasScope reports whether p carries scope s.
func (p *Principal) HasScope(s string) bool {
	return p != nil && slices.Contains(p.Scopes, s)
}

// HasScopes reports whether p carries every scope in want, and if not, the
// first one missing.
func (p *Principal) HasScopes(want []string) (missing string, ok bool) {
	for _, s := range want {
		if !p.HasScope(s) {
			return s, false
		}
	}
	return "", true
}

// ID returns a stable identifier for the principal, used to key rate limits,
// bind MCP sessions and own notes: tenant and subject together, as
// "tenant/subject", or the subject alone without a tenant. Both parts are
// path-escaped, so a "/" inside a subject or tenant can never make two
// principals share an id (tenant "acme" with subject "bob" is "acme/bob";
// subject "acme/bob" with no tenant is "acme%2Fbob").
//
// A principal of an identity provider (Issuer set) has three parts,
// "issuer/tenant/subject", the tenant possibly empty: two providers'
// subjects never share an id, and none has the at most two parts of
// mcpgate's own principals.
func (p *Principal) ID() string {
	if p == nil {
		return ""
	}
	if p.Issuer != "" {
		return url.PathEscape(p.Issuer) + "/" + url.PathEscape(p.Tenant) + "/" + url.PathEscape(p.Subject)
	}
	if p.Tenant == "" {
		return url.PathEscape(p.Subject)
	}
	return url.PathEscape(p.Tenant) + "/" + url.PathEscape(p.Subject)
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal stored in ctx, or nil.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

type resourceKey struct{}

// WithResource returns a copy of ctx naming resource, the canonical URL of
// the MCP endpoint a request is for (its RFC 8707 resource). Verifiers of
// audience-bound tokens read it with [ResourceFromContext] and accept a
// token only on the endpoint it was issued for.
func WithResource(ctx context.Context, resource string) context.Context {
	return context.WithValue(ctx, resourceKey{}, resource)
}

// ResourceFromContext returns the resource [WithResource] stored in ctx,
// or "" when the request names none.
func ResourceFromContext(ctx context.Context) string {
	r, _ := ctx.Value(resourceKey{}).(string)
	return r
}

// APIKey is the stored form of an API key. The secret itself is never
// stored: only Hash, a SHA-256 digest of the secret part of the key.
type APIKey struct {
	ID      string // public key id, the <keyid> in mcpg_<keyid>_<secret><checksum>
	Name    string
	Subject string // owner
	Tenant  string
	Scopes  []string
	Hash    []byte // SHA-256 of the secret; 32 bytes

	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
	// RotatedTo names the successor key after a rotation; the key stays valid
	// until ExpiresAt, which rotation moves to the end of the grace period.
	RotatedTo string
}

// Valid reports whether k may authenticate a request at now.
func (k *APIKey) Valid(now time.Time) bool {
	if !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt) {
		return false
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return false
	}
	return true
}

// KeyStore keeps API keys.
type KeyStore interface {
	// CreateKey stores k. It returns ErrConflict if k.ID exists.
	CreateKey(ctx context.Context, k *APIKey) error
	// Key returns the key with id, or ErrNotFound.
	Key(ctx context.Context, id string) (*APIKey, error)
	// ListKeys returns every key, newest first.
	ListKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeKey marks the key revoked at at and appends a ChangeKey entry to
	// the change feed in the same transaction. It returns ErrNotFound for an
	// unknown id. Revoking a revoked key keeps the first revocation time.
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// RotateKey stores next and, in the same transaction, sets the old key's
	// RotatedTo to next.ID and its ExpiresAt to graceEnd (or keeps an earlier
	// expiry), and appends a ChangeKey entry for the old key. It returns
	// ErrNotFound if old is unknown or already revoked.
	RotateKey(ctx context.Context, oldID string, next *APIKey, graceEnd time.Time) error
	// TouchKey records that the key was used at at.
	TouchKey(ctx context.Context, id string, at time.Time) error
}

// Note is a per-principal note of the built-in MCP server.
type Note struct {
	ID        string
	Owner     string // Principal.ID() of the creator
	Title     string
	Body      string
	CreatedAt time.Time
}

// NoteStore keeps notes. Every read is scoped by owner: a note of another
// owner is reported as ErrNotFound.
type NoteStore interface {
	CreateNote(ctx context.Context, n *Note) error
	Note(ctx context.Context, owner, id string) (*Note, error)
	ListNotes(ctx context.Context, owner string) ([]*Note, error)
}

// AuditEvent records one MCP request and the decision taken on it.
type AuditEvent struct {
	ID        int64 // assigned by the store
	Time      time.Time
	RequestID string
	Subject   string
	Tenant    string
	KeyID     string
	ClientID  string
	Method    string // JSON-RPC method, or the HTTP method for non-RPC requests
	Target    string // tool, resource URI or prompt name, with credentials masked
	Decision  string // one of the Decision constants
	Reason    string // why, for a request not allowed: a Reason constant or a refusal's name
	Status    int    // HTTP status returned
	Latency   time.Duration
	Remote    string // client address
}

// Audit decisions: what became of a request. The audit table, the log and
// mcpgate audit use these words, and a Reason says why.
const (
	DecisionAllow           = "allow"
	DecisionDeny            = "deny" // a scope the credential lacks, or a foreign origin
	DecisionUnauthenticated = "unauthenticated"
	DecisionRateLimited     = "rate_limited"
	DecisionTooLarge        = "too_large"   // a body or batch over its limit
	DecisionBadRequest      = "bad_request" // not a request mcpgate can read
	DecisionError           = "error"       // mcpgate or the server behind failed
)

// Audit reasons: why a request was not allowed, recorded beside the
// decision. A refused credential's reason comes from the verifier that
// refused it (see [Reason]); others are named after the refusal. None says
// anything about the credential itself.
const (
	ReasonNoCredential  = "no_credential"  // no bearer credential was sent
	ReasonMalformed     = "malformed"      // a credential or body that cannot be parsed
	ReasonBadChecksum   = "bad_checksum"   // an API key whose checksum does not match: mistyped or made up
	ReasonUnknownKey    = "unknown_key"    // an API key id that does not exist
	ReasonWrongSecret   = "wrong_secret"   // a known API key id with another secret
	ReasonUnknownToken  = "unknown_token"  // a token no verifier recognises
	ReasonRevoked       = "revoked"        // a key, token, grant, client or subject revoked
	ReasonExpired       = "expired"        // past its expiry, or not valid yet
	ReasonInactive      = "inactive"       // an identity provider's introspection says inactive
	ReasonBadSignature  = "bad_signature"  // a JWT whose signature does not verify, or by an unknown key
	ReasonWrongAudience = "wrong_audience" // a token for another resource
	ReasonWrongIssuer   = "wrong_issuer"   // a token of an issuer that is not trusted
	ReasonWrongType     = "wrong_type"     // a JWT of another typ, such as an ID token
	ReasonTooLong       = "lifetime_too_long"
	ReasonUnavailable   = "unavailable" // the identity provider could not be asked

	ReasonInsufficientScope = "insufficient_scope"
	ReasonBodyTooLarge      = "body_too_large"
	ReasonBatchTooLarge     = "batch_too_large"
)

// Reason returns the reason err names: that of the first error in its
// chain with a Reason method, or "" if none has one. Verifiers give their
// refusals one, so that the audit table and the log say why a credential
// was refused without saying what it was.
func Reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return ""
}

// Refused returns an error that matches [ErrUnauthenticated] and names
// reason (a Reason constant) for [Reason]; detail is logged, never sent.
// Verifiers outside package authn build their refusals with it.
func Refused(reason, detail string) error {
	return &refusedError{reason: reason, detail: detail}
}

type refusedError struct{ reason, detail string }

func (e *refusedError) Error() string        { return ErrUnauthenticated.Error() + ": " + e.detail }
func (e *refusedError) Is(target error) bool { return target == ErrUnauthenticated }
func (e *refusedError) Reason() string       { return e.reason }

// AuditStore keeps audit events.
type AuditStore interface {
	AppendAudit(ctx context.Context, events ...*AuditEvent) error
	// ListAudit returns events at or after since, oldest first, at most limit
	// (0: no limit).
	ListAudit(ctx context.Context, since time.Time, limit int) ([]*AuditEvent, error)
}

// Change is an entry of the store's change feed: something that running
// servers must react to at once (a key revoked or rotated, a grant revoked).
type Change struct {
	Seq  int64     // increasing, assigned by the store
	Kind string    // one of the Change* constants
	ID   string    // id of the changed record
	At   time.Time // when the change was recorded
}

// Change kinds. A token, subject or client change applies to mcpgate's
// own tokens and to those of every trusted identity provider, unless its
// ID names one issuer (see [IssuerChangeID]).
const (
	ChangeKey     = "key"     // an API key was revoked, rotated or changed
	ChangeGrant   = "grant"   // an OAuth grant was revoked
	ChangeToken   = "token"   // an access token (jti) was revoked
	ChangeSubject = "subject" // every credential of a subject issued until then was revoked
	ChangeClient  = "client"  // an OAuth client (or every token an identity provider issued to it) was revoked
	// ChangeSigningKey: a new token signing key was added; servers reload
	// their keys at once instead of at their next periodic refresh.
	ChangeSigningKey = "signing_key"
)

// changeIssuerSep separates the issuer from the value in the ID of a
// change that applies to one issuer only: the ASCII unit separator, which
// no URL and no claim value a sane identity provider issues contains.
const changeIssuerSep = "\x1f"

// IssuerChangeID returns the ID of a token, subject or client change that
// applies only to the tokens of issuer: "issuer␟value". An empty issuer
// returns value, a change for every issuer.
func IssuerChangeID(issuer, value string) string {
	if issuer == "" {
		return value
	}
	return issuer + changeIssuerSep + value
}

// Scope splits the ID of a token, subject or client change into the issuer
// it applies to (empty: every issuer) and the revoked value: a jti, a
// subject (or a [Principal.ID]) or a client id. See [IssuerChangeID].
func (c Change) Scope() (issuer, value string) {
	if iss, v, ok := strings.Cut(c.ID, changeIssuerSep); ok {
		return iss, v
	}
	return "", c.ID
}

// ChangeFeed lets servers learn of revocations written by another process
// (the CLI) or another replica. Stores append to it in the same transaction
// as the change itself.
type ChangeFeed interface {
	// PublishChange appends a change and returns it with Seq set.
	PublishChange(ctx context.Context, kind, id string) (Change, error)
	// ChangesSince returns changes with Seq > after, oldest first.
	ChangesSince(ctx context.Context, after int64) ([]Change, error)
	// LastChange returns the highest Seq, or 0.
	LastChange(ctx context.Context) (int64, error)
}

// ChangeNotifier is a ChangeFeed that can wake its readers as soon as a
// change is written, by this process or any other sharing the store, so
// that a revocation takes effect everywhere without waiting for the next
// poll. A feed without it is only polled.
type ChangeNotifier interface {
	ChangeFeed
	// ListenChanges calls wake soon after every change committed to the
	// feed (possibly more often, and once as soon as it listens, since a
	// change may have been missed while it was not), until ctx is done or
	// listening fails. It returns ctx.Err() when ctx ends, or the error
	// that stopped it; callers listen again after a delay, reading the
	// feed from where they stopped. wake must not block.
	ListenChanges(ctx context.Context, wake func()) error
}

// Pruner removes what a store no longer needs to keep.
type Pruner interface {
	// Prune deletes audit events and change-feed entries recorded before
	// before (nothing when before is zero), and authorization requests
	// (with their codes), refresh tokens and sign-in sessions that expired
	// before expired (nothing when expired is zero). It reports how many
	// rows went.
	//
	// Several replicas may call it at once: a store shared by processes
	// lets one of them prune at a time and returns ErrPruneBusy to the
	// others.
	Prune(ctx context.Context, before, expired time.Time) (Pruned, error)
}

// ErrPruneBusy means another process is pruning the store.
var ErrPruneBusy = errors.New("another process is pruning")

// Pruned counts the rows one Prune call deleted.
type Pruned struct {
	Audit, Changes, AuthRequests, RefreshTokens, SigninSessions int64
}

// Store is everything a gateway keeps durably.
type Store interface {
	KeyStore
	NoteStore
	AuditStore
	ChangeFeed
	// Close releases the store's resources.
	Close() error
}
