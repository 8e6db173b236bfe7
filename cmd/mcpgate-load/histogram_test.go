package main

import (
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	var h histogram
	if got := h.quantile(0.5); got != 0 {
		t.Errorf("empty: p50 %v, want 0", got)
	}
	for i := 1; i <= 1000; i++ { // 1µs … 1ms
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Microsecond},
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{1, time.Millisecond},
	} {
		got := h.quantile(tt.q)
		if d := got - tt.want; d < -tt.want/histSub || d > tt.want/histSub {
			t.Errorf("q%v = %v, want %v ± 1/%d", tt.q, got, tt.want, histSub)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, d := range []time.Duration{0, 1, 127, 128, 129, 255, 256, time.Microsecond, time.Millisecond, time.Second, time.Hour, 1 << 62} {
		i := bucketOf(d)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucketOf(%v) = %d after %d", d, i, prev)
		}
		prev = i
		if d < 1<<40 {
			if v := bucketValue(i); v-d > d/histSub+1 || d-v > d/histSub+1 {
				t.Errorf("bucketValue(bucketOf(%v)) = %v", d, v)
			}
		}
	}
}

func TestSummariesRatioWithinRound(t *testing.T) {
	res := func(rps int64, p99 time.Duration, cpu time.Duration) Result {
		return Result{Requests: rps, Elapsed: time.Second, P50: p99 / 2, P99: p99, CPU: cpu * time.Duration(rps)}
	}
	// The machine is twice as fast in round 2; the ratio stays 0.5.
	rep := &Report{Rounds: []Round{
		{Order: []string{"bare", "apikey"}, Results: map[string]Result{
			"bare": res(1000, 2*time.Millisecond, 50*time.Microsecond), "apikey": res(500, 3*time.Millisecond, 100*time.Microsecond)}},
		{Order: []string{"apikey", "bare"}, Results: map[string]Result{
			"bare": res(2000, time.Millisecond, 25*time.Microsecond), "apikey": res(1000, 2*time.Millisecond, 50*time.Microsecond)}},
	}}
	sums := rep.Summaries()
	if len(sums) != 2 || sums[1].Target != "apikey" {
		t.Fatalf("summaries %+v", sums)
	}
	s := sums[1]
	if s.RPSRatio != 0.5 || s.CPURatio != 2 || s.P99Extra != time.Millisecond || s.RPS != 750 {
		t.Errorf("apikey: ratio %v, CPU ratio %v, p99 extra %v, req/s %v; want 0.5, 2, 1ms, 750", s.RPSRatio, s.CPURatio, s.P99Extra, s.RPS)
	}
}
