#!/usr/bin/env bash
# Sizing figures for the deployment guide, over loopback only, on compiled packs of 10 to
# 10,000 generated rules: resident memory of `sentrie serve` with the pack loaded, the time
# to reload it (SIGHUP), and decisions per second on one worker thread (wrk, one thread, 32
# connections, so the load generator takes the other core).
# Usage: bench/sizing.sh [SECONDS]   (default 10 per throughput run)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p sentrie-server --bin sentrie
cargo build --release -q -p sentrie-bench --example write_pack
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
for n in 10 100 1000 10000; do
  ./target/release/examples/write_pack "$n" "$work/gen-$n"
  ./target/release/sentrie compile "$work/gen-$n" -o "$work/gen-$n.pack" 2>/dev/null
done
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"facts":{"user":{"role":"editor","tier":"free","groups":["g1","g2","g3"]},"req":{"size":12,"path":"/v1/items"}}}'
LUA

start_server() {
  ./target/release/sentrie serve "$1" --port 0 --workers 1 --log-level INFO 2> "$work/server.err" &
  pid=$!
  for _ in $(seq 300); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/server.err" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "server did not start"; cat "$work/server.err"; exit 1
}
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }

printf "%-22s %10s %10s %12s %12s\n" pack "bytes" "RSS MB" "reload ms" "req/s/core"
for pack in "$work/gen-10.pack" "$work/gen-100.pack" "$work/gen-1000.pack" "$work/gen-10000.pack"; do
  start_server "$pack"
  path=/decision/gen/p0/p/r0
  body="$work/post.lua"
  rss=$(rss_mb)
  kill -HUP "$pid"
  for _ in $(seq 100); do
    ms=$(grep -o 'pack activated.*ms=[0-9]*' "$work/server.err" | tail -1 | grep -o 'ms=[0-9]*$' | cut -d= -f2 || true)
    [ -n "$ms" ] && break
    sleep 0.1
  done
  rps=$(wrk -t1 -c32 -d"${secs}s" -s "$body" "http://127.0.0.1:$port$path" | awk '/Requests\/sec/ {printf "%d", $2}')
  size=$(du -sb "$pack" | cut -f1)
  printf "%-22s %10s %10s %12s %12s\n" "$(basename "$pack")" "$size" "$rss" "${ms:-?}" "$rps"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
