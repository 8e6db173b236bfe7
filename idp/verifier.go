package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/jose"
)

// Verifier verifies the tokens of trusted identity providers: JWTs of the
// configured issuers locally, other tokens by introspection when it is
// configured. It is an authn.Verifier; feed it the change feed with
// [Verifier.Apply]. A Verifier is safe for concurrent use.
type Verifier struct {
	opts       Options
	issuers    map[string]*issuer
	introspect *introspector // nil without introspection
	rev        *revocations

	flights singleflight.Group

	mu       sync.RWMutex
	cache    map[[32]byte]*entry
	negative map[[32]byte]int64 // token hash → unix nanos until which it is known inactive
	inserts  int                // since the last sweep of expired entries
}

// entry is a verified token: the principal it authenticates, and until
// when that holds without verifying again.
type entry struct {
	p        mcpgate.Principal
	issuedAt time.Time // zero when the token did not say
	until    int64     // unix nanos
	// perResource: its provider names no fixed audience, so the token is
	// good only on the endpoints its aud names.
	perResource bool
}

// negativeCacheSize bounds the tokens remembered as inactive.
const negativeCacheSize = 1024

// New returns a verifier of the tokens of issuers and, when introspection
// is not nil, of the opaque tokens that introspection vouches for. It reads
// each issuer's metadata and keys now, bounded by the timeout; an issuer
// that does not answer is tried again when its tokens arrive, and its
// tokens are refused meanwhile. opts may be nil.
func New(issuers []Issuer, introspection *Introspection, opts *Options) (*Verifier, error) {
	o := opts.withDefaults()
	horizon := o.MaxTokenLifetime
	v := &Verifier{
		opts:     o,
		issuers:  make(map[string]*issuer, len(issuers)),
		cache:    make(map[[32]byte]*entry),
		negative: make(map[[32]byte]int64),
	}
	for _, cfg := range issuers {
		if _, dup := v.issuers[cfg.Issuer]; dup {
			v.Close()
			return nil, fmt.Errorf("idp: issuer %s configured twice", cfg.Issuer)
		}
		is, err := newIssuer(cfg, &v.opts)
		if err != nil {
			v.Close()
			return nil, err
		}
		v.issuers[cfg.Issuer] = is
		horizon = max(horizon, is.cfg.MaxTokenLifetime)
	}
	if introspection != nil {
		in, err := newIntrospector(*introspection, &v.opts)
		if err != nil {
			v.Close()
			return nil, err
		}
		v.introspect = in
		horizon = max(horizon, in.cfg.MaxTokenLifetime)
	}
	v.rev = newRevocations(horizon + o.Leeway)
	return v, nil
}

// Horizon is how long a revocation stays in force: the longest lifetime of
// a token any configured provider may issue, plus the leeway.
func (v *Verifier) Horizon() time.Duration { return v.rev.horizon }

// Close stops the background refresh of the issuers' keys.
func (v *Verifier) Close() error {
	for _, is := range v.issuers {
		is.close()
	}
	return nil
}

// Verify checks token and returns the principal it authenticates. Every
// refusal matches [mcpgate.ErrUnauthenticated], an identity provider that
// does not answer included: mcpgate fails closed.
func (v *Verifier) Verify(ctx context.Context, token string) (*mcpgate.Principal, error) {
	if len(token) > MaxTokenBytes {
		return nil, refuse(mcpgate.ReasonMalformed, "token of %d bytes, more than %d", len(token), MaxTokenBytes)
	}
	key := jose.TokenHash(token)
	now := v.opts.Now()
	n := now.UnixNano()
	v.mu.RLock()
	e := v.cache[key]
	neg := v.negative[key]
	v.mu.RUnlock()
	if e == nil || n >= e.until {
		if n < neg {
			return nil, errInactive
		}
		// Concurrent first uses of one token share one verification,
		// detached from the first caller's cancellation so that one
		// client going away does not fail the others, and bounded so that
		// a provider that does not answer is a refusal, not a hang.
		res, err, _ := v.flights.Do(string(key[:]), func() (any, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.opts.Timeout)
			defer cancel()
			return v.verify(ctx, token, key, now)
		})
		if err != nil {
			return nil, err
		}
		e = res.(*entry)
	}
	if why := v.rev.check(&e.p, e.issuedAt, now); why != "" {
		return nil, refuse(mcpgate.ReasonRevoked, "%s revoked", why)
	}
	if e.perResource {
		// After the cache, which holds a token whatever endpoint it was
		// first shown on.
		r := mcpgate.ResourceFromContext(ctx)
		if r == "" {
			return nil, errNoResource
		}
		if !slices.Contains(e.p.Audience, r) {
			return nil, refuse(mcpgate.ReasonWrongAudience, "token for %q, not %q", e.p.Audience, r)
		}
	}
	p := new(mcpgate.Principal)
	*p = e.p
	return p, nil
}

