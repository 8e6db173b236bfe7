package alert

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a [Sink]. The zero value is valid: alerts are logged
// and, without a Webhook, go nowhere else.
type Options struct {
	// Logger receives every alert that is raised (not its repeats within
	// the window) and the sink's own warnings. It should redact (see
	// package redact). slog.Default() by default.
	Logger *slog.Logger
	// Webhook, if set, receives every raised alert.
	Webhook *Webhook
	// Window is how long an alert of one kind about one principal
	// suppresses its repeats; 5 minutes by default. The first alert
	// opens the window; the first one after it closes opens the next.
	Window time.Duration
	// QueueSize bounds the alerts waiting for the webhook; 256 by
	// default. When it is full, alerts are dropped (and logged) rather
	// than waited for.
	QueueSize int
	// Workers is the number of deliveries in flight at once; 2 by
	// default.
	Workers int
	// MaxKeys bounds the (kind, principal) pairs remembered for
	// de-duplication; 100,000 by default. Pairs whose window has passed
	// are forgotten; when the table is full of open windows, new alerts
	// are dropped and counted, so that a flood of identities cannot grow
	// memory without bound.
	MaxKeys int
	// DrainTimeout is how long Close lets queued and in-flight deliveries
	// finish before it abandons them; 5s by default.
	DrainTimeout time.Duration
	// Now is the clock of the de-duplication window and of alerts raised
	// without a time; time.Now by default.
	Now func() time.Time
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Window <= 0 {
		d.Window = 5 * time.Minute
	}
	if d.QueueSize <= 0 {
		d.QueueSize = 256
	}
	if d.Workers <= 0 {
		d.Workers = 2
	}
	if d.MaxKeys <= 0 {
		d.MaxKeys = 100_000
	}
	if d.DrainTimeout <= 0 {
		d.DrainTimeout = 5 * time.Second
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// Sink receives alerts from anywhere in mcpgate. Create it with NewSink
// and stop it with Close; it is safe for concurrent use.
type Sink struct {
	opts  Options
	queue chan Alert

	mu        sync.Mutex
	seen      map[seenKey]time.Time // → end of the window it opened
	nextSweep time.Time             // when ended windows are next forgotten
	retryFull time.Time             // while the table is full: when its earliest window ends
	closed    bool

	dropped  atomic.Uint64
	dropping atomic.Bool // whether the last alert offered was dropped

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// seenKey is what de-duplication tells alerts apart by.
type seenKey struct{ kind, principal string }

// NewSink returns a running Sink. opts may be nil.
func NewSink(opts *Options) *Sink {
	o := opts.withDefaults()
	s := &Sink{opts: o, seen: map[seenKey]time.Time{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if o.Webhook != nil {
		s.queue = make(chan Alert, o.QueueSize)
		s.wg.Add(o.Workers)
		for range o.Workers {
			go s.deliver()
		}
	}
	return s
}

// Raise logs a and queues it for the webhook, unless an alert of the same
// kind about the same principal was raised within the window. It never
// blocks on delivery: when the queue is full the alert is logged, dropped
// and counted (see [Sink.Dropped]). Raise after Close only logs.
func (s *Sink) Raise(a Alert) {
	now := s.opts.Now()
	if a.Time.IsZero() {
		a.Time = now
	}
	s.mu.Lock()
	fresh, full := s.open(seenKey{a.Kind, a.Principal}, now)
	if !fresh {
		s.mu.Unlock()
		return
	}
	var dropped string // why a is not delivered
	switch {
	case full:
		dropped = "too many distinct alerts within the window"
	case s.queue == nil || s.closed:
		// Logged only.
	default:
		select {
		case s.queue <- a:
		default:
			dropped = "webhook queue full"
		}
	}
	s.mu.Unlock()

	Log(s.opts.Logger, a)
	switch {
	case dropped != "":
		s.drop(dropped)
	case s.dropping.Load() && s.dropping.CompareAndSwap(true, false):
		s.opts.Logger.Info("alert: delivering alerts again", "dropped_total", s.dropped.Load())
	}
}

// open records the window of key if none is open, reporting whether it
// opened one. full reports that the table had no room: the alert is new
// but cannot be remembered.
func (s *Sink) open(key seenKey, now time.Time) (fresh, full bool) {
	if end, ok := s.seen[key]; ok && now.Before(end) {
		return false, false
	}
	s.sweep(now)
	if len(s.seen) >= s.opts.MaxKeys {
		return true, true
	}
	s.seen[key] = now.Add(s.opts.Window)
	return true, false
}

// sweep forgets windows that have ended. It runs at most once per window,
// or when the table is full and its earliest window has ended, so a full
// table of open windows is not scanned on every alert.
func (s *Sink) sweep(now time.Time) {
	if full := len(s.seen) >= s.opts.MaxKeys; full && now.Before(s.retryFull) || !full && now.Before(s.nextSweep) {
		return
	}
	s.nextSweep = now.Add(s.opts.Window)
	earliest := s.nextSweep
	for k, end := range s.seen {
		if !now.Before(end) {
			delete(s.seen, k)
		} else if end.Before(earliest) {
			earliest = end
		}
	}
	s.retryFull = time.Time{}
	if len(s.seen) >= s.opts.MaxKeys {
		s.retryFull = earliest
	}
}

// drop counts an alert that will not be delivered, and logs when alerts
// start being dropped (once, until one is delivered again).
func (s *Sink) drop(why string) {
	s.dropped.Add(1)
	if s.dropping.CompareAndSwap(false, true) {
		s.opts.Logger.Warn("alert: dropping alerts; they are logged but not delivered", "reason", why)
	}
}

// Dropped returns how many alerts were logged but not handed to the
// webhook since the sink started.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

func (s *Sink) deliver() {
	defer s.wg.Done()
	for a := range s.queue {
		if err := s.opts.Webhook.Send(s.ctx, a); err != nil {
			s.opts.Logger.Warn("alert: webhook delivery failed", "alert", a.Kind, "principal", a.Principal, "err", err)
		}
	}
}

// Close stops accepting alerts for the webhook, gives queued and
// in-flight deliveries DrainTimeout to finish, then abandons the rest.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		if s.queue != nil {
			close(s.queue)
		}
		s.mu.Unlock()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		t := time.NewTimer(s.opts.DrainTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			s.opts.Logger.Warn("alert: shutting down with alerts undelivered", "queued", len(s.queue))
			s.cancel()
			<-done
		}
		s.cancel()
	})
	return nil
}
