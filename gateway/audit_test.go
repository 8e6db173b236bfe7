package gateway

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
)

// TestAuditWriterLosesNothing records events before, during and after the
// writer shuts down, from many goroutines: every one reaches the store.
func TestAuditWriterLosesNothing(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := newAuditWriter(store, slog.New(slog.DiscardHandler))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() { a.run(runCtx); close(stopped) }()

	const writers, each = 8, 50
	start := time.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if w == 0 && i == each/2 {
					cancel() // shut down while the others keep recording
				}
				a.record(&mcpgate.AuditEvent{Time: time.Now().UTC(), Method: "ping", Decision: mcpgate.DecisionAllow, Status: 200})
			}
		}()
	}
	wg.Wait()
	<-stopped
	for range 10 {
		a.record(&mcpgate.AuditEvent{Time: time.Now().UTC(), Method: "late", Decision: mcpgate.DecisionAllow, Status: 200})
	}
	got, err := store.ListAudit(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := writers*each + 10; len(got) != want {
		t.Errorf("stored %d audit events, want %d", len(got), want)
	}
}

// fakeAuditStore keeps the batches it is given, in order. With gate set,
// each AppendAudit waits for a value on gate (or for gate to close); delay
// slows every append.
type fakeAuditStore struct {
	gate  chan struct{}
	delay time.Duration

	mu      sync.Mutex
	batches [][]*mcpgate.AuditEvent
}

func (s *fakeAuditStore) AppendAudit(ctx context.Context, events ...*mcpgate.AuditEvent) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, slices.Clone(events)) // the writer reuses its slice
	return nil
}

func (s *fakeAuditStore) ListAudit(context.Context, time.Time, int) ([]*mcpgate.AuditEvent, error) {
	return nil, nil
}

// events returns every stored event, batch after batch.
func (s *fakeAuditStore) events() []*mcpgate.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Concat(s.batches...)
}

