package redact

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkHandler compares logging a typical audit record through the
// redacting handler with the plain slog JSON handler it wraps.
//
//	go test -run '^$' -bench Handler -benchtime 1s ./redact/
func BenchmarkHandler(b *testing.B) {
	ctx := context.Background()
	record := func(l *slog.Logger) {
		l.LogAttrs(ctx, slog.LevelInfo, "mcp request",
			slog.String("request_id", "01JF3Q4Z8X9K2M7N5P6R"),
			slog.String("subject", "alice"),
			slog.String("tenant", "acme"),
			slog.String("key_id", "AbCdEf012345"),
			slog.String("method", "tools/call"),
			slog.String("target", "notes_create"),
			slog.String("decision", "allow"),
			slog.Int("status", 200),
			slog.Duration("latency", 3*time.Millisecond),
			slog.String("remote", "127.0.0.1:52044"),
		)
	}
	b.Run("plain-json", func(b *testing.B) {
		l := slog.New(slog.NewJSONHandler(io.Discard, nil))
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			record(l)
		}
	})
	b.Run("redact-json", func(b *testing.B) {
		l := slog.New(NewHandler(slog.NewJSONHandler(io.Discard, nil)))
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			record(l)
		}
	})
	key, _, _ := mustKey(b)
	b.Run("redact-json-with-key", func(b *testing.B) {
		l := slog.New(NewHandler(slog.NewJSONHandler(io.Discard, nil)))
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			l.LogAttrs(ctx, slog.LevelWarn, "upstream stderr", slog.String("line", "using key "+key+" for Bearer xyz"))
		}
	})
}

// BenchmarkString measures masking free text that has nothing to mask,
// the common case for child process output.
func BenchmarkString(b *testing.B) {
	s := "2026/11/26 01:59:00 server-everything: listening on stdio, 12 tools, 100 resources registered"
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		String(s)
	}
}

// reportCPU reports the process CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
