package authn

import (
	"context"
	"log/slog"
	"time"

	"github.com/mcpgate/mcpgate"
)

// DefaultWatchInterval is how often [WatchChanges] polls by default: a key
// revoked by the CLI in another process stops working within about this
// long.
const DefaultWatchInterval = 200 * time.Millisecond

// maxWatchBackoff caps the wait between retries while the feed fails.
const maxWatchBackoff = 5 * time.Second

// WatchChanges polls feed for changes and calls apply for each, in order,
// until ctx is done; then it returns ctx.Err(). It starts after the
// feed's last change at the time of the call, since anything older is
// already visible in the store. interval <= 0 means
// [DefaultWatchInterval].
//
// A feed that implements [mcpgate.ChangeNotifier] (Postgres) also wakes
// the watcher the moment a change commits anywhere, so a revocation in
// another process applies within milliseconds; polling goes on beside it
// and heals a notification lost while the listening connection was down.
//
// Failures to read the feed are logged with slog.Default and retried with
// a growing delay (at most 5s); no change is skipped, since polling
// resumes from the last change applied.
func WatchChanges(ctx context.Context, feed mcpgate.ChangeFeed, interval time.Duration, apply func(mcpgate.Change)) error {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	log := slog.Default()
	wake := make(chan struct{}, 1)
	if n, ok := feed.(mcpgate.ChangeNotifier); ok {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() { defer close(done); listenChanges(ctx, n, interval, wake) }()
	}
	backoff := interval
	fail := func(what string, err error) {
		log.LogAttrs(ctx, slog.LevelWarn, "change feed: "+what+" failed; retrying",
			slog.Any("error", err), slog.Duration("retry_in", backoff))
	}

	var last int64
	for {
		seq, err := feed.LastChange(ctx)
		if err == nil {
			last = seq
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fail("reading last change", err)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, maxWatchBackoff)
	}

	backoff = interval
	for {
		wait := interval
		changes, err := feed.ChangesSince(ctx, last)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			fail("reading changes", err)
			wait = backoff
			backoff = min(2*backoff, maxWatchBackoff)
		default:
			backoff = interval
			for _, c := range changes {
				if c.Seq <= last {
					continue // a feed must not repeat itself; be safe if it does
				}
				apply(c)
				last = c.Seq
			}
		}
		if !waitOrWake(ctx, wait, wake) {
			return ctx.Err()
		}
	}
}

// listenChanges keeps n listening until ctx ends, leaving a wake-up on wake
// for every notification, and listening again after a growing delay when
// the connection fails.
func listenChanges(ctx context.Context, n mcpgate.ChangeNotifier, interval time.Duration, wake chan struct{}) {
	backoff := interval
	for {
		started := time.Now()
		err := n.ListenChanges(ctx, func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > maxWatchBackoff {
			backoff = interval // it listened for a while: a fresh failure
		}
		slog.Default().LogAttrs(ctx, slog.LevelWarn, "change feed: listening failed; polling until it listens again",
			slog.Any("error", err), slog.Duration("retry_in", backoff))
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxWatchBackoff)
	}
}

// waitOrWake waits for d, or a wake-up on wake, or until ctx is done,
// reporting whether ctx is still live.
func waitOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

// sleep waits for d or until ctx is done, reporting whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
