// Package admin is mcpgate's admin listener: Prometheus metrics at
// /metrics, liveness at /healthz, readiness at /readyz and, at /, the
// dashboard where an operator signed in with an admin API key sees keys,
// clients, grants and the audit log, and revokes keys and grants. It is
// the only importer of the Prometheus client. Serve it on an address
// operators reach, never on the public listener.
package admin

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/pipeline"
)

// Metrics counts what a gateway does. It implements gateway.Observer; its
// methods cost a few atomic adds per request.
type Metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	authLatency    prometheus.Histogram
	rateLimited    prometheus.Counter
	upstreamErrors *prometheus.CounterVec
	changeLag      prometheus.Histogram
	changes        *prometheus.CounterVec
	auditStored    prometheus.Counter
	auditLost      prometheus.Counter
	auditPending   atomic.Pointer[func() int]
	keyCache       atomic.Pointer[func() int]
	limiterKeys    atomic.Pointer[func() int]
}

// gaugeOf reads f, or 0 until it is set.
func gaugeOf(f *atomic.Pointer[func() int]) func() float64 {
	return func() float64 {
		if g := f.Load(); g != nil {
			return float64((*g)())
		}
		return 0
	}
}

// NewMetrics returns metrics registered on a registry of their own, with
// the Go runtime's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_requests_total", Help: "MCP requests by decision and upstream path.",
	}, []string{"decision", "upstream"})
	m.authLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mcpgate_authentication_seconds", Help: "Time spent authenticating a request's credential.",
		Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
	})
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mcpgate_rate_limited_total", Help: "Requests refused by a rate limit (of a principal, or of an address failing to authenticate).",
	})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_upstream_errors_total", Help: "Admitted requests the MCP server behind answered with a 5xx status.",
	}, []string{"upstream"})
	m.changeLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mcpgate_change_feed_lag_seconds", Help: "Time from a change (a revocation) being written to this replica applying it.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_changes_applied_total", Help: "Change-feed entries applied, by kind.",
	}, []string{"kind"})
	m.auditStored = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mcpgate_audit_events_stored_total", Help: "Audit events written to the store.",
	})
	m.auditLost = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mcpgate_audit_events_dropped_total", Help: "Audit events the store refused (logged, not stored).",
	})
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mcpgate_audit_queue_depth", Help: "Audit events held in memory, not yet stored.",
	}, gaugeOf(&m.auditPending))
	keyCache := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mcpgate_key_cache_entries", Help: "API keys held in the verifier's cache.",
	}, gaugeOf(&m.keyCache))
	limiterKeys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mcpgate_rate_limit_keys", Help: "Keys (principals, addresses) the in-process rate limiter holds state for.",
	}, gaugeOf(&m.limiterKeys))
	m.reg.MustRegister(m.requests, m.authLatency, m.rateLimited, m.upstreamErrors, m.changeLag, m.changes,
		m.auditStored, m.auditLost, pending, keyCache, limiterKeys,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request counts one MCP request. r.Pattern, the route it matched, names
// the upstream, so the label's values are bounded by the configuration.
func (m *Metrics) Request(r *http.Request, o pipeline.Observation) {
	m.requests.WithLabelValues(o.Decision, r.Pattern).Inc()
	if o.AuthLatency > 0 {
		m.authLatency.Observe(o.AuthLatency.Seconds())
	}
	switch {
	case o.Decision == mcpgate.DecisionRateLimited:
		m.rateLimited.Inc()
	case !o.Refused && o.Status >= 500:
		m.upstreamErrors.WithLabelValues(r.Pattern).Inc()
	}
}

// Change records a change-feed entry applied now.
func (m *Metrics) Change(c mcpgate.Change) {
	m.changes.WithLabelValues(c.Kind).Inc()
	if !c.At.IsZero() {
		m.changeLag.Observe(max(time.Since(c.At), 0).Seconds())
	}
}

// AuditWritten counts a batch of audit events handed to the store.
func (m *Metrics) AuditWritten(n int, err error) {
	if err != nil {
		m.auditLost.Add(float64(n))
		return
	}
	m.auditStored.Add(float64(n))
}

// AuditPending sets where the audit queue depth is read from.
func (m *Metrics) AuditPending(f func() int) { m.auditPending.Store(&f) }

// CacheSizes sets where the sizes of the gateway's in-memory state are
// read from: the API keys cached, and the keys of the in-process rate
// limiter. Either may be nil.
func (m *Metrics) CacheSizes(keys, limiter func() int) {
	if keys != nil {
		m.keyCache.Store(&keys)
	}
	if limiter != nil {
		m.limiterKeys.Store(&limiter)
	}
}

// Options configure [Handler].
type Options struct {
	// Metrics served at /metrics; nil serves none.
	Metrics *Metrics
	// Ready reports whether the gateway may take traffic: nil when its
	// store (and Redis, if used) answer and it is not draining. Nil means
	// always ready.
	Ready func(context.Context) error
	// Dashboard, when set, serves every path the others do not (see
	// NewDashboard); nil serves none.
	Dashboard http.Handler
}

// Handler serves /metrics, /healthz (the process is alive: always 200),
// /readyz (200, or 503 with the reason) and the dashboard.
func Handler(opts *Options) http.Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics.reg, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if o.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := o.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + strconv.Quote(err.Error()) + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if o.Dashboard != nil {
		mux.Handle("/", o.Dashboard)
	}
	return mux
}
