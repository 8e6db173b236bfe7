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
// Failures to read the feed are logged with slog.Default and retried with
// a growing delay (at most 5s); no change is skipped, since polling
// resumes from the last change applied.
func WatchChanges(ctx context.Context, feed mcpgate.ChangeFeed, interval time.Duration, apply func(mcpgate.Change)) error {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	log := slog.Default()
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
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
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
