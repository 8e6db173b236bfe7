#!/usr/bin/env bash
# Runs the MCP conformance suite (npm @modelcontextprotocol/conformance, both
# lines pinned in interop/package.json) through the real gateway binary, with
# an API key created by the CLI; the suite sends no credentials, so a small
# forwarder (proxy/testdata/conformance forward) adds the key. Four parts:
#
#  1. mcpgate's own conformance server (internal/conformanceserver), suite
#     0.1.16, directly and through `mcpgate serve --upstream`: every scenario
#     must pass both ways (interop/conformance.sh).
#  2. The Go SDK's conformance/everything-server, built from the go-sdk
#     version go.mod requires, suite 0.2: --requirements 2025-11-25 against
#     it with -stateless=false, --requirements 2026-07-28 with -stateless,
#     each directly and through `mcpgate serve --upstream`.
#  3. mcpgate's built-in server through `mcpgate serve`, both requirement
#     sets, with a binary built with -tags conformance, which adds the
#     diagnostic tools the suite calls by name (demo/diagnostics.go).
#  4. The embedded authorization server: the suite's authorization scenarios
#     (metadata, authorization code grant), with interop/conformancecheck
#     signing in and approving consent on mcpgate's pages as the browser.
#
# Parts 2 to 4 save every check's result; interop/conformancecheck compares
# them: the pass/fail list through mcpgate must equal the one directly, and
# every failing check must be listed, with its reason, in
# interop/conformance-expected-failures.yml.
#
# Usage: scripts/conformance.sh [--keep DIR]   (--keep: leave results in DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

keep=""
if [[ ${1:-} == --keep ]]; then keep=$2; mkdir -p "$keep"; fi

node=$root/interop/node_modules/.bin/node
suite=$root/interop/node_modules/conformance-next/dist/index.js
expected=$root/interop/conformance-expected-failures.yml
if [[ ! -x $node || ! -f $suite ]]; then
  echo "conformance: interop/node_modules is missing: run 'npm ci' in interop" >&2
  exit 2
fi

work=$(mktemp -d)
pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  [[ -n $keep ]] && cp -r "$work"/results "$keep"/ 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Every program of the run, in one go build; the built-in server's
# diagnostic tools only in a second mcpgate binary.
go build -o "$work/" ./cmd/mcpgate ./interop/conformancecheck ./proxy/testdata/conformance \
  github.com/modelcontextprotocol/go-sdk/conformance/everything-server
go build -tags conformance -o "$work/mcpgate-conformance" ./cmd/mcpgate
check=$work/conformancecheck

# serve NAME BINARY DATA ARGS...: starts mcpgate serve in the background and
# sets served to its MCP URL once it listens.
served=""
serve() {
  local name=$1 bin=$2 data=$3; shift 3
  "$bin" --data "$data" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do
    served=$(sed -n 's/^mcpgate serving MCP at \([^ ]*\).*/\1/p' "$work/$name.out")
    [[ -n $served ]] && return 0
    sleep 0.1
  done
  echo "conformance: $name did not start" >&2
  cat "$work/$name.log" >&2
  return 1
}

# forward NAME TARGET: starts the forwarder that adds the API key and sets
# forwarded to its URL.
forwarded=""
forward() {
  "$work/conformance" forward -addr 127.0.0.1:0 -target "$2" -header "Authorization: Bearer $key" \
    -urlfile "$work/$1.url" >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [[ -s $work/$1.url ]] && { forwarded=$(cat "$work/$1.url"); return 0; }
    sleep 0.1
  done
  echo "conformance: forwarder $1 did not start" >&2
  return 1
}

# listening PORT: waits until something accepts on 127.0.0.1:PORT.
listening() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "conformance: nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# suite OUT ARGS...: runs the 0.2 suite, its results saved in OUT and its
# output in OUT.out. Its exit status is not the verdict: compare is.
suite() {
  local out=$1; shift
  mkdir -p "$(dirname "$out")"
  (cd "$work" && timeout 300 "$node" "$suite" "$@" -o "$out") >"$out.out" 2>&1 || true
  sed -n '/^Total:/p' "$out.out"
}

# compare TARGET LABELS DIR...: the verdict on a target's results.
summary=()
status=0
compare() {
  local target=$1 labels=$2; shift 2
  local out
  if out=$("$check" compare -expected "$expected" -target "$target" -labels "$labels" "$@" 2>&1); then
    echo "$out"
  else
    echo "$out"
    status=1
    local d
    for d in "$@"; do echo "== $d.out (tail)"; tail -n 60 "$d.out"; done
  fi
  summary+=("$(grep -E '^'"$target"' ' <<<"$out")" "$(tail -n 1 <<<"$out")")
}

