// Command mcpgate-load measures `mcpgate serve --upstream` against a bare
// httputil.ReverseProxy in front of the same upstream, in interleaved rounds,
// and prints requests per second as a ratio to the bare proxy in the same
// round, p50/p99 latency and CPU per request of each server process.
//
//	go run ./cmd/mcpgate-load [-rounds 5] [-duration 10s] [-connections 32] [-v]
//
// Every server under test is a process of its own: the upstream and the bare
// proxy are this program re-executed with a hidden subcommand, mcpgate is the
// real binary. All traffic stays on 127.0.0.1. See docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the run failed, or some request did not get the expected answer
	exitUsage = 2
)

func main() {
	if len(os.Args) > 1 {
		if role, ok := roles[os.Args[1]]; ok {
			os.Exit(role(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses the flags, runs the rounds and prints the table.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcpgate-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var targets, serveArgs string
	fs.IntVar(&o.Rounds, "rounds", 5, "rounds; each runs every target once, in an order rotated per round")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per target per round")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load per target per round before the measurement")
	fs.IntVar(&o.Connections, "connections", 32, "concurrent keep-alive connections, each one request at a time")
	fs.StringVar(&o.Binary, "binary", "", "mcpgate binary (default: go build ./cmd/mcpgate)")
	fs.StringVar(&serveArgs, "serve-args", "", "extra arguments for mcpgate serve, split at spaces")
	fs.StringVar(&targets, "targets", strings.Join(allTargets, ","), "targets to run, comma-separated")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work directory (logs, store) and print its path")
	verbose := fs.Bool("v", false, "also print every round's numbers")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcpgate-load: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	o.ServeArgs = strings.Fields(serveArgs)
	o.Targets = strings.Split(targets, ",")
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "mcpgate-load: %v\n", err)
		return exitUsage
	}
	o.Progress = stderr

	rep, err := Run(ctx, &o)
	if rep != nil && len(rep.Rounds) > 0 {
		rep.print(stdout, *verbose)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mcpgate-load: %v\n", err)
		return exitError
	}
	if n := rep.errors(); n > 0 {
		fmt.Fprintf(stderr, "mcpgate-load: %d requests failed: %s\n", n, rep.firstError())
		return exitError
	}
	return exitOK
}
