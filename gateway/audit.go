package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// auditWriter logs each audit event at once and stores it off the request
// path with group commit: while one batch is written the next accumulates,
// and it is written as soon as the previous one is stored.
//
// What a crash (kill -9) can lose is what is held in memory: the events
// queued plus the batch being written. That count is capped below one
// auditEvery of events at the measured event rate (within auditMinPending
// and auditMaxPending). A request whose event finds the cap reached waits
// until the store catches up: an audit trail with holes is worse than a slow
// request, and an unbounded queue only turns a slow store into a larger
// loss. See docs/audit.md.
type auditWriter struct {
	store  mcpgate.AuditStore
	logger *slog.Logger
	// wake tells run that the queue went from empty to not empty; full,
	// that a record call waits for room.
	wake, full chan struct{}
	// spare is the slice the next queue is built in; run alone uses it.
	spare []*mcpgate.AuditEvent

	mu sync.Mutex
	// room is signalled when pending falls or limit rises, and on close.
	room    sync.Cond
	queue   []*mcpgate.AuditEvent // recorded, not yet handed to the store
	pending int                   // len(queue) plus the batch being written
	limit   int                   // the cap on pending
	waiting int                   // record calls waiting for room
	arrived int                   // events queued since the last rate sample
	rate    float64               // smoothed events per auditEvery
	closed  bool                  // run has stopped taking events
}

const (
	// auditEvery is the loss bound in time, and the period over which the
	// event rate is measured.
	auditEvery = 100 * time.Millisecond
	// auditGap spaces the writes so that a steady trickle of events costs
	// the store tens of transactions a second, not one per event.
	auditGap = auditEvery / 10
	// auditShare is the part of an auditEvery of events, at the smoothed
	// rate, that may be held in memory: below one, so that the rate
	// running up to a third above its estimate still keeps a crash's
	// loss within one auditEvery. The writer needs far less in normal
	// running (a batch being written, and the one filling meanwhile).
	auditShare = 0.75
	// auditMinPending lets a burst after a quiet spell through while the
	// rate estimate catches up: group commit still stores it at many
	// thousand events a second. auditMaxPending bounds memory whatever
	// the rate.
	auditMinPending = 16
	auditMaxPending = 16384
	// auditSmoothing is the weight of the newest rate sample: about the
	// last second of traffic sets the cap.
	auditSmoothing = 0.25
)

func newAuditWriter(store mcpgate.AuditStore, logger *slog.Logger) *auditWriter {
	a := &auditWriter{
		store:  store,
		logger: logger,
		wake:   make(chan struct{}, 1),
		full:   make(chan struct{}, 1),
		limit:  auditMinPending,
	}
	a.room.L = &a.mu
	return a
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
		slog.String("reason", ev.Reason),
		slog.Int("status", ev.Status),
		slog.Duration("latency", ev.Latency),
		slog.String("remote", ev.Remote),
	)
	a.mu.Lock()
	if a.pending >= a.limit && !a.closed {
		signal(a.full) // write now rather than after auditGap
	}
	for a.pending >= a.limit && !a.closed {
		a.waiting++
		a.room.Wait()
		a.waiting--
	}
	if a.closed {
		// run has flushed, or is flushing, what it took before closing
		// and takes nothing more: write directly.
		a.mu.Unlock()
		a.write([]*mcpgate.AuditEvent{ev})
		return
	}
	a.queue = append(a.queue, ev)
	a.pending++
	a.arrived++
	first := len(a.queue) == 1
	a.mu.Unlock()
	if first {
		signal(a.wake)
	}
}

// signal leaves a wake-up for run on c unless one is already there.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// run writes queued events until ctx ends, then flushes what is left;
// record calls after that write directly.
func (a *auditWriter) run(ctx context.Context) {
	tick := time.NewTicker(auditEvery)
	defer tick.Stop()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	sampled := time.Now()
	var started time.Time // when the last write began
	for {
		select {
		case <-ctx.Done():
			a.mu.Lock()
			a.closed = true
			a.room.Broadcast()
			a.mu.Unlock()
			for a.flush() {
			}
			return
		case now := <-tick.C:
			a.sample(now.Sub(sampled))
			sampled = now
			continue
		case <-a.wake:
		case <-a.full:
		}
		// Group commit: write while events keep arriving, each batch
		// starting at least auditGap after the previous one, or at once
		// when a request waits for room. The rate is still sampled when
		// the store keeps the writer busy for longer than a tick.
		for ctx.Err() == nil {
			if wait := auditGap - time.Since(started); wait > 0 {
				linger.Reset(wait)
				select {
				case <-linger.C:
				case <-a.full:
				case <-ctx.Done():
				}
				linger.Stop()
			}
			started = time.Now()
			if !a.flush() {
				break
			}
			select {
			case now := <-tick.C:
				a.sample(now.Sub(sampled))
				sampled = now
			default:
			}
		}
	}
}

// flush hands everything queued to the store in one call, releasing record
// calls that wait for room once it is stored. It reports whether there was
// anything to write.
func (a *auditWriter) flush() bool {
	a.mu.Lock()
	batch := a.queue
	if len(batch) == 0 {
		a.mu.Unlock()
		return false
	}
	a.queue = a.spare
	a.mu.Unlock()

	a.write(batch)

	clear(batch) // let the events be collected; keep the slice for the next queue
	a.spare = batch[:0]
	a.mu.Lock()
	a.pending -= len(batch)
	if a.waiting > 0 {
		a.room.Broadcast()
	}
	a.mu.Unlock()
	return true
}

// sample folds the events queued over the last elapsed time into the rate
// and sets the cap on pending events from it.
func (a *auditWriter) sample(elapsed time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rate = nextRate(a.rate, a.arrived, elapsed)
	a.arrived = 0
	a.limit = pendingLimit(a.rate)
	if a.waiting > 0 {
		a.room.Broadcast()
	}
}

// nextRate returns the smoothed events per auditEvery after n events were
// queued over elapsed. Events queued are the rate the store sustains while
// requests wait for it, so a store that falls behind lowers the cap instead
// of letting the backlog grow.
func nextRate(rate float64, n int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return rate
	}
	// A burst beyond the ceiling counts as the ceiling, so that the cap
	// falls as soon as the rate does.
	perInterval := min(float64(n)*float64(auditEvery)/float64(elapsed), auditMaxPending/auditShare)
	return rate + auditSmoothing*(perInterval-rate)
}

// pendingLimit is the cap on events in memory for a smoothed rate of events
// per auditEvery: auditShare of them, within auditMinPending and
// auditMaxPending.
func pendingLimit(rate float64) int {
	return min(max(int(rate*auditShare+0.5), auditMinPending), auditMaxPending)
}

func (a *auditWriter) write(events []*mcpgate.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.store.AppendAudit(ctx, events...); err != nil {
		a.logger.Error("audit events not stored", "count", len(events), "err", err)
	}
}

// queued returns how many events are held in memory, not yet stored.
func (a *auditWriter) queued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending
}