var (
	errInactive   = refuse(mcpgate.ReasonInactive, "token inactive (introspection)")
	errNoResource = refuse(mcpgate.ReasonWrongAudience, "no audience configured and the request names no resource")
)

// verify verifies a token that is not cached and caches it.
func (v *Verifier) verify(ctx context.Context, token string, key [32]byte, now time.Time) (*entry, error) {
	var (
		e   *entry
		err error
	)
	if iss, ok := peekIssuer(token); ok && v.issuers[iss] != nil {
		e, err = v.issuers[iss].verify(ctx, token, now)
	} else if v.introspect != nil {
		var inactive bool
		e, inactive, err = v.introspect.verify(ctx, token, now)
		if inactive {
			v.remember(key, now.Add(v.introspect.cfg.NegativeTTL).UnixNano())
		}
	} else if ok {
		err = refuse(mcpgate.ReasonWrongIssuer, "issuer %q is not trusted", iss)
	} else {
		err = refuse(mcpgate.ReasonUnknownToken, "not a JWT of a trusted issuer, and no introspection configured")
	}
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.inserts++
	if len(v.cache) >= v.opts.CacheSize {
		if v.inserts >= v.opts.CacheSize/4 {
			// Sweep expired entries now and then rather than on every
			// insert into a full cache.
			n := now.UnixNano()
			for k, e := range v.cache {
				if n >= e.until {
					delete(v.cache, k)
				}
			}
			v.inserts = 0
		}
		for k := range v.cache {
			if len(v.cache) < v.opts.CacheSize {
				break
			}
			delete(v.cache, k) // Go randomises where iteration starts
		}
	}
	v.cache[key] = e
	v.mu.Unlock()
	return e, nil
}

// remember records that the token with key is inactive until the given
// unix nanos.
func (v *Verifier) remember(key [32]byte, until int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.negative) >= negativeCacheSize {
		for k := range v.negative {
			delete(v.negative, k)
			break
		}
	}
	v.negative[key] = until
}

// Apply makes a revocation from the change feed take effect: a token,
// subject or client change, for one issuer or every issuer. Revoked tokens
// are dropped from the cache; later checks refuse them (and, for a
// subject, every token of it issued until the change) for as long as such
// a token may live. Other kinds are ignored. It is meant to be called for
// every change the gateway reads, and once for each change still in force
// at start (see [Verifier.Load]).
func (v *Verifier) Apply(c mcpgate.Change) {
	if c.At.IsZero() {
		c.At = v.opts.Now()
	}
	if !v.rev.apply(c, v.opts.Now()) {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, e := range v.cache {
		if covers(c, &e.p) && (c.Kind != mcpgate.ChangeSubject || e.issuedAt.IsZero() || !e.issuedAt.After(c.At)) {
			delete(v.cache, k)
		}
	}
}

// Load applies the revocations of feed still in force, for a server that
// starts after they were made.
func (v *Verifier) Load(ctx context.Context, feed mcpgate.ChangeFeed) error {
	changes, err := feed.ChangesSince(ctx, 0)
	if err != nil {
		return fmt.Errorf("idp: load revocations: %w", err)
	}
	for _, c := range changes {
		v.Apply(c)
	}
	return nil
}

// peekIssuer returns the iss claim of a token shaped like a JWT, without
// verifying anything: it only picks the issuer whose keys then verify it.
func peekIssuer(token string) (string, bool) {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return "", false
	}
	return c.Iss, true
}

// lifetime checks the lifetime of a token against max: exp - iat, or
// exp - now without iat.
func lifetime(exp, iat, now time.Time, max time.Duration) error {
	if exp.IsZero() {
		return nil
	}
	from := iat
	if from.IsZero() {
		from = now
	}
	if exp.Sub(from) > max {
		return refuse(mcpgate.ReasonTooLong, "token lives %s, longer than the %s allowed", exp.Sub(from).Round(time.Second), max)
	}
	return nil
}

var errNoSubject = errors.New("token names no subject and no client")
