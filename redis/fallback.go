package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate"
)

// FailurePolicy says what a [Fallback] does while its shared limiter is
// unreachable.
type FailurePolicy string

// Failure policies, as the --redis-failure flag spells them.
const (
	// FailLocal decides in-process: each replica limits on its own, so a
	// key may be admitted up to once per replica, but nobody is locked out
	// by an outage of Redis.
	FailLocal FailurePolicy = "local"
	// FailDeny refuses every limited request with an error matching
	// [mcpgate.ErrLimiterUnavailable] (503), so that no limit is ever
	// exceeded.
	FailDeny FailurePolicy = "deny"
)

// ParseFailurePolicy reads "local" or "deny".
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch p := FailurePolicy(s); p {
	case FailLocal, FailDeny:
		return p, nil
	}
	return "", fmt.Errorf("unknown Redis failure policy %q (want local or deny)", s)
}

// FallbackOptions configure a [Fallback]. The zero value is valid.
type FallbackOptions struct {
	// Policy applies while the shared limiter is unreachable; FailLocal by
	// default.
	Policy FailurePolicy
	// ProbeInterval is how often, at most, an unreachable shared limiter
	// is tried again; one second by default. Requests never wait for a
	// probe: it runs on its own while they are decided by the policy.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe; the ProbeInterval by default.
	ProbeTimeout time.Duration
	// Probe checks whether the shared limiter is back. By default it is
	// the shared limiter's Ping method if it has one (as [Limiter] does),
	// and otherwise one decision on a key of its own.
	Probe func(context.Context) error
	// Logger receives one line per transition, a warning when the shared
	// limiter fails and a notice when it is back; slog.Default() by
	// default.
	Logger *slog.Logger
	// OnTransition, if set, is called once per transition, with the error
	// that caused it when healthy is false, e.g. to raise an alert. Calls
	// are serialized and in order.
	OnTransition func(healthy bool, err error)
	// Now is the clock of the probe cadence; time.Now by default.
	Now func() time.Time
}

// Fallback is an [mcpgate.Limiter] that decides with a shared limiter
// (Redis) and, when that fails, applies its [FailurePolicy] until a probe
// finds it working again. The first failure switches every later request
// to the policy at once, so an outage costs one failed round trip, not one
// per request; recovery needs no restart.
type Fallback struct {
	shared, local mcpgate.Limiter
	opts          FallbackOptions
	down          atomic.Bool
	probing       atomic.Bool
	nextProbe     atomic.Int64 // Unix nanoseconds
	mu            sync.Mutex   // serializes transitions and their reports
}

var _ mcpgate.Limiter = (*Fallback)(nil)

// NewFallback returns a Fallback that decides with shared and, under
// FailLocal, with local while shared is unreachable. local may be nil only
// under FailDeny. opts may be nil.
func NewFallback(shared, local mcpgate.Limiter, opts *FallbackOptions) *Fallback {
	f := &Fallback{shared: shared, local: local}
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.Policy == "" {
		f.opts.Policy = FailLocal
	}
	if f.opts.Policy == FailLocal && local == nil {
		panic("redis: NewFallback: FailLocal needs a local limiter")
	}
	if f.opts.ProbeInterval <= 0 {
		f.opts.ProbeInterval = time.Second
	}
	if f.opts.ProbeTimeout <= 0 {
		f.opts.ProbeTimeout = f.opts.ProbeInterval
	}
	if f.opts.Probe == nil {
		f.opts.Probe = defaultProbe(shared)
	}
	if f.opts.Logger == nil {
		f.opts.Logger = slog.Default()
	}
	if f.opts.Now == nil {
		f.opts.Now = time.Now
	}
	return f
}

func defaultProbe(shared mcpgate.Limiter) func(context.Context) error {
	if p, ok := shared.(interface{ Ping(context.Context) error }); ok {
		return p.Ping
	}
	return func(ctx context.Context) error {
		_, err := shared.Allow(ctx, "mcpgate-probe", mcpgate.Limit{Rate: 1, Per: time.Second, Burst: 1}, 1)
		return err
	}
}

// Healthy reports whether decisions are currently shared.
func (f *Fallback) Healthy() bool { return !f.down.Load() }

// Allow implements [mcpgate.Limiter]. While the shared limiter works its
// decisions and [mcpgate.ErrInvalidLimit] errors are returned as they are.
// When it fails (other than because ctx is done) or is known to be down,
// the decision is the local limiter's under FailLocal, and under FailDeny
// an error matching [mcpgate.ErrLimiterUnavailable] with RetryAfter set to
// the probe interval.
func (f *Fallback) Allow(ctx context.Context, key string, limit mcpgate.Limit, cost int) (mcpgate.Decision, error) {
	if f.down.Load() {
		f.maybeProbe()
	} else {
		d, err := f.shared.Allow(ctx, key, limit, cost)
		if err == nil || errors.Is(err, mcpgate.ErrInvalidLimit) || ctx.Err() != nil {
			return d, err
		}
		f.transition(false, err)
	}
	if f.opts.Policy == FailLocal {
		return f.local.Allow(ctx, key, limit, cost)
	}
	if err := limit.Check(cost); err != nil || limit.IsOff() {
		return mcpgate.Decision{Allowed: err == nil, Limit: limit}, err
	}
	return mcpgate.Decision{Limit: limit, RetryAfter: f.opts.ProbeInterval},
		fmt.Errorf("%w: Redis is unreachable and the failure policy is deny", mcpgate.ErrLimiterUnavailable)
}

// maybeProbe starts a probe of the shared limiter if none is running and
// the last one started at least ProbeInterval ago.
func (f *Fallback) maybeProbe() {
	now := f.opts.Now().UnixNano()
	if now < f.nextProbe.Load() || !f.probing.CompareAndSwap(false, true) {
		return
	}
	f.nextProbe.Store(now + int64(f.opts.ProbeInterval))
	go func() {
		defer f.probing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.ProbeTimeout)
		defer cancel()
		if f.opts.Probe(ctx) == nil {
			f.transition(true, nil)
		}
	}()
}

// transition records that the shared limiter became healthy or not,
// logging and reporting it once however many requests noticed.
func (f *Fallback) transition(healthy bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down.Load() == !healthy {
		return
	}
	if !healthy {
		// The first probe waits a whole interval: the failure just seen
		// is the freshest news there is.
		f.nextProbe.Store(f.opts.Now().UnixNano() + int64(f.opts.ProbeInterval))
	}
	f.down.Store(!healthy)
	if healthy {
		f.opts.Logger.LogAttrs(context.Background(), slog.LevelInfo, "rate limiter: Redis is reachable again; limits are shared again")
	} else {
		f.opts.Logger.LogAttrs(context.Background(), slog.LevelWarn, "rate limiter: Redis is unreachable; applying the failure policy until it is back",
			slog.String("policy", string(f.opts.Policy)), slog.Any("error", err))
	}
	if f.opts.OnTransition != nil {
		f.opts.OnTransition(healthy, err)
	}
}
