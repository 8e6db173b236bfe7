package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
)

// KeyVerifierOptions configure a [KeyVerifier]. The zero value is valid.
type KeyVerifierOptions struct {
	// Now returns the current time; time.Now by default.
	Now func() time.Time
	// TouchInterval is how often, at most, a key's last-used time is written
	// to the store. Writes happen in the background, never on the request's
	// path. Default 1 minute; negative disables them.
	TouchInterval time.Duration
	// CacheSize bounds the number of keys kept in memory. Default 10,000;
	// negative disables the cache, so that every check reads the store.
	CacheSize int
	// CacheTTL is how long a cached key is trusted before it is read again,
	// a safety net for when no change feed is watched (see [WatchChanges]).
	// Default 1 minute.
	CacheTTL time.Duration
	// NegativeTTL is how long a key id the store does not know is
	// remembered as unknown, so that a flood of requests with the same
	// made-up key does not reach the store. Default CacheTTL: an unknown
	// id then reads the store exactly as often as a known one, so that
	// timing does not tell a prober whether an id exists. The negative
	// cache holds at most CacheSize ids (at least 1,024). A key is never
	// known before it is created, as ids are random, so a long
	// NegativeTTL does not delay new keys.
	NegativeTTL time.Duration
	// Logger receives failures of background last-used writes;
	// slog.Default() by default.
	Logger *slog.Logger
	// OnRevokedUse, if set, is called when a request presents a revoked
	// key with its right secret: whoever holds it had the real key, so
	// the leak is worth an alert. It must not block.
	OnRevokedUse func(ctx context.Context, k *mcpgate.APIKey)
}

