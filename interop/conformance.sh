#!/usr/bin/env bash
# Runs the MCP conformance suite (npm @modelcontextprotocol/conformance, pinned
# in interop/package.json) against the Go conformance server twice: directly,
# for the baseline, and through mcpgate's proxy. Exits non-zero unless every
# scenario of the active suite passes both times.
#
# Usage: interop/conformance.sh [options]
#   --gateway-url URL      test an already running gateway that fronts the
#                          upstream (e.g. mcpgate serve with an upstream at
#                          http://UPSTREAM_ADDR/mcp); default: start the proxy
#                          behind a test bearer check (proxy/testdata/conformance)
#   --auth-header "K: V"   header the forwarder adds for that gateway,
#                          e.g. "Authorization: Bearer mcpg_..."
#   --upstream-addr ADDR   where the conformance server listens (default: a
#                          free loopback port)
#   --scenario NAME        run one scenario only
#   --timeout SECONDS      bound for each suite run (default 300)
#   --output-dir DIR       keep the suite's results (and, on failure, the logs) there
# MCPGATE_CONFORMANCE_VERBOSE=1 logs every request at every hop.
# The same options can be given as MCPGATE_CONFORMANCE_GATEWAY_URL,
# MCPGATE_CONFORMANCE_AUTH_HEADER and MCPGATE_CONFORMANCE_UPSTREAM_ADDR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
gateway_url=${MCPGATE_CONFORMANCE_GATEWAY_URL:-}
auth_header=${MCPGATE_CONFORMANCE_AUTH_HEADER:-}
upstream_addr=${MCPGATE_CONFORMANCE_UPSTREAM_ADDR:-127.0.0.1:0}
scenario=""
limit=300
outdir=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--gateway-url) gateway_url=$2; shift 2 ;;
	--auth-header) auth_header=$2; shift 2 ;;
	--upstream-addr) upstream_addr=$2; shift 2 ;;
	--scenario) scenario=$2; shift 2 ;;
	--timeout) limit=$2; shift 2 ;;
	--output-dir) outdir=$2; shift 2 ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "conformance.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
if [[ -n $gateway_url && -z $auth_header ]]; then
	echo "conformance.sh: --gateway-url needs --auth-header" >&2
	exit 2
fi

node=$here/node_modules/.bin/node
suite=$here/node_modules/@modelcontextprotocol/conformance/dist/index.js
if [[ ! -x $node || ! -f $suite ]]; then
	echo "conformance.sh: $here/node_modules is missing: run 'npm ci' in $here" >&2
	exit 2
fi

work=$(mktemp -d)
cleanup() {
	local f
	for f in "$work"/*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done
	sleep 0.2
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/conformance" ./proxy/testdata/conformance)

# start NAME ARGS...: runs a mode of the helper and waits for its URL.
start() {
	local name=$1; shift
	"$work/conformance" "$name" -urlfile "$work/$name.url" ${MCPGATE_CONFORMANCE_VERBOSE:+-v} "$@" >"$work/$name.log" 2>&1 &
	echo $! >"$work/$name.pid"
	for _ in $(seq 100); do
		[[ -s $work/$name.url ]] && { cat "$work/$name.url"; return 0; }
		sleep 0.1
	done
	echo "conformance.sh: $name did not start:" >&2
	cat "$work/$name.log" >&2
	return 1
}

# run LABEL URL: runs the suite, prints its summary, returns its status.
run() {
	local label=$1 url=$2 status=0
	local args=(server --url "$url")
	[[ -n $scenario ]] && args+=(--scenario "$scenario")
	[[ -n $outdir ]] && args+=(--output-dir "$outdir/$label")
	echo "== conformance suite: $label ($url)"
	(cd "$work" && timeout "$limit" "$node" "$suite" "${args[@]}") >"$work/$label.out" 2>&1 || status=$?
	grep -E '^Total|FAIL|✗' "$work/$label.out" | tail -n 40 || true
	if [[ $status -ne 0 ]]; then
		echo "== $label: FAILED (exit $status); full output:" >&2
		cat "$work/$label.out" >&2
	else
		echo "== $label: all scenarios passed"
	fi
	return $status
}

upstream_url=$(start upstream -addr "$upstream_addr")
if [[ -z $gateway_url ]]; then
	token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	gateway_url=$(start gateway -upstream "$upstream_url" -token "$token")
	auth_header="Authorization: Bearer $token"
fi
forward_url=$(start forward -target "$gateway_url" -header "$auth_header")

baseline=0; proxied=0
run direct "$upstream_url" || baseline=$?
run through-mcpgate "$forward_url" || proxied=$?
if [[ $baseline -ne 0 || $proxied -ne 0 ]]; then
	echo "conformance: direct exit $baseline, through mcpgate exit $proxied" >&2
	for f in "$work"/*.log; do echo "== $f" >&2; tail -n 50 "$f" >&2; done
	[[ -n $outdir ]] && cp "$work"/*.log "$outdir"/
	exit 1
fi
echo "conformance: every scenario passed, directly and through mcpgate"
