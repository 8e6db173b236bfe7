package oauth

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestMain silences the library's request logs (it logs to the default
// logger) unless the tests run with -v.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(discardLogger())
	}
	os.Exit(m.Run())
}