// startAuditWriter runs a writer over store until the test ends; the
// returned stop cancels it and waits for run to return.
func startAuditWriter(t *testing.T, store mcpgate.AuditStore) (a *auditWriter, stop func()) {
	t.Helper()
	a = newAuditWriter(store, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { a.run(ctx); close(stopped) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-stopped:
			case <-time.After(10 * time.Second):
				t.Error("the audit writer did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// seqEvent is an event numbered seq by recorder w.
func seqEvent(w, seq int) *mcpgate.AuditEvent {
	return &mcpgate.AuditEvent{Subject: strconv.Itoa(w), Status: seq, Decision: mcpgate.DecisionAllow}
}

// TestAuditWriterBackPressure fills the writer while the store is stuck:
// the event past the cap waits in record, nothing is dropped, and the store
// receives every event in the order it was recorded.
func TestAuditWriterBackPressure(t *testing.T) {
	store := &fakeAuditStore{gate: make(chan struct{})}
	a, stop := startAuditWriter(t, store)

	for i := range auditMinPending {
		a.record(seqEvent(0, i))
	}
	returned := make(chan struct{})
	go func() { a.record(seqEvent(0, auditMinPending)); close(returned) }()
	select {
	case <-returned:
		t.Fatalf("record returned with %d events pending and the store stuck", auditMinPending)
	case <-time.After(3 * auditEvery):
	}
	a.mu.Lock()
	pending, waiting := a.pending, a.waiting
	a.mu.Unlock()
	if pending != auditMinPending || waiting != 1 {
		t.Errorf("pending %d, waiting %d; want %d, 1", pending, waiting, auditMinPending)
	}

	close(store.gate)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("record still waits after the store caught up")
	}
	stop()
	got := store.events()
	if len(got) != auditMinPending+1 {
		t.Fatalf("stored %d events, want %d", len(got), auditMinPending+1)
	}
	for i, ev := range got {
		if ev.Status != i {
			t.Fatalf("event %d stored as number %d: order of arrival lost", ev.Status, i)
		}
	}
}

// TestAuditWriterSlowStore records from many goroutines into a store that
// takes its time: no event is dropped, each recorder's events are stored in
// the order it recorded them, and the events in memory never exceed the cap.
func TestAuditWriterSlowStore(t *testing.T) {
	store := &fakeAuditStore{delay: 20 * time.Millisecond}
	a, stop := startAuditWriter(t, store)

	const recorders, each = 8, 150
	var (
		wg      sync.WaitGroup
		overCap atomic.Int64
	)
	for w := range recorders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a.record(seqEvent(w, i))
			}
		}()
	}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		// The cap may fall below what is already pending; what may
		// never happen is more taken in than the cap allowed.
		highest := 0
		for range 400 {
			a.mu.Lock()
			highest = max(highest, a.limit)
			if a.pending > highest {
				overCap.Add(1)
			}
			done := a.closed
			a.mu.Unlock()
			if done {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	wg.Wait()
	stop()
	<-watched
	if n := overCap.Load(); n > 0 {
		t.Errorf("pending events above the cap %d times", n)
	}
	got := store.events()
	if len(got) != recorders*each {
		t.Fatalf("stored %d events, want %d", len(got), recorders*each)
	}
	next := make([]int, recorders)
	for _, ev := range got {
		w, _ := strconv.Atoi(ev.Subject)
		if ev.Status != next[w] {
			t.Fatalf("recorder %d: event %d stored where %d was due", w, ev.Status, next[w])
		}
		next[w]++
	}
}

// TestAuditWriterShutdownFlushes stops the writer while records wait for a
// stuck store: once the store moves again every event is stored, those
// queued before the stop and those whose record call was waiting.
func TestAuditWriterShutdownFlushes(t *testing.T) {
	store := &fakeAuditStore{gate: make(chan struct{})}
	a, stop := startAuditWriter(t, store)

	const recorders, each = 4, 200
	var wg sync.WaitGroup
	for w := range recorders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a.record(seqEvent(w, i))
			}
		}()
	}
	for range 200 {
		a.mu.Lock()
		full := a.waiting == recorders
		a.mu.Unlock()
		if full {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(auditEvery)
	close(store.gate)
	wg.Wait()
	<-stopped
	if got := len(store.events()); got != recorders*each {
		t.Errorf("stored %d events, want %d", got, recorders*each)
	}
}

// TestAuditPendingLimit feeds the writer rate samples: the cap settles on
// auditShare of one auditEvery of events at the measured rate, within its
// floor and ceiling.
func TestAuditPendingLimit(t *testing.T) {
	a := newAuditWriter(&fakeAuditStore{}, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		name    string
		n       int           // events queued per sample
		elapsed time.Duration // between samples
		want    int
	}{
		{"idle: the floor", 0, auditEvery, auditMinPending},
		{"steady rate", 2000, auditEvery, 1500},
		{"late ticks count per interval", 3000, 2 * auditEvery, 1125},
		{"above the ceiling", 10 * auditMaxPending, auditEvery, auditMaxPending},
		{"rate falls", 700, auditEvery, 525},
		{"below the floor", auditMinPending / 2, auditEvery, auditMinPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 40 {
				a.mu.Lock()
				a.arrived = tc.n
				a.mu.Unlock()
				a.sample(tc.elapsed)
			}
			a.mu.Lock()
			got := a.limit
			a.mu.Unlock()
			if diff := got - tc.want; diff < -1 || diff > 1 {
				t.Errorf("cap %d after a steady %d events per %v, want %d", got, tc.n, tc.elapsed, tc.want)
			}
		})
	}
	t.Run("smoothed", func(t *testing.T) {
		// One sample moves the rate a quarter of the way: a single
		// burst does not set the cap.
		if got, want := nextRate(1000, 5000, auditEvery), 2000.0; got != want {
			t.Errorf("nextRate(1000, 5000, %v) = %v, want %v", auditEvery, got, want)
		}
	})
}

// TestAuditWriterMeasuresRate records at a steady pace in real time: the
// cap ends near auditShare of the events recorded per auditEvery.
func TestAuditWriterMeasuresRate(t *testing.T) {
	a, _ := startAuditWriter(t, &fakeAuditStore{})
	const perTick, every = 100, 10 * time.Millisecond // 1,000 per auditEvery
	start := time.Now()
	n := 0
	for range 150 {
		for range perTick {
			a.record(seqEvent(0, n))
			n++
		}
		time.Sleep(every)
	}
	measured := float64(n) * float64(auditEvery) / float64(time.Since(start)) * auditShare
	a.mu.Lock()
	got := a.limit
	a.mu.Unlock()
	t.Logf("recorded %.0f events per %v (times auditShare); cap %d", measured, auditEvery, got)
	if float64(got) < measured/2 || float64(got) > measured*1.5 {
		t.Errorf("cap %d, want about %.0f", got, measured)
	}
}
