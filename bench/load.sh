#!/usr/bin/env bash
# HTTP load benchmark of `sentrie serve` on the AI-gateway example, over loopback only.
#  1. peak throughput with wrk (installed from Debian's packages if missing);
#  2. latency at half the peak rate with the open-loop generator in src/bin/loadgen (8
#     connections driven by one thread, so the generator adds one runnable thread to the
#     server's two on a 2-core machine);
#  3. peak throughput again with the decision log on (full facts), in `drop` and in `block`
#     mode, and with a shadow pack (the same pack as candidate, so every request is compared);
#  4. for scale, nginx (when installed) answering a fixed 200 at the same paced rate, under the
#     same generator: what the machine itself allows for tail latency.
# Usage: bench/load.sh [SECONDS]   (default 10 per phase). Prints a summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p sentrie-server -p sentrie-bench --bin sentrie --bin loadgen
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/body.json" <<'JSON'
{"facts":{"caller":{"id":"u-1842","role":"ml-engineer","team":"search-quality"},"req":{"model":"gpt-4o-mini","environment":"production","prompt":"Summarise the attached quarterly report for the leadership team, focusing on revenue, churn and the hiring plan. Keep it short and mention the two biggest risks. Use bullet points, no more than eight, and finish with one recommendation for the next quarter. Mention customer feedback trends and the status of the platform migration.","estimated_cost":0.42},"usage":{"user_spent_today":3.5,"team_spent_today":118.0}}}
JSON
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/body.json", "rb")
wrk.body = f:read("*a")
f:close()
LUA
path=/decision/aigw/gateway/request

start_server() {
  ./target/release/sentrie serve examples/ai-gateway --port 0 --log-level ERROR "$@" 2> "$work/server.err" &
  for _ in $(seq 100); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/server.err" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "server did not start"; cat "$work/server.err"; exit 1
}
peak() {
  wrk -t1 -c32 -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$port$path" | tee "$work/wrk.txt" >&2
  awk '/Requests\/sec/ {printf "%d", $2}' "$work/wrk.txt"
}

start_server
curl -sf -X POST --data-binary @"$work/body.json" "http://127.0.0.1:$port$path" > /dev/null
peak_rps=$(peak)
half=$((peak_rps / 2))
paced=$(./target/release/loadgen --addr "127.0.0.1:$port" --path "$path" --body "$work/body.json" --rate "$half" --connections 8 --seconds "$secs")
kill %1; wait %1 2>/dev/null || true

start_server --decision-log "$work/drop.jsonl" --decision-log-on-full drop
drop_rps=$(peak)
kill %1; wait %1 2>/dev/null || true
drop_lines=$(wc -l < "$work/drop.jsonl")

start_server --decision-log "$work/block.jsonl" --decision-log-on-full block
block_rps=$(peak)
kill %1; wait %1 2>/dev/null || true
block_lines=$(wc -l < "$work/block.jsonl")

start_server --shadow examples/ai-gateway
shadow_rps=$(peak)
compared=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^sentrie_shadow_(agreements|disagreements)_total/ {n += $2} END {print n+0}')
skipped=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^sentrie_shadow_skipped_total/ {print $2}')
kill %1; wait %1 2>/dev/null || true

# The machine's own tail: nginx, two workers, a fixed answer, the same paced load.
baseline="nginx not installed: skipped"
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  ngx=$(command -v nginx || echo /usr/sbin/nginx)
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:0;
    location / { return 200 '{"decision":{"state":"TRUE"}}'; }
  }
}
NGINX
  # nginx cannot report a port it picked: take a free one from the kernel first.
  nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  sed -i "s/127.0.0.1:0/127.0.0.1:$nport/" "$work/nginx/nginx.conf"
  "$ngx" -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>/dev/null &
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$nport/" >/dev/null && break
    sleep 0.1
  done
  baseline=$(./target/release/loadgen --addr "127.0.0.1:$nport" --path "$path" --body "$work/body.json" --rate "$half" --connections 8 --seconds "$secs" || echo "failed")
  kill %1; wait %1 2>/dev/null || true
fi

echo "peak: $peak_rps decisions/s (wrk, 1 thread, 32 connections)"
echo "paced at $half/s: $paced"
echo "peak with decision log, drop mode: $drop_rps decisions/s ($drop_lines lines written)"
echo "peak with decision log, block mode: $block_rps decisions/s ($block_lines lines written)"
echo "peak with a shadow pack: $shadow_rps decisions/s ($compared compared, $skipped skipped)"
echo "nginx, fixed answer, paced at $half/s: $baseline"
