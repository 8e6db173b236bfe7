package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/mcpgate/mcpgate/redact"
)

// AuditCmd shows audit events from the store.
type AuditCmd struct {
	Since time.Duration `help:"Show events newer than this." default:"1h"`
	Limit int           `help:"Show at most this many events (0: all)." default:"1000"`
	JSON  bool          `help:"Print JSON, one event per line."`
}

// Run prints the events, oldest first.
func (c *AuditCmd) Run(e *env, g *Globals) error {
	if c.Since <= 0 {
		return usagef("--since must be positive")
	}
	if c.Limit < 0 {
		return usagef("--limit must not be negative")
	}
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	events, err := store.ListAudit(e.ctx, time.Now().Add(-c.Since), c.Limit)
	if err != nil {
		return err
	}
	for _, ev := range events {
		// Events stored before targets were masked may still hold one.
		ev.Target = redact.String(ev.Target)
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		for _, ev := range events {
			if err := enc.Encode(map[string]any{
				"time": ev.Time, "request_id": ev.RequestID, "subject": ev.Subject, "tenant": ev.Tenant,
				"key_id": ev.KeyID, "client_id": ev.ClientID, "method": ev.Method, "target": ev.Target,
				"decision": ev.Decision, "reason": ev.Reason, "status": ev.Status, "latency_ms": float64(ev.Latency.Microseconds()) / 1000,
				"remote": ev.Remote,
			}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSUBJECT\tKEY\tMETHOD\tTARGET\tDECISION\tREASON\tSTATUS\tLATENCY")
	for _, ev := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", ev.Time.Local().Format("2006-01-02 15:04:05"),
			dash(ev.Subject), dash(ev.KeyID), dash(ev.Method), dash(ev.Target), ev.Decision, dash(ev.Reason), ev.Status, ev.Latency.Round(time.Microsecond))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
