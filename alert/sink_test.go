package alert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/alert"
)

var testSecret = []byte("whsec-test-secret")

// delivery is one request a receiver saw.
type delivery struct {
	at     time.Time
	id     string
	header string
	body   []byte
	alert  struct {
		Kind      string         `json:"kind"`
		Time      time.Time      `json:"time"`
		Principal string         `json:"principal"`
		Detail    map[string]any `json:"detail"`
	}
	verifyErr error
}

// receiver is a webhook endpoint on 127.0.0.1 that records deliveries and
// answers with status(n), n counting from 1.
type receiver struct {
	srv    *httptest.Server
	status func(n int) int
	mu     sync.Mutex
	got    []delivery
	n      atomic.Int32
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		d := delivery{at: time.Now(), id: req.Header.Get(alert.DeliveryHeader), header: req.Header.Get(alert.SignatureHeader), body: body}
		d.verifyErr = alert.Verify(testSecret, d.header, body, time.Now(), 0)
		if err := json.Unmarshal(body, &d.alert); err != nil {
			d.verifyErr = errors.Join(d.verifyErr, err)
		}
		if ct := req.Header.Get("Content-Type"); ct != "application/json" {
			d.verifyErr = errors.Join(d.verifyErr, errors.New("Content-Type "+ct))
		}
		r.mu.Lock()
		r.got = append(r.got, d)
		r.mu.Unlock()
		code := http.StatusOK
		if r.status != nil {
			code = r.status(int(r.n.Add(1)))
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func (r *receiver) waitFor(t *testing.T, n int) []delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.deliveries()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d deliveries, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustWebhook(t *testing.T, url string, o *alert.WebhookOptions) *alert.Webhook {
	t.Helper()
	w, err := alert.NewWebhook(url, func() ([]byte, error) { return testSecret, nil }, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestSinkDeduplicatesPerPrincipalKindAndWindow(t *testing.T) {
	rcv := newReceiver(t, nil)
	clock := &fakeClock{now: time.Date(2025, 1, 2, 15, 0, 0, 0, time.UTC)}
	var logs logBuffer
	sink := alert.NewSink(&alert.Options{
		Logger:  logs.logger(),
		Webhook: mustWebhook(t, rcv.srv.URL, nil),
		Window:  5 * time.Minute,
		Now:     clock.Now,
	})
	defer sink.Close()

	raise := func(kind, principal string) {
		sink.Raise(alert.Alert{Kind: kind, Principal: principal, Detail: map[string]any{"client_id": "c1"}})
	}
	raise(alert.KindCodeReuse, "acme/alice")
	clock.Advance(time.Minute)
	raise(alert.KindCodeReuse, "acme/alice") // same principal and kind: a repeat
	raise(alert.KindCodeReuse, "acme/bob")
	raise(alert.KindRefreshReuse, "acme/alice")
	clock.Advance(3*time.Minute + 59*time.Second)
	raise(alert.KindCodeReuse, "acme/alice") // 4m59s after the first: still a repeat
	rcv.waitFor(t, 3)
	clock.Advance(time.Second)
	raise(alert.KindCodeReuse, "acme/alice") // the window has ended
	got := rcv.waitFor(t, 4)
	sink.Close()

	type pk struct{ principal, kind string }
	count := map[pk]int{}
	for _, d := range rcv.deliveries() {
		if d.verifyErr != nil {
			t.Errorf("delivery %s: %v", d.body, d.verifyErr)
		}
		count[pk{d.alert.Principal, d.alert.Kind}]++
	}
	want := map[pk]int{
		{"acme/alice", alert.KindCodeReuse}:    2,
		{"acme/bob", alert.KindCodeReuse}:      1,
		{"acme/alice", alert.KindRefreshReuse}: 1,
	}
	if len(got) != 4 || len(count) != len(want) {
		t.Fatalf("deliveries %v, want %v", count, want)
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%v delivered %d times, want %d", k, count[k], n)
		}
	}
	if n := strings.Count(logs.String(), `msg="security alert"`); n != 4 {
		t.Errorf("%d alerts logged, want 4 (repeats are not logged):\n%s", n, logs.String())
	}
}

func TestWebhookRetriesWithBackoffUntil2xx(t *testing.T) {
	rcv := newReceiver(t, func(n int) int {
		if n < 4 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	const backoff = 40 * time.Millisecond
	w := mustWebhook(t, rcv.srv.URL, &alert.WebhookOptions{Backoff: backoff, MaxBackoff: time.Second})
	if err := w.Send(context.Background(), alert.Alert{Kind: alert.KindRedisFailover, Time: time.Now()}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rcv.deliveries()
	if len(got) != 4 {
		t.Fatalf("%d attempts, want 4 (three 503s, then 204)", len(got))
	}
	for i, d := range got {
		if d.verifyErr != nil {
			t.Errorf("attempt %d: %v", i+1, d.verifyErr)
		}
		if d.id == "" || d.id != got[0].id {
			t.Errorf("attempt %d: delivery id %q, want %q on every attempt", i+1, d.id, got[0].id)
		}
		if !bytes.Equal(d.body, got[0].body) {
			t.Errorf("attempt %d: body changed", i+1)
		}
	}
	// Waits double from backoff, each at least half its nominal length.
	for i := 1; i < len(got); i++ {
		nominal := backoff << (i - 1)
		if gap := got[i].at.Sub(got[i-1].at); gap < nominal/2 {
			t.Errorf("wait before attempt %d: %v, want at least %v", i+1, gap, nominal/2)
		}
	}
}

func TestWebhookGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		wantAttempts int
		wantRejected bool
	}{
		{"server errors: all attempts", http.StatusBadGateway, 3, false},
		{"too many requests: all attempts", http.StatusTooManyRequests, 3, false},
		{"bad request: not retried", http.StatusBadRequest, 1, true},
		{"redirect: not followed", http.StatusFound, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, func(int) int { return tt.status })
			w := mustWebhook(t, rcv.srv.URL, &alert.WebhookOptions{MaxAttempts: 3, Backoff: time.Millisecond})
			err := w.Send(context.Background(), alert.Alert{Kind: alert.KindCodeReuse, Time: time.Now()})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, alert.ErrRejected); got != tt.wantRejected {
				t.Errorf("errors.Is(%v, ErrRejected) = %v, want %v", err, got, tt.wantRejected)
			}
			if n := len(rcv.deliveries()); n != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", n, tt.wantAttempts)
			}
		})
	}
}

