// Command mcpgate is the mcpgate gateway and its administration CLI. The
// work lives in packages; this file only parses arguments, wires signals and
// maps errors to exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/redact"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // bad arguments or configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks errors caused by what the user typed.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// env is what every command gets besides its flags.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// newParser builds the command line parser of cli.
func newParser(cli *CLI, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("mcpgate"),
		kong.Description("Authentication, authorization and audit in front of MCP servers."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitRequest(c)) }),
		kong.Vars{"version": "mcpgate " + versionString()},
		kong.Help(helpOnce),
		durationMapper,
	)
}

// exitRequest carries kong's request to exit (after --help or --version)
// out of Parse without ending the process, so tests can call run.
type exitRequest int

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	ver := versionString()
	demo.Version = ver // the built-in server's serverInfo
	var cli CLI
	parser, err := newParser(&cli, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mcpgate: %v\n", err)
		return exitError
	}
	if answerCompletion(parser) {
		return exitOK
	}
	if len(args) == 0 {
		// As gh and kubectl do: the bare command is a request for help.
		args = []string{"--help"}
	}
	// Before parsing, since the file's variables are the flags' defaults.
	if err := loadEnvFile(args); err != nil {
		fmt.Fprintf(stderr, "mcpgate: %v\n", err)
		return exitUsage
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "mcpgate: %v\n", err)
		return exitUsage
	}
	// Libraries that log through slog.Default stay quiet in CLI commands
	// unless something is wrong, and are redacted like everything else;
	// serve installs its own logger at the configured level.
	slog.SetDefault(slog.New(redact.NewHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	if err := kctx.Run(e, &cli.Globals); err != nil {
		fmt.Fprintf(stderr, "mcpgate: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}
