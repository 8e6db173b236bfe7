package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/mcpgate/mcpgate"
)

// expiredGrace is how long past expiry authorization requests and refresh
// tokens are kept: a day, as the stores' own clean-up on create keeps them.
const expiredGrace = 24 * time.Hour

// prune deletes, every interval from the start, what the store no longer
// needs: audit events and changes older than retention (none when it is
// 0), and codes and refresh tokens a day past expiry. With several
// replicas one prunes at a time; the others skip their turn.
func (g *Gateway) prune(ctx context.Context, p mcpgate.Pruner, retention, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		now := g.opts.Now()
		var before time.Time
		if retention > 0 {
			before = now.Add(-retention)
		}
		pruned, err := p.Prune(ctx, before, now.Add(-expiredGrace))
		switch {
		case errors.Is(err, mcpgate.ErrPruneBusy):
			g.logger.Debug("retention: another replica is pruning")
		case err != nil && ctx.Err() == nil:
			g.logger.Warn("retention: pruning failed; retrying at the next interval", "err", err, "interval", interval)
		case err == nil && pruned != (mcpgate.Pruned{}):
			g.logger.Info("retention: pruned", "audit_events", pruned.Audit, "changes", pruned.Changes,
				"auth_requests", pruned.AuthRequests, "refresh_tokens", pruned.RefreshTokens,
				"signin_sessions", pruned.SigninSessions, "before", before)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