func TestWebhookDeadlineStopsRetries(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	w := mustWebhook(t, rcv.srv.URL, &alert.WebhookOptions{
		MaxAttempts: 100, Backoff: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Deadline: 300 * time.Millisecond,
	})
	start := time.Now()
	if err := w.Send(context.Background(), alert.Alert{Kind: alert.KindCodeReuse, Time: start}); err == nil {
		t.Fatal("Send succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v with a 300ms deadline", d)
	}
	if n := len(rcv.deliveries()); n < 2 || n > 13 {
		t.Errorf("%d attempts within a 300ms deadline with 25–50ms waits", n)
	}
}

func TestWebhookAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			select { // hang on the first attempt only
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	defer close(release)
	w := mustWebhook(t, srv.URL, &alert.WebhookOptions{AttemptTimeout: 100 * time.Millisecond, Backoff: time.Millisecond})
	if err := w.Send(context.Background(), alert.Alert{Kind: alert.KindCodeReuse, Time: time.Now()}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d attempts, want 2 (the first timed out)", n)
	}
}

func TestRaiseNeverBlocksAndCountsDrops(t *testing.T) {
	release := make(chan struct{})
	var hung atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	var logs logBuffer
	sink := alert.NewSink(&alert.Options{
		Logger:       logs.logger(),
		Webhook:      mustWebhook(t, srv.URL, &alert.WebhookOptions{MaxAttempts: 1, AttemptTimeout: time.Minute}),
		QueueSize:    2,
		Workers:      1,
		DrainTimeout: 100 * time.Millisecond,
	})
	raise := func(principal string) {
		sink.Raise(alert.Alert{Kind: alert.KindRateLimited, Principal: principal})
	}
	raise("p0")
	for deadline := time.Now().Add(5 * time.Second); hung.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first alert never reached the receiver")
		}
	}
	// The only worker now waits on the hung receiver: two alerts fit in
	// the queue and the other 97 are dropped, without waiting.
	start := time.Now()
	for i := 1; i < 100; i++ {
		raise("p" + string(rune('A'+i%26)) + string(rune('a'+i/26)))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("99 alerts took %v to raise with the receiver hung", d)
	}
	if got := sink.Dropped(); got != 97 {
		t.Errorf("Dropped() = %d, want 97", got)
	}
	if n := strings.Count(logs.String(), "alert: dropping alerts"); n != 1 {
		t.Errorf("the drops were reported %d times, want once:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), `msg="security alert"`); n != 100 {
		t.Errorf("%d alerts logged, want all 100 (dropped ones too)", n)
	}

	close(release)
	for deadline := time.Now().Add(5 * time.Second); hung.Load() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queued alerts not delivered once the receiver answered: %d requests", hung.Load())
		}
	}
	raise("after")
	if n := strings.Count(logs.String(), "alert: delivering alerts again"); n != 1 {
		t.Errorf("recovery reported %d times, want once:\n%s", n, logs.String())
	}

	start = time.Now()
	sink.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestCloseAbandonsHungDeliveries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body, so the server notices when the client hangs up.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	sink := alert.NewSink(&alert.Options{
		Logger:       slog.New(slog.DiscardHandler),
		Webhook:      mustWebhook(t, srv.URL, &alert.WebhookOptions{AttemptTimeout: time.Minute}),
		DrainTimeout: 100 * time.Millisecond,
	})
	sink.Raise(alert.Alert{Kind: alert.KindCodeReuse, Principal: "alice"})
	start := time.Now()
	sink.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a 100ms drain timeout", d)
	}
	sink.Raise(alert.Alert{Kind: alert.KindCodeReuse, Principal: "bob"}) // logged only, no panic
}

