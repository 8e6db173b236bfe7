// Package authn decides who is calling: it reads the bearer credential of a
// request, verifies it (an API key, or a token through another [Verifier])
// and yields the [mcpgate.Principal] that authorization, rate limits and
// audit then work with.
//
// The [Authenticator] is plain net/http middleware: [Authenticator.Check]
// decides, [Authenticator.Handler] answers a failure with an RFC 6750 401
// and otherwise passes the principal on in the request context, both as
// mcpgate.PrincipalFromContext and as the MCP Go SDK's TokenInfo. A go-sdk
// tool handler gets it with [PrincipalFromRequest].
//
// The smallest use, API keys from a store in front of an MCP handler:
//
//	keys := authn.NewKeyVerifier(store, nil)
//	go authn.WatchChanges(ctx, store, 0, keys.Apply) // revocations
//	auth := authn.New(authn.Chain(keys), nil)
//	http.Handle("/mcp", auth.Handler(mcpHandler))
//
// For scopes, rate limits and audit as well, give auth to package pipeline
// instead; examples/apikeys in the repository is a whole server.
package authn

import (
	"context"
	"errors"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
)

// A Verifier checks a bearer token and returns the principal it
// authenticates. When the credential is not accepted (unknown, revoked,
// expired, malformed) the error matches [mcpgate.ErrUnauthenticated]; any
// other error means the verifier could not decide (a store is down) and is
// answered with a 503, not a 401.
type Verifier interface {
	Verify(ctx context.Context, token string) (*mcpgate.Principal, error)
}

// VerifierFunc adapts a function to the [Verifier] interface.
type VerifierFunc func(ctx context.Context, token string) (*mcpgate.Principal, error)

// Verify calls f(ctx, token).
func (f VerifierFunc) Verify(ctx context.Context, token string) (*mcpgate.Principal, error) {
	return f(ctx, token)
}

// rejection is why a credential was refused: a reason from mcpgate's
// vocabulary (see [mcpgate.Reason]) and a detail. It matches
// mcpgate.ErrUnauthenticated and is logged and audited, never sent to the
// client.
type rejection struct{ reason, detail string }

func (e rejection) Error() string        { return mcpgate.ErrUnauthenticated.Error() + ": " + e.detail }
func (e rejection) Is(target error) bool { return target == mcpgate.ErrUnauthenticated }
func (e rejection) Reason() string       { return e.reason }

var (
	errNotAccepted  = rejection{mcpgate.ReasonUnknownToken, "credential not accepted by any verifier"}
	errKeyMalformed = rejection{mcpgate.ReasonMalformed, "malformed api key"}
	errKeyChecksum  = rejection{mcpgate.ReasonBadChecksum, "api key checksum does not match"}
	errUnknownKey   = rejection{mcpgate.ReasonUnknownKey, "unknown api key"}
	errWrongSecret  = rejection{mcpgate.ReasonWrongSecret, "api key secret does not match"}
	errKeyRevoked   = rejection{mcpgate.ReasonRevoked, "api key revoked"}
	errKeyExpired   = rejection{mcpgate.ReasonExpired, "api key expired"}
)

// notMine reports whether a verifier refused a token only because it is
// not one of its issuers'.
func notMine(err error) bool {
	switch mcpgate.Reason(err) {
	case mcpgate.ReasonWrongIssuer, mcpgate.ReasonUnknownToken:
		return true
	}
	return false
}

// malformedKey is the refusal of a token with the API key prefix that is
// not a key: a key of the right shape whose checksum fails was mistyped or
// made up, anything else is damaged.
func malformedKey(token string) error {
	if len(token) == apikey.Len && apikey.Pattern.MatchString(token) {
		return errKeyChecksum
	}
	return errKeyMalformed
}

// keyRefusal is the refusal of a key that is known but no longer valid.
func keyRefusal(k *mcpgate.APIKey) error {
	if !k.RevokedAt.IsZero() {
		return errKeyRevoked
	}
	return errKeyExpired
}

// Chain returns a Verifier that routes a token by its shape: a token that
// [apikey.Looks] like an API key goes to keys; any other token that starts
// with the API key prefix is a damaged key and is refused at once; every
// other token is offered to others in order until one accepts it or fails
// with an error other than [mcpgate.ErrUnauthenticated]. The refusal
// returned is the last one that did not merely say the token is another
// issuer's (a token for another MCP endpoint is refused as such, not as
// unknown to the verifiers tried after). keys may be nil when API keys
// are disabled.
func Chain(keys Verifier, others ...Verifier) Verifier {
	return &chain{keys: keys, others: others}
}

type chain struct {
	keys   Verifier
	others []Verifier
}

func (c *chain) Verify(ctx context.Context, token string) (*mcpgate.Principal, error) {
	if strings.HasPrefix(token, apikey.Prefix) {
		if c.keys == nil {
			return nil, errNotAccepted
		}
		if !apikey.Looks(token) {
			return nil, malformedKey(token)
		}
		return c.keys.Verify(ctx, token)
	}
	err := error(errNotAccepted)
	for _, v := range c.others {
		p, verr := v.Verify(ctx, token)
		if verr == nil {
			return p, nil
		}
		if !errors.Is(verr, mcpgate.ErrUnauthenticated) {
			return nil, verr
		}
		if notMine(err) || !notMine(verr) {
			err = verr
		}
	}
	return nil, err
}
