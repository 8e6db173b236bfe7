package admin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mcpgate/mcpgate"
)

// chartRange is a span of time the charts cover, in bars of Step.
type chartRange struct {
	Name  string // the ?range= value
	Label string
	Span  time.Duration
	Step  time.Duration
}

var chartRanges = []chartRange{
	{"1h", "Last hour", time.Hour, 2 * time.Minute},
	{"24h", "Last 24 hours", 24 * time.Hour, 30 * time.Minute},
	{"7d", "Last 7 days", 7 * 24 * time.Hour, 6 * time.Hour},
}

// findRange returns the range named name, or the 24-hour one.
func findRange(name string) chartRange {
	for _, r := range chartRanges {
		if r.Name == name {
			return r
		}
	}
	return chartRanges[1]
}

// chart is one server-rendered SVG bar chart of a series of audit counts.
type chart struct {
	ID, Title, Class string
	Total, Max       int64
	Bars             []bar
	Width            int // of the SVG's view box; its height is chartHeight
	From, To         string
}

type bar struct {
	X, Y, W, H float64
	Title      string // shown on hover: interval and count
}

const (
	chartHeight = 100
	barSlot     = 10
	barWidth    = 8
)

// series are the charts: which decisions each counts.
var series = []struct {
	id, title, class string
	decisions        []string // nil: every decision
}{
	{"requests", "Requests", "all", nil},
	{"denials", "Denied", "denied", []string{mcpgate.DecisionDeny, mcpgate.DecisionUnauthenticated,
		mcpgate.DecisionTooLarge, mcpgate.DecisionBadRequest}},
	{"rate-limited", "Rate limited", "limited", []string{mcpgate.DecisionRateLimited}},
}

// charts counts the audit events of the range ending now, in intervals
// aligned to the step so that a bar keeps its place between reloads.
func (d *Dashboard) charts(ctx context.Context, rg chartRange, now time.Time) ([]*chart, error) {
	n := int(rg.Span / rg.Step)
	since := now.Truncate(rg.Step).Add(-time.Duration(n-1) * rg.Step)
	counts, err := d.store.CountAudit(ctx, since, now.Add(time.Nanosecond), rg.Step)
	if err != nil {
		return nil, err
	}
	var charts []*chart
	for _, s := range series {
		values := make([]int64, n)
		for _, c := range counts {
			i := int(c.Start.Sub(since) / rg.Step)
			if i < 0 || i >= n || (s.decisions != nil && !slices.Contains(s.decisions, c.Decision)) {
				continue
			}
			values[i] += c.Count
		}
		charts = append(charts, newChart(s.id, s.title, s.class, since, rg.Step, values))
	}
	return charts, nil
}

func newChart(id, title, class string, since time.Time, step time.Duration, values []int64) *chart {
	c := &chart{ID: id, Title: title, Class: class, Width: len(values) * barSlot,
		From: label(since, step*time.Duration(len(values))), To: "now"}
	for _, v := range values {
		c.Total += v
		c.Max = max(c.Max, v)
	}
	for i, v := range values {
		if v == 0 {
			continue
		}
		h := float64(v) / float64(c.Max) * chartHeight
		h = max(h, 1.5) // a bar of one event among thousands stays visible
		start := since.Add(time.Duration(i) * step)
		c.Bars = append(c.Bars, bar{
			X: float64(i*barSlot + (barSlot-barWidth)/2), Y: chartHeight - h, W: barWidth, H: h,
			Title: fmt.Sprintf("%s – %s UTC: %s", start.UTC().Format("2 Jan 15:04"),
				start.Add(step).UTC().Format("15:04"), thousands(v)),
		})
	}
	return c
}

// label is how the axis shows the start of a chart spanning span: with
// the day when it is not within the last few hours.
func label(t time.Time, span time.Duration) string {
	if span > 12*time.Hour {
		return t.UTC().Format("2 Jan 15:04 UTC")
	}
	return t.UTC().Format("15:04 UTC")
}

// thousands formats n with thin separators: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