func TestSinkBoundsItsMemory(t *testing.T) {
	rcv := newReceiver(t, nil)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	sink := alert.NewSink(&alert.Options{
		Logger:  slog.New(slog.DiscardHandler),
		Webhook: mustWebhook(t, rcv.srv.URL, nil),
		MaxKeys: 2,
		Window:  time.Minute,
		Now:     clock.Now,
	})
	defer sink.Close()
	sink.Raise(alert.Alert{Kind: alert.KindAuthFailures, Principal: "198.51.100.1/32"})
	sink.Raise(alert.Alert{Kind: alert.KindAuthFailures, Principal: "198.51.100.2/32"})
	sink.Raise(alert.Alert{Kind: alert.KindAuthFailures, Principal: "198.51.100.3/32"})
	if got := sink.Dropped(); got != 1 {
		t.Errorf("Dropped() = %d with a full table, want 1", got)
	}
	clock.Advance(time.Minute)
	sink.Raise(alert.Alert{Kind: alert.KindAuthFailures, Principal: "198.51.100.3/32"})
	rcv.waitFor(t, 3)
	if got := sink.Dropped(); got != 1 {
		t.Errorf("Dropped() = %d once the windows ended, want still 1", got)
	}
}

func TestAlertBody(t *testing.T) {
	at := time.Date(2025, 1, 2, 16, 4, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		a    alert.Alert
		want string
	}{
		{"no detail", alert.Alert{Kind: alert.KindRedisFailover, Time: at},
			`{"kind":"redis_failover","time":"2025-01-02T15:04:05Z","principal":"","detail":{}}`},
		{"detail", alert.Alert{Kind: alert.KindCodeReuse, Time: at, Principal: "acme/alice", Detail: map[string]any{"client_id": "c1", "count": 3}},
			`{"kind":"code_reuse","time":"2025-01-02T15:04:05Z","principal":"acme/alice","detail":{"client_id":"c1","count":3}}`},
		{"credentials masked", alert.Alert{Kind: alert.KindRevokedKeyUsed, Time: at, Principal: "bob", Detail: map[string]any{
			"refresh_token": "rt-123", "note": "Bearer abc.def", "key": "mcpg_AbCdEfGhIjKl_" + strings.Repeat("x", 49)}},
			`{"kind":"revoked_key_used","time":"2025-01-02T15:04:05Z","principal":"bob","detail":{"key":"mcpg_AbCdEfGhIjKl_[REDACTED]","note":"Bearer [REDACTED]","refresh_token":"[REDACTED]"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("body\n got %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/mcpgate", true},
		{"https://hooks.example.com/services/T0/B0/xyz?x=1", true},
		{"http://127.0.0.1:9000/hook", true},
		{"http://[::1]:9000/hook", true},
		{"http://localhost:9000/hook", true},
		{"http://hooks.example.com/mcpgate", false},
		{"http://10.0.0.5/hook", false},
		{"https://user:pw@hooks.example.com/", false},
		{"https://hooks.example.com/#frag", false},
		{"ftp://hooks.example.com/", false},
		{"/relative", false},
	}
	for _, tt := range tests {
		_, err := alert.CheckURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
	}
}
