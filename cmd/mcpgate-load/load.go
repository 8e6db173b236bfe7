package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// The targets: the bare proxy, mcpgate with each kind of credential and
// rate limits off, and mcpgate with an API key and rate limits on (a limit
// no request reaches, so the run measures what checking it costs).
const (
	targetBare    = "bare"
	targetAPIKey  = "apikey"
	targetJWT     = "jwt"
	targetLimited = "apikey-limits"
)

var allTargets = []string{targetBare, targetAPIKey, targetJWT, targetLimited}

// Rate limits of the two mcpgate processes; -serve-args come after and can
// change them.
var (
	limitsOff = []string{"--rate-limit", "off"}
	limitsOn  = []string{"--rate-limit", "50000000/1m"}
)

// Options configure a run. Run fills in what validate allows to be zero.
type Options struct {
	Rounds      int           // each round runs every target once
	Duration    time.Duration // measured per target per round
	Warmup      time.Duration // unmeasured load before each measurement
	Connections int
	Binary      string   // mcpgate binary; empty builds one
	ServeArgs   []string // extra arguments for mcpgate serve
	Targets     []string // a subset of allTargets, in this order in round 1
	Keep        bool     // keep the work directory and say where it is
	Progress    io.Writer
}

func (o *Options) validate() error {
	switch {
	case o.Rounds < 1 || o.Rounds > 100:
		return errors.New("-rounds must be between 1 and 100")
	case o.Duration < 100*time.Millisecond || o.Duration > 10*time.Minute:
		return errors.New("-duration must be between 100ms and 10m")
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return errors.New("-warmup must be between 0 and 1m")
	case o.Connections < 1 || o.Connections > 1024:
		return errors.New("-connections must be between 1 and 1024")
	}
	for i, t := range o.Targets {
		if !slices.Contains(allTargets, t) {
			return fmt.Errorf("-targets: unknown target %q (known: %s)", t, strings.Join(allTargets, ", "))
		}
		if slices.Contains(o.Targets[:i], t) {
			return fmt.Errorf("-targets: %q twice", t)
		}
	}
	if len(o.Targets) == 0 {
		return errors.New("-targets: none")
	}
	return nil
}

// Report is what a run measured, round by round.
type Report struct {
	Options Options
	Rounds  []Round
}

// Round is one pass over the targets.
type Round struct {
	Order   []string
	Results map[string]Result
}

// Result is one target's measurement in one round.
type Result struct {
	Requests int64         // answered with 200 and the expected body
	Errors   int64         // failed, warm-up included
	FirstErr string        // the first failure, if any
	Elapsed  time.Duration // of the measurement
	P50, P99 time.Duration
	CPU      time.Duration // of the server process during the measurement; negative if unknown
	LoadCPU  time.Duration // of the load client during the measurement
}

// RPS is requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// CPUPerRequest is the server's CPU time per request, negative if unknown.
func (r Result) CPUPerRequest() time.Duration {
	if r.CPU < 0 || r.Requests == 0 {
		return -1
	}
	return r.CPU / time.Duration(r.Requests)
}

// target is a server under test and the request it gets.
type target struct {
	name   string
	server *server
	// request builds this round's request; the JWT target gets a fresh
	// token each round, so none expires during a long run.
	request func(ctx context.Context) (request, error)
}

