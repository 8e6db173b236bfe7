package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/sqlite"
)

// TestAuditTail: audit shows the newest events first, as many as --limit,
// says how many older ones it left out, prints CLIENT and REASON and times
// with their zone, and filters by subject, key (id or whole key), client,
// decision and --since in any duration or time syntax; an unknown decision
// is a usage error with a suggestion.
func TestAuditTail(t *testing.T) {
	zone := time.FixedZone("XST", 5*3600+1800)
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = zone

	data := filepath.Join(t.TempDir(), "data")
	db, err := sqlite.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	// 130 events a minute apart, the newest a minute ago: subjects take
	// turns, every fifth is a deny of client c1.
	wholeKey, keyB, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var events []*mcpgate.AuditEvent
	for i := range 130 {
		e := &mcpgate.AuditEvent{Time: now.Add(-time.Duration(130-i) * time.Minute), RequestID: fmt.Sprintf("r%03d", i),
			Subject: []string{"alice", "bob"}[i%2], KeyID: []string{"AAAAAAAAAAAA", keyB}[i%2],
			Method: "tools/call", Target: "search_docs", Decision: mcpgate.DecisionAllow, Status: 200, Latency: time.Millisecond}
		if i%5 == 0 {
			e.ClientID, e.KeyID, e.Decision, e.Reason, e.Status = "c1", "", mcpgate.DecisionDeny, mcpgate.ReasonInsufficientScope, 403
		}
		events = append(events, e)
	}
	if err := db.AppendAudit(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	db.Close()
	audit := func(args ...string) cliResult {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"--data", data, "audit"}, args...), strings.NewReader(""), &out, &errb)
		return cliResult{out.String(), errb.String(), code}
	}
	// ids reads the request ids of --json output, in order.
	ids := func(res cliResult) []string {
		t.Helper()
		var got []string
		for line := range strings.SplitSeq(strings.TrimSpace(res.stdout), "\n") {
			if line == "" {
				continue
			}
			var ev struct {
				RequestID string `json:"request_id"`
				Subject   string `json:"subject"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("audit --json line %q: %v", line, err)
			}
			got = append(got, ev.RequestID)
		}
		return got
	}

	res := audit()
	rows := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if res.code != 0 || len(rows) != 51 {
		t.Fatalf("audit: exit %d, %d lines, want a header and the 50 newest:\n%s%s", res.code, len(rows), res.stdout, res.stderr)
	}
	if !regexp.MustCompile(`^TIME +SUBJECT +KEY +CLIENT +METHOD +TARGET +DECISION +REASON +STATUS +LATENCY$`).MatchString(rows[0]) {
		t.Errorf("header %q", rows[0])
	}
	newest := events[129].Time.In(zone).Format("2006-01-02 15:04:05") + " XST"
	if !strings.HasPrefix(rows[1], newest) || !strings.Contains(rows[1], "bob") {
		t.Errorf("first row %q, want the newest event, at %s", rows[1], newest)
	}
	if !strings.Contains(rows[1+4], "c1") || !strings.Contains(rows[1+4], "insufficient_scope") || !strings.Contains(rows[1+4], "deny") {
		t.Errorf("row of r125 %q should show its client and reason", rows[1+4])
	}
	if !strings.Contains(res.stderr, "… 80 older events; --limit or --since to see more") {
		t.Errorf("audit should say 80 events are older:\n%s", res.stderr)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string // request ids, in order
		more string   // the line about older events, "" for none
	}{
		{"limit", []string{"--limit", "3"}, []string{"r129", "r128", "r127"}, "… 127 older events"},
		{"reverse", []string{"--limit", "3", "--reverse"}, []string{"r127", "r128", "r129"}, "… 127 older events"},
		{"all", []string{"--limit", "0", "--subject", "nobody"}, nil, ""},
		{"subject", []string{"--subject", "bob", "--limit", "2"}, []string{"r129", "r127"}, "… 63 older events"},
		{"key id", []string{"--key", keyB, "--limit", "2"}, []string{"r129", "r127"}, "… 50 older events"},
		{"whole key", []string{"--key", wholeKey, "--limit", "1"}, []string{"r129"}, "… 51 older events"},
		{"client", []string{"--client", "c1", "--limit", "2"}, []string{"r125", "r120"}, "… 24 older events"},
		{"decision", []string{"--decision", "deny", "--since", "12m"}, []string{"r125", "r120"}, ""},
		{"since 7d", []string{"--since", "7d", "--limit", "0"}, nil, ""},
		{"since a time", []string{"--since", events[127].Time.Add(-time.Second).Format(time.RFC3339)}, []string{"r129", "r128", "r127"}, ""},
		{"one older", []string{"--subject", "alice", "--client", "c1", "--limit", "12"}, nil, "… 1 older event;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := audit(append(tc.args, "--json")...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			got := ids(res)
			switch {
			case tc.name == "since 7d":
				if len(got) != 130 || got[0] != "r129" || got[129] != "r000" {
					t.Errorf("got %d events from %v to %v, want all 130 newest first", len(got), got[:1], got[len(got)-1:])
				}
			case tc.name == "one older":
				if len(got) != 12 {
					t.Errorf("got %d events, want 12", len(got))
				}
			case strings.Join(got, " ") != strings.Join(tc.want, " "):
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if tc.more == "" && strings.Contains(res.stderr, "older") || tc.more != "" && !strings.Contains(res.stderr, tc.more) {
				t.Errorf("stderr %q, want %q", res.stderr, tc.more)
			}
		})
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--decision", "denny"}, `--decision: unknown decision "denny"; did you mean "deny"?`},
		{[]string{"--decision", "refused"}, "decisions: allow, deny, unauthenticated, rate_limited, too_large, bad_request, error"},
		{[]string{"--since", "yesterday"}, `--since: "yesterday" is neither a duration such as 1h or 7d nor a time`},
		{[]string{"--since", "-1h"}, "--since"},
		{[]string{"--since", "0"}, "--since"},
		{[]string{"--limit", "-1"}, "--limit"},
	} {
		if res := audit(tc.args...); res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("audit %v: exit %d, want %d and %q:\n%s", tc.args, res.code, exitUsage, tc.want, res.stderr)
		}
	}
}