key_leaked() {
  local f
  for f in "$work"/*.log; do
    if grep -qF "${key:18}" "$f"; then
      echo "conformance: the API key secret reached $f" >&2
      return 0
    fi
  done
  return 1
}

# 1. mcpgate's own conformance server, suite 0.1.16.
step "own conformance server (suite 0.1.16): directly and through mcpgate serve --upstream"
"$work/mcpgate" --data "$work/data" migrate >/dev/null
key=$("$work/mcpgate" --data "$work/data" keys create --name conformance | grep -oE 'mcpg_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}' | head -n1)
[[ -n $key ]] || { echo "conformance: no key created" >&2; exit 1; }
port=$(free_port)
serve own "$work/mcpgate" "$work/data" --listen 127.0.0.1:0 serve --no-oauth --upstream "http://127.0.0.1:$port/mcp"
own=0
interop/conformance.sh --gateway-url "$served" --auth-header "Authorization: Bearer $key" \
  --upstream-addr "127.0.0.1:$port" || own=$?
if [[ $own -ne 0 ]]; then
  status=1
  echo "== mcpgate log (tail)" >&2
  tail -n 80 "$work/own.log" >&2
fi
summary+=("own conformance server (suite 0.1.16): $([[ $own -eq 0 ]] && echo 'every scenario passed, directly and through mcpgate' || echo FAILED)")
stop_all

# 2. The Go SDK's everything-server, suite 0.2.
sdk() {
  local target=$1 requirements=$2 stateless=$3
  step "$target: the Go SDK's everything-server -stateless=$stateless, --requirements $requirements"
  local port
  port=$(free_port)
  "$work/everything-server" -http "127.0.0.1:$port" -stateless="$stateless" >"$work/$target-upstream.log" 2>&1 &
  pids+=($!)
  listening "$port"
  serve "$target" "$work/mcpgate" "$work/data" --listen 127.0.0.1:0 serve --no-oauth --upstream "http://127.0.0.1:$port/mcp"
  forward "$target-forward" "$served"
  echo "direct:          $(suite "$work/results/$target/direct" server --url "http://127.0.0.1:$port/mcp" --requirements "$requirements")"
  echo "through mcpgate: $(suite "$work/results/$target/through-mcpgate" server --url "$forwarded" --requirements "$requirements")"
  compare "$target" direct,through-mcpgate "$work/results/$target/direct" "$work/results/$target/through-mcpgate"
  stop_all
}
sdk sdk-2025-11-25 2025-11-25 false
sdk sdk-2026-07-28 2026-07-28 true

# 3 and 4. The built-in server and the authorization server, in one mcpgate
# serve with OAuth on: a user who signs in, and a public client whose
# redirect URI is the suite's callback.
step "built-in server and authorization server (mcpgate serve, built with -tags conformance)"
data=$work/data-builtin
port=$(free_port)
callback=$(free_port)
password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$work/mcpgate-conformance" --data "$data" migrate >/dev/null
key=$("$work/mcpgate-conformance" --data "$data" keys create --name conformance | grep -oE 'mcpg_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}' | head -n1)
printf '%s\n' "$password" | "$work/mcpgate-conformance" --data "$data" users add conformance >/dev/null
client=$("$work/mcpgate-conformance" --data "$data" clients add --name "MCP conformance suite" \
  --redirect-uri "http://127.0.0.1:$callback/callback" | grep -oE 'mcpc_[0-9A-Za-z_-]+' | head -n1)
[[ -n $key && -n $client ]] || { echo "conformance: no key or client created" >&2; exit 1; }
serve builtin "$work/mcpgate-conformance" "$data" --listen "127.0.0.1:$port" serve
url=$served
forward builtin-forward "$url"
for requirements in 2025-11-25 2026-07-28; do
  target=builtin-$requirements
  echo "$target through mcpgate: $(suite "$work/results/$target/through-mcpgate" server --url "$forwarded" --requirements "$requirements")"
  compare "$target" through-mcpgate "$work/results/$target/through-mcpgate"
done
# The built-in server's scenarios for tools, resources, prompts, discovery
# and the stateless protocol, each of which must pass in full.
summary+=("builtin-2026-07-28: $(grep -E '^[✓✗] (server-stateless|tools-list|resources-list|prompts-list|sep-2164-resource-not-found|caching|http-header-validation|dns-rebinding-protection):' \
  "$work/results/builtin-2026-07-28/through-mcpgate.out" | tr '\n' ';' | sed 's/;$//; s/;/; /g')")
step "authorization: metadata and authorization code grant, signed in on mcpgate's pages"
out=$work/results/authorization/mcpgate
mkdir -p "$(dirname "$out")"
(cd "$work" && MCPGATE_CONFORMANCE_PASSWORD=$password timeout 120 "$check" signin -username conformance -- \
  "$node" "$suite" authorization --url "http://127.0.0.1:$port" --client-id "$client" \
  --resource "$url" --port "$callback" -o "$out") >"$out.out" 2>&1 || true
sed -n '/^signin:/p;/^Total:/p' "$out.out"
compare authorization mcpgate "$out"
stop_all

if key_leaked; then status=1; fi

step "conformance summary"
printf '%s\n' "${summary[@]}"
exit $status