// Run starts the upstream, the bare proxy and mcpgate, runs the rounds and
// stops every process it started before it returns, also when ctx ends.
// The report holds the rounds that completed, also on error.
func Run(ctx context.Context, o *Options) (rep *Report, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	dir, err := os.MkdirTemp("", "mcpgate-load")
	if err != nil {
		return nil, err
	}
	defer func() {
		if o.Keep || (err != nil && ctx.Err() == nil) {
			fmt.Fprintf(progress, "work directory (logs, store): %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	targets, err := startTargets(ctx, o, dir, progress, &servers)
	if err != nil {
		return nil, err
	}

	rep = &Report{Options: *o}
	for r := range o.Rounds {
		round := Round{Results: map[string]Result{}}
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			round.Order = append(round.Order, t.name)
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			fmt.Fprintf(progress, "round %d/%d: %s\n", r+1, o.Rounds, t.name)
			req, err := t.request(ctx)
			if err != nil {
				return rep, fmt.Errorf("%s: %w", t.name, err)
			}
			res, err := measure(ctx, t.server, &req, o)
			if err != nil {
				return rep, fmt.Errorf("%s: %w", t.name, err)
			}
			round.Results[t.name] = res
		}
		rep.Rounds = append(rep.Rounds, round)
	}
	return rep, nil
}

// startTargets starts the upstream and the servers under test, adding each
// process to started as soon as it runs, and returns the targets in the
// order of o.Targets.
func startTargets(ctx context.Context, o *Options, dir string, progress io.Writer, started *[]*server) ([]target, error) {
	start := func(name string, cmd *exec.Cmd, ready *regexp.Regexp, timeout time.Duration) (*server, error) {
		s, err := startServer(ctx, name, cmd, filepath.Join(dir, name+".log"), ready, timeout)
		if err == nil {
			*started = append(*started, s)
		}
		return s, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	up, err := start("upstream", exec.Command(self, "upstream"), listeningRe, 10*time.Second)
	if err != nil {
		return nil, err
	}
	upstreamURL := "http://" + up.addr + "/mcp"

	var targets []target
	if slices.Contains(o.Targets, targetBare) {
		bare, err := start("bare-proxy", exec.Command(self, "bare-proxy", "-upstream", upstreamURL), listeningRe, 10*time.Second)
		if err != nil {
			return nil, err
		}
		targets = append(targets, target{name: targetBare, server: bare, request: fixed(bare.addr, "")})
	}
	if slices.Contains(o.Targets, targetAPIKey) || slices.Contains(o.Targets, targetJWT) {
		bin := o.Binary
		if bin == "" {
			fmt.Fprintln(progress, "building mcpgate")
			if bin, err = buildMcpgate(ctx, dir); err != nil {
				return nil, err
			}
		}
		g, err := newGate(ctx, bin, filepath.Join(dir, "data"))
		if err != nil {
			return nil, err
		}
		mg, err := start("mcpgate", g.serveCmd(upstreamURL, append(slices.Clip(limitsOff), o.ServeArgs...)), servingRe, time.Minute)
		if err != nil {
			return nil, err
		}
		base := "http://" + mg.addr
		if slices.Contains(o.Targets, targetAPIKey) {
			targets = append(targets, target{name: targetAPIKey, server: mg, request: fixed(mg.addr, g.key)})
		}
		if slices.Contains(o.Targets, targetJWT) {
			targets = append(targets, target{name: targetJWT, server: mg, request: func(ctx context.Context) (request, error) {
				tok, err := g.token(ctx, base, base+"/mcp")
				return newRequest(mg.addr, "/mcp", tok, []byte(callRequest), []byte(callResponse)), err
			}})
		}
	}
	if slices.Contains(o.Targets, targetLimited) {
		bin := o.Binary
		if bin == "" {
			if bin, err = buildMcpgate(ctx, dir); err != nil {
				return nil, err
			}
		}
		g, err := newGate(ctx, bin, filepath.Join(dir, "data-limits"))
		if err != nil {
			return nil, err
		}
		mg, err := start("mcpgate-limits", g.serveCmd(upstreamURL, append(slices.Clip(limitsOn), o.ServeArgs...)), servingRe, time.Minute)
		if err != nil {
			return nil, err
		}
		targets = append(targets, target{name: targetLimited, server: mg, request: fixed(mg.addr, g.key)})
	}
	slices.SortStableFunc(targets, func(a, b target) int {
		return slices.Index(o.Targets, a.name) - slices.Index(o.Targets, b.name)
	})
	return targets, nil
}

// fixed is a target whose request never changes.
func fixed(addr, bearer string) func(context.Context) (request, error) {
	req := newRequest(addr, "/mcp", bearer, []byte(callRequest), []byte(callResponse))
	return func(context.Context) (request, error) { return req, nil }
}

// measure puts the closed-loop load on s: a warm-up, then the measurement,
// with the server's CPU time read at both ends of the measurement while the
// connections are idle.
func measure(ctx context.Context, s *server, req *request, o *Options) (Result, error) {
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	conns := make([]*conn, o.Connections)
	for i := range conns {
		conns[i] = newConn(s.addr)
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	warm, _ := loop(conns, req, time.Now().Add(o.Warmup), &stop)

	cpu0, cpuErr := s.cpu()
	self0 := selfCPU()
	begin := time.Now()
	t, end := loop(conns, req, begin.Add(o.Duration), &stop)
	self1 := selfCPU()
	cpu1, err := s.cpu()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res := Result{
		Requests: t.requests,
		Errors:   warm.errors + t.errors,
		Elapsed:  end.Sub(begin),
		P50:      t.hist.quantile(0.50),
		P99:      t.hist.quantile(0.99),
		CPU:      cpu1 - cpu0,
		LoadCPU:  self1 - self0,
	}
	if cpuErr != nil || err != nil {
		res.CPU = -1
	}
	if first := errors.Join(warm.firstErr, t.firstErr); first != nil {
		res.FirstErr = first.Error()
	}
	return res, nil
}