func (o *KeyVerifierOptions) withDefaults() KeyVerifierOptions {
	var d KeyVerifierOptions
	if o != nil {
		d = *o
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.TouchInterval == 0 {
		d.TouchInterval = time.Minute
	}
	if d.CacheSize == 0 {
		d.CacheSize = 10_000
	}
	if d.CacheTTL <= 0 {
		d.CacheTTL = time.Minute
	}
	if d.NegativeTTL <= 0 {
		d.NegativeTTL = d.CacheTTL
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

const (
	// negativeCacheSize is the least number of unknown ids remembered.
	negativeCacheSize = 1024
	// maxTouchesInFlight bounds concurrent background last-used writes; a
	// touch that finds them all busy is retried on a later request.
	maxTouchesInFlight = 4
	// storeTimeout bounds a key lookup or last-used write.
	storeTimeout = 5 * time.Second
)

// KeyVerifier verifies API keys against a [mcpgate.KeyStore]. A check parses
// the key, finds the stored key by its id (in memory when cached, else with
// one indexed lookup), compares the SHA-256 digest of the secret in constant
// time and checks that the key is neither revoked nor expired (a rotated-out
// key expires when its grace period ends).
//
// Cached keys must be invalidated when they change in the store: call
// [KeyVerifier.Apply] from [WatchChanges], or [KeyVerifier.Invalidate].
// A KeyVerifier is safe for concurrent use.
type KeyVerifier struct {
	store mcpgate.KeyStore
	opts  KeyVerifierOptions

	mu      sync.RWMutex
	keys    map[string]*keyEntry
	unknown map[string]int64 // key id → unix nanos until which it is known absent
	epoch   uint64           // bumped by every invalidation, so that a lookup racing it is not cached

	loads singleflight.Group

	touchMu  sync.Mutex
	touched  map[string]int64 // key id → unix nanos of the last write, kept across invalidations
	closed   bool
	inflight int
	touches  sync.WaitGroup
}

// keyEntry is a cached key and the principal it authenticates.
type keyEntry struct {
	key       *mcpgate.APIKey
	principal mcpgate.Principal
	loadedAt  int64        // unix nanos
	lastTouch atomic.Int64 // unix nanos of the last last-used write
	servedOne atomic.Bool  // the first principal was allocated on its own
	slab      atomic.Pointer[principalSlab]
}

// principalSlab holds principals handed out for one key. Each check gets
// its own copy, which it may modify without affecting any other request,
// but allocating them one at a time costs more than the rest of a cached
// check; a slab makes that two allocations (the slab and its array) per
// slab of checks. Slabs start small and double up to maxSlab, so that a
// key used a few times holds a few hundred bytes, while a busy key reaches
// full slabs after a handful of allocations. (Full slabs from the first
// reuse held 6 KiB per cached key: 60 MiB for the default 10,000 keys.)
type principalSlab struct {
	next atomic.Int32
	ps   []mcpgate.Principal
}

const (
	firstSlab = 2
	maxSlab   = 32
)

// newPrincipal returns a fresh copy of e.principal.
func (e *keyEntry) newPrincipal() *mcpgate.Principal {
	if !e.servedOne.Load() && e.servedOne.CompareAndSwap(false, true) {
		// An entry that is not cached serves one check: no slab for it.
		p := new(mcpgate.Principal)
		*p = e.principal
		return p
	}
	s := e.slab.Load()
	size := firstSlab
	if s != nil {
		if i := s.next.Add(1) - 1; int(i) < len(s.ps) {
			p := &s.ps[i]
			*p = e.principal
			return p
		}
		size = min(2*len(s.ps), maxSlab)
	}
	ns := &principalSlab{ps: make([]mcpgate.Principal, size)}
	ns.next.Store(1)
	p := &ns.ps[0]
	*p = e.principal
	e.slab.CompareAndSwap(s, ns) // if another check won, this slab serves only p
	return p
}

var _ Verifier = (*KeyVerifier)(nil)

// verifySecret compares the digest of a presented secret with a stored
// one in constant time. A variable so that tests can see each comparison.
var verifySecret = apikey.Verify

// unknownKeyDigest is what the secret of an unknown key id is compared
// with: no secret hashes to it.
var unknownKeyDigest = make([]byte, sha256.Size)

// NewKeyVerifier returns a verifier of the keys in store. opts may be nil.
func NewKeyVerifier(store mcpgate.KeyStore, opts *KeyVerifierOptions) *KeyVerifier {
	return &KeyVerifier{
		store:   store,
		opts:    opts.withDefaults(),
		keys:    make(map[string]*keyEntry),
		unknown: make(map[string]int64),
		touched: make(map[string]int64),
	}
}

// Verify checks an API key and returns the principal it authenticates.
// Every refusal matches [mcpgate.ErrUnauthenticated]; an error that does not
// means the store could not be read. The returned principal is the
// caller's to keep, but its Scopes slice is shared and must not be modified.
func (v *KeyVerifier) Verify(ctx context.Context, token string) (*mcpgate.Principal, error) {
	id, secret, err := apikey.Parse(token)
	if err != nil {
		return nil, malformedKey(token)
	}
	now := v.opts.Now()
	e, err := v.entry(ctx, id, now)
	if err == errUnknownKey {
		// Refused after the same comparison a known key gets, so that the
		// time taken does not tell whether the id exists.
		verifySecret(unknownKeyDigest, secret)
		return nil, errUnknownKey
	}
	if err != nil {
		return nil, err
	}
	if !verifySecret(e.key.Hash, secret) {
		return nil, errWrongSecret
	}
	if !e.key.Valid(now) {
		if v.opts.OnRevokedUse != nil && !e.key.RevokedAt.IsZero() && !now.Before(e.key.RevokedAt) {
			v.opts.OnRevokedUse(ctx, e.key)
		}
		return nil, keyRefusal(e.key)
	}
	v.touch(e, id, now)
	return e.newPrincipal(), nil
}

// CheckKey reports whether the API key with id is still valid: known,
// not revoked and not expired (a rotated-out key expires when its grace
// period ends). It reads the same cache as Verify, so a revocation takes
// effect as soon as the change feed reaches [KeyVerifier.Apply]. It needs
// no secret: it is for credentials derived from a key that was verified
// earlier, such as OAuth tokens of a user who signed in with an API key.
// A refusal matches [mcpgate.ErrUnauthenticated]; an error that does not
// means the store could not be read.
func (v *KeyVerifier) CheckKey(ctx context.Context, id string) error {
	if id == "" {
		return errUnknownKey
	}
	now := v.opts.Now()
	e, err := v.entry(ctx, id, now)
	if err != nil {
		return err
	}
	if !e.key.Valid(now) {
		return keyRefusal(e.key)
	}
	return nil
}

// entry returns the stored key with id, from the cache when fresh.
func (v *KeyVerifier) entry(ctx context.Context, id string, now time.Time) (*keyEntry, error) {
	n := now.UnixNano()
	v.mu.RLock()
	e := v.keys[id]
	var negUntil int64
	if e == nil {
		negUntil = v.unknown[id]
	}
	epoch := v.epoch
	v.mu.RUnlock()
	if e != nil && n-e.loadedAt < int64(v.opts.CacheTTL) {
		return e, nil
	}
	if e == nil && n < negUntil {
		return nil, errUnknownKey
	}
	// Concurrent checks of the same uncached key share one store read. A
	// check that starts after an invalidation never joins a read that
	// started before it: the epoch is part of the flight's name. The read
	// is detached from the first caller's cancellation so that one client
	// going away does not fail the others.
	flight := id + "/" + strconv.FormatUint(epoch, 10)
	res, err, _ := v.loads.Do(flight, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		return v.load(ctx, id, n, epoch)
	})
	if err != nil {
		return nil, err
	}
	return res.(*keyEntry), nil
}

// load reads the key with id from the store and caches it, unless the
// cache was invalidated since epoch.
func (v *KeyVerifier) load(ctx context.Context, id string, now int64, epoch uint64) (*keyEntry, error) {
	k, err := v.store.Key(ctx, id)
	if errors.Is(err, mcpgate.ErrNotFound) {
		if v.opts.CacheSize > 0 {
			v.mu.Lock()
			if epoch == v.epoch {
				evictOne(v.unknown, max(v.opts.CacheSize, negativeCacheSize))
				v.unknown[id] = now + int64(v.opts.NegativeTTL)
			}
			v.mu.Unlock()
		}
		return nil, errUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("authn: reading api key %s: %w", id, err)
	}
	if k == nil || k.ID != id {
		return nil, fmt.Errorf("authn: store returned the wrong record for api key %s", id)
	}
	e := &keyEntry{
		key:      k,
		loadedAt: now,
		principal: mcpgate.Principal{
			Subject: k.Subject,
			Tenant:  k.Tenant,
			KeyID:   k.ID,
			Scopes:  slices.Clip(slices.Clone(k.Scopes)),
			Expires: k.ExpiresAt,
			Method:  mcpgate.MethodAPIKey,
		},
	}
	v.touchMu.Lock()
	e.lastTouch.Store(v.touched[id])
	v.touchMu.Unlock()
	if v.opts.CacheSize > 0 {
		v.mu.Lock()
		if epoch == v.epoch {
			if _, ok := v.keys[id]; !ok {
				evictOne(v.keys, v.opts.CacheSize)
			}
			v.keys[id] = e
			delete(v.unknown, id)
		}
		v.mu.Unlock()
	}
	return e, nil
}

// evictOne makes room for one more entry in a map bounded to max entries by
// dropping an arbitrary one (Go randomises where map iteration starts).
func evictOne[V any](m map[string]V, max int) {
	if len(m) < max {
		return
	}
	for k := range m {
		delete(m, k)
		return
	}
}

// touch records in the background that the key was used, at most once per
// TouchInterval.
func (v *KeyVerifier) touch(e *keyEntry, id string, now time.Time) {
	if v.opts.TouchInterval < 0 {
		return
	}
	n := now.UnixNano()
	last := e.lastTouch.Load()
	if last != 0 && n-last < int64(v.opts.TouchInterval) {
		return
	}
	if !e.lastTouch.CompareAndSwap(last, n) {
		return // another request is touching it
	}
	v.touchMu.Lock()
	if v.closed || v.inflight >= maxTouchesInFlight {
		v.touchMu.Unlock()
		e.lastTouch.CompareAndSwap(n, last) // let a later request try again
		return
	}
	v.inflight++
	if len(v.touched) >= 2*max(v.opts.CacheSize, negativeCacheSize) {
		// Forget writes older than the interval; the worst outcome of
		// forgetting is one extra write per key.
		for k, t := range v.touched {
			if n-t >= int64(v.opts.TouchInterval) {
				delete(v.touched, k)
			}
		}
		evictOne(v.touched, 2*max(v.opts.CacheSize, negativeCacheSize))
	}
	v.touched[id] = n
	v.touches.Add(1)
	v.touchMu.Unlock()

	go func() {
		defer v.touches.Done()
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := v.store.TouchKey(ctx, id, now)
		cancel()
		if err != nil {
			v.opts.Logger.LogAttrs(context.Background(), slog.LevelWarn, "recording api key use failed",
				slog.String("key_id", id), slog.Any("error", err))
		}
		v.touchMu.Lock()
		v.inflight--
		v.touchMu.Unlock()
	}()
}

// Len returns the number of keys cached.
func (v *KeyVerifier) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.keys)
}

