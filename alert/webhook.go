package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WebhookOptions configure a [Webhook]. The zero value is valid.
type WebhookOptions struct {
	// MaxAttempts bounds the attempts to deliver one alert; 5 by default.
	MaxAttempts int
	// Backoff is the wait before the first retry; each later retry waits
	// twice as long, up to MaxBackoff, each wait drawn at random between
	// half and all of it so that replicas do not retry in step. 1s and 30s
	// by default. A Retry-After from the receiver lengthens a wait, up to
	// MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt, from dialing to the response
	// headers; 10s by default.
	AttemptTimeout time.Duration
	// Deadline bounds all attempts at one alert together; 2 minutes by
	// default. No retry starts that could not begin before it.
	Deadline time.Duration
	// Client sends the requests. By default a client that uses no proxy
	// (a proxy from the environment would see every alert and hide where
	// it goes) and follows no redirect (an alert goes to the configured
	// URL or nowhere).
	Client *http.Client
	// Logger receives a debug line per failed attempt; slog.Default() by
	// default. The URL is never logged, as webhook URLs often carry a
	// token in their path.
	Logger *slog.Logger
	// Now is the clock of signature timestamps; time.Now by default.
	Now func() time.Time
}

func (o *WebhookOptions) withDefaults() WebhookOptions {
	var d WebhookOptions
	if o != nil {
		d = *o
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 5
	}
	if d.Backoff <= 0 {
		d.Backoff = time.Second
	}
	if d.MaxBackoff <= 0 {
		d.MaxBackoff = 30 * time.Second
	}
	if d.MaxBackoff < d.Backoff {
		d.MaxBackoff = d.Backoff
	}
	if d.AttemptTimeout <= 0 {
		d.AttemptTimeout = 10 * time.Second
	}
	if d.Deadline <= 0 {
		d.Deadline = 2 * time.Minute
	}
	if d.Client == nil {
		d.Client = newClient(d.AttemptTimeout)
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

func newClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConns:          4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Webhook delivers alerts to one URL, signed with a shared secret. It is
// safe for concurrent use.
type Webhook struct {
	url    string
	host   string // what logs may show of url
	secret func() ([]byte, error)
	opts   WebhookOptions
}

// NewWebhook returns a Webhook that POSTs to rawURL, which must be https,
// or http on a loopback address (tests, or a relay on the same host).
// secret is called before every attempt, so that a secret rotated on disk
// is used from the next attempt on (see package secret); if it returns an
// error together with a non-empty value, the value is used. opts may be
// nil.
func NewWebhook(rawURL string, secret func() ([]byte, error), opts *WebhookOptions) (*Webhook, error) {
	u, err := CheckURL(rawURL)
	if err != nil {
		return nil, err
	}
	if secret == nil {
		return nil, errors.New("alert: a webhook needs a secret")
	}
	return &Webhook{url: u.String(), host: u.Host, secret: secret, opts: opts.withDefaults()}, nil
}

// CheckURL checks a webhook URL: absolute, without user info or fragment,
// https, or plain http only on a loopback address.
func CheckURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("alert webhook: %w", err)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, errors.New("alert webhook: must be an absolute URL without user info or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return nil, errors.New("alert webhook: must be https (plain http only on a loopback address)")
		}
	default:
		return nil, errors.New("alert webhook: must be https")
	}
	return u, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrRejected means the receiver answered with a status that retrying
// will not change (a 3xx or a 4xx other than 408, 425 and 429).
var ErrRejected = errors.New("alert: webhook rejected the alert")

// Send delivers a, retrying with backoff until the receiver answers 2xx,
// the attempts or the deadline run out, or ctx ends. It returns nil once a
// 2xx arrives; otherwise the last attempt's error, which matches
// [ErrRejected] if the receiver refused the alert for good. Every attempt
// carries a fresh signature timestamp and the same [DeliveryHeader].
func (w *Webhook) Send(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("alert: encode: %w", err)
	}
	id := deliveryID()
	ctx, cancel := context.WithTimeout(ctx, w.opts.Deadline)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var last error
	for attempt := 1; ; attempt++ {
		retryAfter, err := w.attempt(ctx, id, body)
		if err == nil {
			return nil
		}
		last = err
		w.opts.Logger.Debug("alert: webhook attempt failed", "alert", a.Kind, "host", w.host, "attempt", attempt, "err", err)
		if errors.Is(err, ErrRejected) || attempt >= w.opts.MaxAttempts {
			return last
		}
		wait := w.backoff(attempt, retryAfter)
		if time.Until(deadline) < wait {
			return fmt.Errorf("%w (no time left for attempt %d)", last, attempt+1)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%v)", last, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// backoff is the wait after the given failed attempt: Backoff doubled per
// attempt, capped at MaxBackoff, with full jitter in its upper half, and
// at least retryAfter (itself capped).
func (w *Webhook) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := w.opts.Backoff
	for i := 1; i < attempt && d < w.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.opts.MaxBackoff)
	d = d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
	return max(d, min(retryAfter, w.opts.MaxBackoff))
}

// attempt makes one POST. It returns the receiver's Retry-After, if any,
// with the error.
func (w *Webhook) attempt(ctx context.Context, id string, body []byte) (time.Duration, error) {
	secret, err := w.secret()
	if len(secret) == 0 {
		if err == nil {
			err = errors.New("empty")
		}
		return 0, fmt.Errorf("alert: webhook secret: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mcpgate-alerts")
	req.Header.Set(DeliveryHeader, id)
	req.Header.Set(SignatureHeader, Sign(secret, w.opts.Now(), body))
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		// The error of Do names the URL; keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	// Read a little of the body so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return 0, nil
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests, s >= 500:
		return parseRetryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("webhook answered %d", s)
	default:
		return 0, fmt.Errorf("%w: status %d", ErrRejected, s)
	}
}

func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}

func deliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
