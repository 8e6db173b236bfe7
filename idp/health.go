package idp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// health follows whether one identity provider answers, and logs when that
// changes: one warning when it stops answering, one notice when it is back,
// never one line per request.
//
// It is also a circuit breaker for requests made on the request path
// (introspection): after breakAfter failures in a row, calls fail at once
// for breakFor, then one trial call is let through; its outcome closes or
// reopens the circuit. A failing provider therefore costs a refused
// request nothing but the refusal.
type health struct {
	name   string // the issuer or the endpoint, for the log
	logger *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	down      bool
	failures  int       // in a row
	openUntil time.Time // zero: closed
	trial     bool      // a trial call is in flight
}

const (
	breakAfter = 3
	breakFor   = 5 * time.Second
)

func newHealth(name string, logger *slog.Logger, now func() time.Time) *health {
	return &health{name: name, logger: logger, now: now}
}

var errCircuitOpen = errors.New("identity provider failing; not asked until it recovers")

// allow reports whether a call may be made now. A call allowed while the
// circuit is half-open is the trial; its outcome must be reported.
func (h *health) allow() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.openUntil.IsZero() {
		return nil
	}
	if h.now().Before(h.openUntil) || h.trial {
		return errCircuitOpen
	}
	h.trial = true
	return nil
}

// ok records a call that the provider answered.
func (h *health) ok() {
	h.mu.Lock()
	was := h.down
	h.down, h.failures, h.openUntil, h.trial = false, 0, time.Time{}, false
	h.mu.Unlock()
	if was {
		h.logger.LogAttrs(context.Background(), slog.LevelInfo, "identity provider answers again",
			slog.String("idp", h.name))
	}
}

// fail records a call that got no usable answer.
func (h *health) fail(err error) {
	h.mu.Lock()
	was := h.down
	h.down = true
	h.failures++
	h.trial = false
	if h.failures >= breakAfter {
		h.openUntil = h.now().Add(breakFor)
	}
	h.mu.Unlock()
	if !was {
		h.logger.LogAttrs(context.Background(), slog.LevelWarn, "identity provider does not answer; its tokens are refused until it does",
			slog.String("idp", h.name), slog.Any("error", err))
	}
}

// watched is a RoundTripper that reports to h whether the provider
// answered: a transport error or a 5xx is a failure, anything else an
// answer.
type watched struct {
	next http.RoundTripper
	h    *health
}

func (w watched) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(r)
	switch {
	case err != nil:
		if r.Context().Err() == nil || errors.Is(r.Context().Err(), context.DeadlineExceeded) {
			w.h.fail(err)
		}
	case resp.StatusCode >= 500:
		w.h.fail(fmt.Errorf("%s %s: %s", r.Method, r.URL.Redacted(), resp.Status))
	default:
		w.h.ok()
	}
	return resp, err
}

// watchedClient returns a bounded copy of c (see boundedClient) whose
// requests report to h.
func watchedClient(c *http.Client, h *health, timeout time.Duration) *http.Client {
	cc := boundedClient(c, timeout)
	next := cc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cc.Transport = watched{next: next, h: h}
	return cc
}

// boundedClient returns a copy of c whose requests take at most timeout
// and follow no redirect: an identity provider's endpoints answer
// directly, and a redirect could only lead a request (and its client
// credentials) somewhere else.
func boundedClient(c *http.Client, timeout time.Duration) *http.Client {
	cc := *c
	cc.Timeout = timeout
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}