// Invalidate drops the cached copy of the key with id, so that the next
// check reads it from the store.
func (v *KeyVerifier) Invalidate(keyID string) {
	v.mu.Lock()
	delete(v.keys, keyID)
	delete(v.unknown, keyID)
	v.epoch++
	v.mu.Unlock()
}

// InvalidateAll empties the cache.
func (v *KeyVerifier) InvalidateAll() {
	v.mu.Lock()
	clear(v.keys)
	clear(v.unknown)
	v.epoch++
	v.mu.Unlock()
}

// Apply invalidates what a change from the store's change feed affects: the
// key of a [mcpgate.ChangeKey], every key of the subject of a
// [mcpgate.ChangeSubject] (matched by subject or by Principal.ID). Other
// kinds do not concern API keys. It is meant as the apply function of
// [WatchChanges].
func (v *KeyVerifier) Apply(c mcpgate.Change) {
	switch c.Kind {
	case mcpgate.ChangeKey:
		v.Invalidate(c.ID)
	case mcpgate.ChangeSubject:
		v.mu.Lock()
		for id, e := range v.keys {
			if e.principal.Subject == c.ID || e.principal.ID() == c.ID {
				delete(v.keys, id)
			}
		}
		v.epoch++
		v.mu.Unlock()
	}
}

// Close waits for background last-used writes to finish and stops new
// ones. Checks keep working after Close.
func (v *KeyVerifier) Close() error {
	v.touchMu.Lock()
	v.closed = true
	v.touchMu.Unlock()
	v.touches.Wait()
	return nil
}
