#!/usr/bin/env bash
# Runs the MCP conformance suite through the real gateway binary:
# `mcpgate serve --upstream` in front of the Go conformance server, with an
# API key created by the CLI, the suite's requests given that key by a small
# header-adding forwarder (the suite sends no credentials). Every scenario
# must pass, as it does directly against the upstream (interop/conformance.sh
# runs both and compares).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/mcpgate" ./cmd/mcpgate
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key=$("$work/mcpgate" --data "$work/data" keys create --name conformance | grep -oE 'mcpg_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}' | head -n1)
[[ -n $key ]] || { echo "conformance: no key created" >&2; exit 1; }

"$work/mcpgate" --data "$work/data" --listen 127.0.0.1:0 serve --no-oauth \
  --upstream "http://127.0.0.1:$port/mcp" >"$work/serve.out" 2>"$work/serve.log" &
pid=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^mcpgate serving MCP at \([^ ]*\).*/\1/p' "$work/serve.out")
  [[ -n $url ]] && break
  sleep 0.1
done
[[ -n $url ]] || { echo "conformance: mcpgate did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

status=0
interop/conformance.sh --gateway-url "$url" --auth-header "Authorization: Bearer $key" \
  --upstream-addr "127.0.0.1:$port" "$@" || status=$?
if [[ $status -ne 0 ]]; then
  echo "== mcpgate log (tail)" >&2
  tail -n 80 "$work/serve.log" >&2
fi
# The key must not appear in the gateway's log.
if grep -qF "${key:18}" "$work/serve.log"; then
  echo "conformance: the API key secret reached the gateway log" >&2
  status=1
fi
exit $status
