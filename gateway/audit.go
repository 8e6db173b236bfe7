package gateway

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate"
)

// auditWriter logs each audit event at once and writes it to the store in
// batches off the request path. When the queue is full the request waits
// for room rather than dropping the event: an audit trail with holes is
// worse than a slow request.
type auditWriter struct {
	store  mcpgate.AuditStore
	logger *slog.Logger
	queue  chan *mcpgate.AuditEvent
	done   chan struct{}
	// inflight counts record calls under way.
	inflight atomic.Int64
}

const (
	auditQueue = 4096
	auditBatch = 256
	auditEvery = 100 * time.Millisecond
)

func newAuditWriter(store mcpgate.AuditStore, logger *slog.Logger) *auditWriter {
	return &auditWriter{store: store, logger: logger, queue: make(chan *mcpgate.AuditEvent, auditQueue), done: make(chan struct{})}
}

func (a *auditWriter) record(ev *mcpgate.AuditEvent) {
	a.logger.LogAttrs(context.Background(), slog.LevelInfo, "mcp request",
		slog.String("request_id", ev.RequestID),
		slog.String("subject", ev.Subject),
		slog.String("tenant", ev.Tenant),
		slog.String("key_id", ev.KeyID),
		slog.String("client_id", ev.ClientID),
		slog.String("method", ev.Method),
		slog.String("target", ev.Target),
		slog.String("decision", ev.Decision),
		slog.Int("status", ev.Status),
		slog.Duration("latency", ev.Latency),
		slog.String("remote", ev.Remote),
	)
	// After shutdown nothing drains the queue, so write directly. The
	// check comes first (a select would pick the queue half of the time),
	// and inflight lets run wait for senders that passed it before it
	// closed done, so their events are drained, not stranded.
	a.inflight.Add(1)
	defer a.inflight.Add(-1)
	select {
	case <-a.done:
		a.write([]*mcpgate.AuditEvent{ev})
		return
	default:
	}
	select {
	case a.queue <- ev:
	case <-a.done:
		a.write([]*mcpgate.AuditEvent{ev})
	}
}

// run drains the queue until ctx ends, then flushes what is left.
func (a *auditWriter) run(ctx context.Context) {
	tick := time.NewTicker(auditEvery)
	defer tick.Stop()
	batch := make([]*mcpgate.AuditEvent, 0, auditBatch)
	flush := func() {
		if len(batch) > 0 {
			a.write(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case ev := <-a.queue:
			batch = append(batch, ev)
			if len(batch) == auditBatch {
				flush()
			}
		case <-tick.C:
			flush()
		case <-ctx.Done():
			close(a.done)
			for {
				select {
				case ev := <-a.queue:
					batch = append(batch, ev)
				default:
					if a.inflight.Load() == 0 && len(a.queue) == 0 {
						flush()
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
	}
}

func (a *auditWriter) write(events []*mcpgate.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.store.AppendAudit(ctx, events...); err != nil {
		a.logger.Error("audit events not stored", "count", len(events), "err", err)
	}
}
