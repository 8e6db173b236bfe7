package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/redact"
)

// AuditCmd shows audit events from the store, newest first, as many as
// --limit: the last screenful, not the whole log.
type AuditCmd struct {
	Limit    int    `help:"Show the newest N events (default 50; 0: all that match)." default:"50" placeholder:"N"`
	Reverse  bool   `help:"Print the events oldest first."`
	Since    string `help:"Only events since then: a duration back from now (1h, 7d) or a time (2026-11-28, 2026-11-28T09:00:00Z)." placeholder:"WHEN"`
	Subject  string `help:"Only events of this subject (who the credential acts as)." placeholder:"SUBJECT"`
	Key      string `help:"Only events of this API key: its id, or the whole key." placeholder:"KEYID"`
	Client   string `help:"Only events of this OAuth client id." placeholder:"CLIENT"`
	Decision string `predictor:"decision" help:"Only events with this decision: allow, deny, unauthenticated, rate_limited, too_large, bad_request or error." placeholder:"DECISION"`
	JSON     bool   `help:"Print JSON, one event per line."`
}

// Run prints the events the flags select.
func (c *AuditCmd) Run(e *env, g *Globals) error {
	if c.Limit < 0 {
		return usagef("--limit must not be negative")
	}
	f := mcpgate.AuditFilter{Subject: c.Subject, ClientID: c.Client, Decision: c.Decision}
	if c.Key != "" {
		f.KeyID = keyIDOf(c.Key)
	}
	if c.Since != "" {
		since, err := parseSince(c.Since, time.Now())
		if err != nil {
			return usagef("--since: %v", err)
		}
		f.Since = since
	}
	if f.Decision != "" && !slices.Contains(mcpgate.Decisions(), f.Decision) {
		msg := fmt.Sprintf("--decision: unknown decision %q", f.Decision)
		if near := didYouMean(f.Decision, mcpgate.Decisions()); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		return usagef("%s (decisions: %s)", msg, strings.Join(mcpgate.Decisions(), ", "))
	}
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	searcher, ok := store.(mcpgate.AuditSearcher)
	if !ok {
		return errors.New("this store cannot search audit events")
	}
	events, err := searcher.SearchAudit(e.ctx, mcpgate.AuditQuery{AuditFilter: f, Limit: c.Limit, Newest: true})
	if err != nil {
		return err
	}
	var older int64
	if c.Limit > 0 && len(events) == c.Limit {
		n, err := searcher.CountAuditMatches(e.ctx, f)
		if err != nil {
			return err
		}
		older = n - int64(len(events))
	}
	if c.Reverse {
		slices.Reverse(events)
	}
	for _, ev := range events {
		// Events stored before targets were masked may still hold one.
		ev.Target = redact.String(ev.Target)
	}
	// The count of older events goes where they would be, on standard
	// error so that standard output stays a table or JSON lines.
	more := func() {
		if older > 0 {
			fmt.Fprintf(e.stderr, "… %s older %s; --limit or --since to see more\n", thousands(older), plural(older, "event", "events"))
		}
	}
	if c.Reverse {
		more()
	} else {
		defer more()
	}
	if len(events) == 0 {
		fmt.Fprintln(e.stderr, "No audit events match.")
		return nil
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
	fmt.Fprintln(tw, "TIME\tSUBJECT\tKEY\tCLIENT\tMETHOD\tTARGET\tDECISION\tREASON\tSTATUS\tLATENCY")
	for _, ev := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", ev.Time.Local().Format("2006-01-02 15:04:05 MST"),
			dash(ev.Subject), dash(ev.KeyID), dash(ev.ClientID), dash(ev.Method), dash(ev.Target), ev.Decision, dash(ev.Reason),
			ev.Status, ev.Latency.Round(time.Microsecond))
	}
	return tw.Flush()
}

// parseSince reads --since: a duration back from now, or a time (RFC
// 3339, or a date or date and time in the local zone).
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := parseDuration(s); err == nil {
		if d == 0 {
			return time.Time{}, fmt.Errorf("%q selects nothing: give a positive duration such as 1h or 7d", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02 15:04", time.DateTime, "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration such as 1h or 7d nor a time such as 2026-11-28 or 2026-11-28T09:00:00Z", s)
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
