package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the upstream and the bare proxy, as
// the program re-executes itself for them.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		if role, ok := roles[os.Args[1]]; ok {
			os.Exit(role(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(m.Run())
}

// TestRun builds mcpgate, starts every server and puts a short load on each
// target: every request must get 200 and the upstream's body, through the
// bare proxy, with the API key and with the JWT.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o := &Options{
		Rounds:      2,
		Duration:    300 * time.Millisecond,
		Warmup:      100 * time.Millisecond,
		Connections: 4,
		Targets:     allTargets,
		Progress:    testWriter{t},
	}
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Rounds), o.Rounds; got != want {
		t.Fatalf("%d rounds, want %d", got, want)
	}
	for i, r := range rep.Rounds {
		if got, want := r.Order[0], allTargets[i%len(allTargets)]; got != want {
			t.Errorf("round %d starts with %s, want %s (rotated)", i+1, got, want)
		}
		for _, name := range allTargets {
			res, ok := r.Results[name]
			switch {
			case !ok:
				t.Errorf("round %d: no result for %s", i+1, name)
			case res.Errors > 0:
				t.Errorf("round %d: %s: %d errors, first: %s", i+1, name, res.Errors, res.FirstErr)
			case res.Requests == 0:
				t.Errorf("round %d: %s: no request answered", i+1, name)
			case res.P50 <= 0 || res.P99 < res.P50:
				t.Errorf("round %d: %s: p50 %v, p99 %v", i+1, name, res.P50, res.P99)
			case res.CPU < 0:
				t.Errorf("round %d: %s: no CPU time", i+1, name)
			}
		}
	}
	for _, s := range rep.Summaries() {
		if s.Target == targetBare && s.RPSRatio != 1 {
			t.Errorf("bare ÷ bare = %v, want 1", s.RPSRatio)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
