package redis

import (
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Timeouts of the client [Dial] makes: a decision waits at most this long
// for Redis before [Fallback] applies the failure policy.
const (
	DialTimeout = 250 * time.Millisecond
	IOTimeout   = 250 * time.Millisecond
)

// Dial returns a Limiter on the Redis at url (redis://[user:password@]
// host:port[/db], or rediss:// for TLS), with a client made for rate
// limiting: short timeouts (DialTimeout, IOTimeout), one dial attempt and no
// retries, so that an outage is noticed at once and a script is never run
// twice for one decision, and concurrent decisions pipelined on shared
// connections (go-redis's AutoPipeliner), which on two cores doubles the
// decisions per second. Close the Limiter to close the client. opts may be
// nil.
func Dial(url string, opts *Options) (*Limiter, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis limiter: %w", err)
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = DialTimeout, IOTimeout, IOTimeout
	o.DialerRetries = 1
	o.MaxRetries = -1
	c := goredis.NewClient(o)
	ap, err := c.AutoPipeline()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("redis limiter: %w", err)
	}
	l := New(ap, opts)
	l.close = c.Close
	return l, nil
}

// Close closes the client if [Dial] made it; a Limiter from [New] leaves
// its client to the caller.
func (l *Limiter) Close() error {
	if l.close == nil {
		return nil
	}
	return l.close()
}
