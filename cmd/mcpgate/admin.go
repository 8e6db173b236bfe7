package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/admin"
	"github.com/mcpgate/mcpgate/gateway"
)

// AdminFlags are serve's operator settings: the admin listener and how
// long the audit log is kept.
type AdminFlags struct {
	AdminListen    string        `name:"admin-listen" help:"Serve the admin dashboard (sign in with a key of scope mcpgate:admin), /metrics (Prometheus), /healthz and /readyz on this address, for operators only (default: off)." env:"MCPGATE_ADMIN_LISTEN" placeholder:"ADDR"`
	AuditRetention time.Duration `help:"How long audit events and change-feed entries are kept (e.g. 90d, 720h); 0 keeps everything. One replica prunes at a time." env:"MCPGATE_AUDIT_RETENTION" default:"90d" placeholder:"DURATION"`
}

// adminListener is the admin listener between start, which listens and
// has the gateway report to its metrics, and serve, which serves it once
// the gateway exists.
type adminListener struct {
	e       *env
	logger  *slog.Logger
	store   mcpgate.Store
	opts    *gateway.Options
	ln      net.Listener
	metrics *admin.Metrics
	srv     *http.Server
}

// start applies the flags to the gateway's options and, with
// --admin-listen, listens there. Call serve once the gateway is built,
// and stop at the end.
func (a *AdminFlags) start(e *env, logger *slog.Logger, store mcpgate.Store, opts *gateway.Options) (*adminListener, error) {
	opts.Retention = a.AuditRetention
	if a.AdminListen == "" {
		return &adminListener{}, nil
	}
	ln, err := net.Listen("tcp", a.AdminListen)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	metrics := admin.NewMetrics()
	opts.Observer = metrics
	return &adminListener{e: e, logger: logger, store: store, opts: opts, ln: ln, metrics: metrics}, nil
}

// serve serves metrics, health, readiness and the dashboard until stop.
// The gateway is ready while its store (and the shared limiter, if it can
// be pinged) answer, and no longer once shutdown begins (e.ctx ends on
// SIGTERM). The dashboard signs in with the gateway's own key verifier
// and needs a store with the overview reads (SQLite and Postgres have
// them).
func (l *adminListener) serve(gw *gateway.Gateway) error {
	if l.ln == nil {
		return nil
	}
	e, store, opts := l.e, l.store, l.opts
	pinger, _ := opts.Limiter.(interface{ Ping(context.Context) error })
	ready := func(ctx context.Context) error {
		if e.ctx.Err() != nil {
			return errors.New("shutting down")
		}
		if _, err := store.LastChange(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if pinger != nil {
			if err := pinger.Ping(ctx); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
		}
		return nil
	}
	var limiterLen func() int
	if c, ok := opts.Limiter.(interface{ Len() int }); ok {
		limiterLen = c.Len
	}
	l.metrics.CacheSizes(gw.KeyVerifier().Len, limiterLen)
	aopts := &admin.Options{Metrics: l.metrics, Ready: ready}
	if ds, ok := store.(admin.Store); ok {
		dash, err := admin.NewDashboard(ds, gw.KeyVerifier(), &admin.DashboardOptions{Logger: l.logger, Limiter: opts.Limiter})
		if err != nil {
			return err
		}
		aopts.Dashboard = dash.Handler()
	}
	l.srv = &http.Server{
		Handler:           admin.Handler(aopts),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(l.logger.Handler(), slog.LevelWarn),
	}
	go func() { _ = l.srv.Serve(l.ln) }()
	l.logger.Info("admin listening", "addr", l.ln.Addr().String())
	fmt.Fprintf(e.stdout, "mcpgate admin (dashboard, metrics, health) on http://%s\n", l.ln.Addr())
	return nil
}

// stop closes the admin listener.
func (l *adminListener) stop() {
	switch {
	case l.srv != nil:
		_ = l.srv.Close()
	case l.ln != nil:
		_ = l.ln.Close()
	}
}
