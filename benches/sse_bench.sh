#!/usr/bin/env bash
# The live server under load: the demo at RATE lines/s with CLIENTS dashboards connected to
# the event stream. Prints the pipeline's throughput and the server's memory over time.
#
# Usage: benches/sse_bench.sh [CLIENTS] [RATE] [SECONDS]     (defaults: 50 20000 60)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-50}
rate=${2:-20000}
seconds=${3:-60}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --locked --quiet
target/release/incident-commander serve --listen 127.0.0.1:0 --db "sqlite://$work/ic.db" \
    --demo-rate "$rate" --seed 1 --format json > /dev/null 2> "$work/err" &
server=$!
pids+=("$server")
until addr=$(grep -o 'http://[0-9.:]*' "$work/err" | head -n 1) && [ -n "$addr" ]; do
    kill -0 "$server" 2>/dev/null || { cat "$work/err"; exit 1; }
    sleep 0.2
done

for _ in $(seq "$clients"); do
    curl -sN "$addr/api/events" > /dev/null &
    pids+=("$!")
done
echo "demo at $rate lines/s, $clients SSE clients, $(nproc) cores shared with the clients"
printf '%8s %14s %16s %12s\n' "seconds" "lines/s" "logs processed" "RSS MiB"
for ((t = 5; t <= seconds; t += 5)); do
    sleep 5
    stats=$(curl -s "$addr/api/stats")
    rss=$(($(ps -o rss= -p "$server") / 1024))
    python3 - "$stats" "$t" "$rss" <<'PY'
import json, sys
stats = json.loads(sys.argv[1])
t, rss = int(sys.argv[2]), int(sys.argv[3])
print(f"{t:8d} {stats['lines_per_second']:14,.0f} {stats['logs_processed']:16,d} {rss:12d}")
PY
done
