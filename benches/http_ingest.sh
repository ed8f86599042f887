#!/usr/bin/env bash
# HTTP ingest under load: wrk POSTs NDJSON batches of 1,000 demo lines to /api/logs on
# loopback, on the same machine as the server. Prints the lines accepted per second, the lines
# analyzed (every window's report counted after the server drained at SIGTERM), the 429s, and
# the server's memory sampled every second.
#
# Usage: benches/http_ingest.sh [SECONDS] [CONNECTIONS] [THREADS]     (defaults: 20 4 1)
# Overload: more connections than the pipeline can serve, e.g. benches/http_ingest.sh 20 64 2
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
connections=${2:-4}
threads=${3:-1}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --locked --quiet -p incident-commander
bin=${CARGO_TARGET_DIR:-target}/release/incident-commander
"$bin" demo-logs --fast --meltdown --count 1000 --seed 1 > "$work/batch.ndjson"
XDG_DATA_HOME="$work" "$bin" serve --source none --listen 127.0.0.1:0 --db "sqlite://$work/ic.db" --format json \
    > "$work/reports.ndjson" 2> "$work/err" &
server=$!
pids+=("$server")
until addr=$(grep -o 'http://[0-9.:]*' "$work/err" | head -n 1) && [ -n "$addr" ]; do
    kill -0 "$server" 2>/dev/null || { cat "$work/err"; exit 1; }
    sleep 0.2
done

rss() { echo $(($(ps -o rss= -p "$server") / 1024)); }
(while kill -0 "$server" 2>/dev/null; do rss; sleep 1; done) > "$work/rss" &
pids+=("$!")
echo "wrk: $threads thread(s), $connections connection(s), $seconds s; batches of 1,000 lines;" \
    "$(nproc) cores shared by wrk and the server"
IC_BATCH="$work/batch.ndjson" wrk -t "$threads" -c "$connections" -d "${seconds}s" \
    -s benches/http_ingest.lua "$addr/api/logs" | tee "$work/wrk"
accepted=$(curl -s "$addr/api/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["logs_processed"])')
metrics=$(curl -s "$addr/metrics")
rejected=$(awk '/^ic_lines_rejected_total\{reason="full"\}/ {print $2}' <<< "$metrics")
refused=$(awk '/^ic_ingest_requests_rejected_total\{reason="full"\}/ {print $2}' <<< "$metrics")

start=$(date +%s.%N)
kill -TERM "$server"
wait "$server" || true
end=$(date +%s.%N)
analyzed=$(python3 -c 'import json,sys; print(sum(json.loads(l)["window"]["log_count"] for l in open(sys.argv[1])))' \
    "$work/reports.ndjson")
python3 - "$seconds" "$accepted" "${rejected:-0}" "${refused:-0}" "$analyzed" "$start" "$end" "$work/rss" <<'PY'
import sys
seconds, accepted = int(sys.argv[1]), int(sys.argv[2])
rejected, refused, analyzed = int(float(sys.argv[3])), int(float(sys.argv[4])), int(sys.argv[5])
drain = float(sys.argv[7]) - float(sys.argv[6])
rss = [int(l) for l in open(sys.argv[8]) if l.strip()]
print(f"accepted: {accepted:,} lines = {accepted / seconds:,.0f} lines/s")
print(f"429 answers counted by the server: {refused:,} requests "
      f"({rejected:,} lines refused after parsing because the queue stayed full)")
print(f"analyzed: {analyzed:,} lines (every accepted line: {analyzed == accepted}); "
      f"drained {drain:.2f} s after SIGTERM")
third = max(1, len(rss) // 3)
print(f"server RSS MiB: first third max {max(rss[:third])}, last third max {max(rss[-third:])}, "
      f"peak {max(rss)}")
print("server RSS MiB every 5 s:", " ".join(str(m) for m in rss[::5]))
PY
