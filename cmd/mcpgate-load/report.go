package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// The target the issue sets for mcpgate with a credential, against the bare
// proxy in the same round.
const (
	wantRPSRatio = 1.0
	wantP99Extra = time.Millisecond
	wantCPURatio = 1.0
)

// Summary is one target over all rounds: medians, and each ratio or
// difference to the bare proxy taken within a round before the median,
// since the machine's speed drifts between rounds. NaN where the bare
// proxy or CPU times were not measured.
type Summary struct {
	Target     string
	RPS        float64
	RPSRatio   float64
	P50, P99   time.Duration
	P99Extra   time.Duration // over the bare proxy's p99
	CPU        time.Duration // per request; negative if unknown
	CPURatio   float64
	Errors     int64
	HaveBare   bool
	RoundCount int
}

// Summaries returns one Summary per target, in the order of round 1.
func (rep *Report) Summaries() []Summary {
	if len(rep.Rounds) == 0 {
		return nil
	}
	var out []Summary
	for _, name := range rep.Rounds[0].Order {
		s := Summary{Target: name, RoundCount: len(rep.Rounds)}
		var rps, rpsRatio, p50, p99, p99Extra, cpu, cpuRatio []float64
		for _, r := range rep.Rounds {
			res := r.Results[name]
			s.Errors += res.Errors
			rps = append(rps, res.RPS())
			p50 = append(p50, float64(res.P50))
			p99 = append(p99, float64(res.P99))
			cpu = append(cpu, float64(res.CPUPerRequest()))
			bare, ok := r.Results[targetBare]
			if !ok {
				continue
			}
			s.HaveBare = true
			rpsRatio = append(rpsRatio, res.RPS()/bare.RPS())
			p99Extra = append(p99Extra, float64(res.P99-bare.P99))
			if res.CPUPerRequest() >= 0 && bare.CPUPerRequest() > 0 {
				cpuRatio = append(cpuRatio, float64(res.CPUPerRequest())/float64(bare.CPUPerRequest()))
			}
		}
		s.RPS, s.RPSRatio = median(rps), median(rpsRatio)
		s.P50, s.P99, s.P99Extra = time.Duration(median(p50)), time.Duration(median(p99)), time.Duration(median(p99Extra))
		s.CPU, s.CPURatio = time.Duration(median(cpu)), median(cpuRatio)
		if slices.Contains(cpu, -1) {
			s.CPU, s.CPURatio = -1, math.NaN()
		}
		out = append(out, s)
	}
	return out
}

// median of xs; NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (rep *Report) errors() int64 {
	var n int64
	for _, r := range rep.Rounds {
		for _, res := range r.Results {
			n += res.Errors
		}
	}
	return n
}

func (rep *Report) firstError() string {
	for _, r := range rep.Rounds {
		for _, name := range r.Order {
			if e := r.Results[name].FirstErr; e != "" {
				return name + ": " + e
			}
		}
	}
	return ""
}

// print writes the summary table, whether each mcpgate target meets the
// target, and with verbose every round's numbers.
func (rep *Report) print(w io.Writer, verbose bool) {
	o := rep.Options
	fmt.Fprintf(w, "%d rounds × %v (warm-up %v), %d connections; medians over rounds, ratios to bare within a round\n\n",
		len(rep.Rounds), o.Duration, o.Warmup, o.Connections)
	const row = "%-13s %8s %6s %8s %8s %9s %11s %6s %7s\n"
	fmt.Fprintf(w, row, "target", "req/s", "×bare", "p50", "p99", "p99−bare", "CPU µs/req", "×bare", "errors")
	sums := rep.Summaries()
	for _, s := range sums {
		fmt.Fprintf(w, row, s.Target, fmt.Sprintf("%.0f", s.RPS), ratio(s.RPSRatio), ms(s.P50), ms(s.P99),
			signedMS(s.P99Extra, s.HaveBare), micros(s.CPU), ratio(s.CPURatio), fmt.Sprint(s.Errors))
	}

	var checks []string
	for _, s := range sums {
		if s.Target == targetBare || !s.HaveBare {
			continue
		}
		checks = append(checks, fmt.Sprintf("  %-13s req/s %s %s, p99 %s %s, CPU/req %s %s", s.Target,
			ratio(s.RPSRatio), verdict(s.RPSRatio >= wantRPSRatio),
			signedMS(s.P99Extra, true), verdict(s.P99Extra <= wantP99Extra),
			ratio(s.CPURatio), verdict(s.CPURatio <= wantCPURatio)))
	}
	if len(checks) > 0 {
		fmt.Fprintf(w, "\ntarget: req/s ≥ %.2f× bare, p99 ≤ bare + %v, CPU per request ≤ %.2f× bare\n%s\n",
			wantRPSRatio, wantP99Extra, wantCPURatio, strings.Join(checks, "\n"))
	}

	if !verbose {
		return
	}
	for i, r := range rep.Rounds {
		fmt.Fprintf(w, "\nround %d (%s)\n", i+1, strings.Join(r.Order, ", "))
		const row = "  %-13s %8s %8s %8s %11s %14s %7s\n"
		fmt.Fprintf(w, row, "target", "req/s", "p50", "p99", "CPU µs/req", "client µs/req", "errors")
		for _, name := range r.Order {
			res := r.Results[name]
			client := time.Duration(-1)
			if res.Requests > 0 {
				client = res.LoadCPU / time.Duration(res.Requests)
			}
			fmt.Fprintf(w, row, name, fmt.Sprintf("%.0f", res.RPS()), ms(res.P50), ms(res.P99),
				micros(res.CPUPerRequest()), micros(client), fmt.Sprint(res.Errors))
		}
	}
}

func ratio(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func signedMS(d time.Duration, known bool) string {
	if !known {
		return "-"
	}
	return fmt.Sprintf("%+.2fms", float64(d)/float64(time.Millisecond))
}

func micros(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond))
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}
