// Package redis holds the implementation of [mcpgate.Limiter] shared by
// every replica of a gateway through Redis, and [Fallback], which decides
// in-process while Redis is unreachable. It is the only importer of the
// Redis client.
package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate"
)

// Options configure a [Limiter]. The zero value is valid.
type Options struct {
	// Prefix is put before every key; "mcpgate:rl:" by default. Gateways
	// that share a Redis database but not their limits use different
	// prefixes.
	Prefix string
	// Now, if set, is the clock decisions use. By default they use the
	// Redis server's clock (the TIME command inside the script), the one
	// clock every replica shares; set Now only when every replica's clock
	// is trusted to agree, or in tests.
	Now func() time.Time
}

// Client is what a [Limiter] needs of a Redis client: scripts, and PING
// for health probes. *goredis.Client, *goredis.ClusterClient,
// *goredis.Ring and a client's AutoPipeliner all have it.
type Client interface {
	goredis.Scripter
	Ping(ctx context.Context) *goredis.StatusCmd
}

// Limiter is a GCRA [mcpgate.Limiter] whose state lives in Redis, so that
// every replica of a gateway shares it. Each decision is one round trip:
// one Lua script (EVALSHA) reads the key's theoretical arrival time,
// decides exactly as the inmem package does, and if the request is
// admitted writes the new time back with an expiry at the key's reset, so
// an idle key costs Redis nothing. Times are whole microseconds.
//
// Errors from Redis are returned as they are; [Fallback] turns them into
// the configured failure policy.
type Limiter struct {
	client Client
	prefix string
	now    func() time.Time
	close  func() error // set by Dial
}

var _ mcpgate.Limiter = (*Limiter)(nil)

// gcraSource is the decision. KEYS[1] is the key; ARGV is the emission
// interval and the burst window in microseconds, the cost, and the time
// now in microseconds or "" for the server's clock. It returns {allowed,
// remaining, retry after µs, reset after µs}.
//
//go:embed gcra.lua
var gcraSource string

var gcraScript = goredis.NewScript(gcraSource)

// New returns a Limiter on client, a single-node, cluster or sentinel
// client whose timeouts should be short (a decision that waits seconds for
// Redis holds up a request that long). opts may be nil.
func New(client Client, opts *Options) *Limiter {
	l := &Limiter{client: client, prefix: "mcpgate:rl:"}
	if opts != nil {
		if opts.Prefix != "" {
			l.prefix = opts.Prefix
		}
		l.now = opts.Now
	}
	return l
}

// Allow implements [mcpgate.Limiter]. Besides errors matching
// [mcpgate.ErrInvalidLimit], it returns the Redis client's errors, and
// ctx's when ctx is done.
func (l *Limiter) Allow(ctx context.Context, key string, limit mcpgate.Limit, cost int) (mcpgate.Decision, error) {
	if err := limit.Check(cost); err != nil {
		return mcpgate.Decision{Limit: limit}, err
	}
	if limit.IsOff() {
		return mcpgate.Decision{Allowed: true, Limit: limit}, nil
	}
	interval := limit.Interval().Microseconds()
	now := ""
	if l.now != nil {
		now = strconv.FormatInt(l.now().UnixMicro(), 10)
	}
	res, err := gcraScript.Run(ctx, l.client, []string{l.prefix + key},
		interval, int64(limit.Burst)*interval, cost, now).Int64Slice()
	if err != nil {
		return mcpgate.Decision{Limit: limit}, fmt.Errorf("redis limiter: %w", err)
	}
	if len(res) != 4 {
		return mcpgate.Decision{Limit: limit}, errors.New("redis limiter: the script returned " + strconv.Itoa(len(res)) + " values, want 4")
	}
	return mcpgate.Decision{
		Allowed:    res[0] == 1,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		ResetAfter: time.Duration(res[3]) * time.Microsecond,
		Limit:      limit,
	}, nil
}

// Ping checks that Redis answers. [Fallback] uses it to notice recovery.
func (l *Limiter) Ping(ctx context.Context) error {
	return l.client.Ping(ctx).Err()
}
