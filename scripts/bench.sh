#!/usr/bin/env bash
# Measures `mcpgate serve --upstream` against a bare httputil.ReverseProxy in
# front of the same upstream, interleaved in rounds, and prints the table the
# README quotes: requests per second as a ratio to the bare proxy in the same
# round, p50/p99, CPU per request. See docs/benchmarks.md.
#
#   scripts/bench.sh                  5 rounds × 10 s per target (about 3 minutes)
#   scripts/bench.sh -smoke           1 round × 1 s: every target must answer, for CI
#   scripts/bench.sh -v -rounds 9     other arguments go to mcpgate-load
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
if [ "${1:-}" = "-smoke" ]; then
  shift
  args=(-rounds 1 -duration 1s -warmup 200ms)
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/mcpgate" ./cmd/mcpgate
go build -o "$dir/mcpgate-load" ./cmd/mcpgate-load

echo "mcpgate $(git describe --always --dirty 2>/dev/null || echo '?'), $(go version | cut -d' ' -f3), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
"$dir/mcpgate-load" -binary "$dir/mcpgate" "${args[@]}" "$@"
