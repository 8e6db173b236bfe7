#!/usr/bin/env bash
# Runs every mcpgate test: installs what the tests need on a fresh machine
# (the pinned npm clients, Chromium for the page tests), checks that the
# Postgres the store tests use is up, then runs the Go tests with
# the race detector, short fuzz runs, and the MCP conformance suite through
# the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n== %s\n' "$*"; }

step "npm clients (interop/)"
if [ ! -d interop/node_modules ] || [ interop/package-lock.json -nt interop/node_modules/.package-lock.json ]; then
  (cd interop && npm ci --no-audit --no-fund)
fi

step "chromium for page tests"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing; install the Debian package chromium (or set MCPGATE_SKIP_BROWSER=1)" >&2
  fi
fi

step "haproxy for the deploy/ checks"
if ! command -v haproxy >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
  else
    echo "haproxy is missing; install the Debian package haproxy" >&2
  fi
fi

step "services"
if [ -z "${MCPGATE_SKIP_SERVICES:-}" ]; then
  pg_isready -h 127.0.0.1 -p 5432 -q || { echo "Postgres is not running on 127.0.0.1:5432 (MCPGATE_SKIP_SERVICES=1 skips its tests)" >&2; exit 1; }
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { echo "Redis is not running on 127.0.0.1:6379 (MCPGATE_SKIP_SERVICES=1 skips its tests)" >&2; exit 1; }
fi

step "go vet, go mod tidy"
go vet ./...
go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
go tool -modfile=tools/go.mod gitleaks dir . --redact --no-banner || { echo "gitleaks found a secret (a test fixture goes in .gitleaks.toml)" >&2; exit 1; }

step "go test -race"
mkdir -p test-artifacts
MCPGATE_ARTIFACTS="$root/test-artifacts" go test -race -count=1 -timeout 20m ./...

step "load smoke: every target answers 200 through the real binary (scripts/bench.sh for the full run)"
scripts/bench.sh -smoke

step "fuzz (short runs)"
# A fuzz run that ends while a worker is busy can fail with "context
# deadline exceeded" and no failing input (a known go test -fuzz flake);
# that is not a finding. A real finding writes its input under
# testdata/fuzz and fails the run.
fuzz() {
  local out status=0
  out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-5s}" "./$1" 2>&1) || status=$?
  printf '%s\n' "$out"
  if [ $status -ne 0 ]; then
    if grep -q "Failing input written" <<<"$out" || ! grep -q "context deadline exceeded" <<<"$out"; then
      return $status
    fi
    echo "($2: fuzzing stopped at its deadline without a finding)"
  fi
}
# Every parser of untrusted input: keys, Authorization headers, JSON-RPC
# bodies and list results, log redaction, JWTs, OAuth requests, client
# metadata documents, redirect URIs, password hashes, SSE streams, config
# files and command lines, rate limits, forwarding headers, alert
# signatures and scanned text.
fuzz apikey FuzzParse
fuzz authn FuzzParseBearer
fuzz authz FuzzParseCalls
fuzz authz FuzzFilterListResult
fuzz redact FuzzString
fuzz jose FuzzVerify
fuzz oauth FuzzAuthorize
fuzz oauth FuzzToken
fuzz oauth FuzzParseCIMD
fuzz oauth FuzzRedirectAllowed
fuzz login FuzzParsePHC
fuzz login FuzzFederatedCallback
fuzz proxy FuzzCopySSE
fuzz proxy FuzzIDKey
fuzz proxy FuzzJSONLines
fuzz cmd/mcpgate FuzzParseConfig
fuzz secret FuzzParseEnvFile
fuzz doctor FuzzParseChallenges
fuzz doctor FuzzParseMetadata
fuzz cmd/mcpgate FuzzSplitCommand
fuzz . FuzzParseLimit
fuzz ratelimit FuzzClientAddress
fuzz alert FuzzVerify
fuzz leak FuzzLines

step "MCP conformance suite: directly, and through mcpgate serve --upstream with an API key"
scripts/conformance.sh

echo
echo "all tests passed"
