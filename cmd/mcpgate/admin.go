package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/admin"
	"github.com/mcpgate/mcpgate/gateway"
)

// AdminFlags are serve's operator settings: the admin listener and how
// long the audit log is kept.
type AdminFlags struct {
	AdminListen    string    `name:"admin-listen" help:"Serve /metrics (Prometheus), /healthz and /readyz on this address, for operators only (default: off)." env:"MCPGATE_ADMIN_LISTEN" placeholder:"ADDR"`
	AuditRetention retention `help:"How long audit events and change-feed entries are kept (e.g. 90d, 720h); 0 keeps everything. One replica prunes at a time." env:"MCPGATE_AUDIT_RETENTION" default:"90d" placeholder:"DURATION"`
}

// retention is a duration that also accepts whole days ("90d").
type retention time.Duration

// UnmarshalText reads "90d", a Go duration such as "720h", or "0".
func (r *retention) UnmarshalText(b []byte) error {
	s := string(b)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return fmt.Errorf("retention %q: want a number of days such as 90d, or a duration such as 720h", s)
		}
		*r = retention(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("retention %q: want a number of days such as 90d, or a duration such as 720h", s)
	}
	*r = retention(d)
	return nil
}

// start applies the flags to the gateway's options and, with
// --admin-listen, serves the admin listener until stop. The gateway is
// ready while its store (and the shared limiter, if it can be pinged)
// answer, and no longer once shutdown begins (e.ctx ends on SIGTERM).
func (a *AdminFlags) start(e *env, logger *slog.Logger, store mcpgate.Store, opts *gateway.Options) (stop func(), err error) {
	opts.Retention = time.Duration(a.AuditRetention)
	if a.AdminListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", a.AdminListen)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	metrics := admin.NewMetrics()
	opts.Observer = metrics
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
	srv := &http.Server{
		Handler:           admin.Handler(&admin.Options{Metrics: metrics, Ready: ready}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("admin listening", "addr", ln.Addr().String())
	fmt.Fprintf(e.stdout, "mcpgate admin (metrics, health) on http://%s\n", ln.Addr())
	return func() { _ = srv.Close() }, nil
}
