#!/usr/bin/env bash
# Throughput through NATS JetStream on this machine: a gateway (`--forward nats`) publishing
# HTTP lines into the stream, then `--source nats` instances analyzing them from it.
#
# Then the delay from publishing a burst of 1,000 meltdown lines to its first window (and the
# incident it updates) being stored, and to all of its lines being stored; the median of 5.
#
# Usage: benches/nats_throughput.sh [LINES] [INSTANCES]   (default 200000 lines, 1 instance)
# Needs a NATS server with JetStream on 127.0.0.1:4222, curl and python3. Uses SQLite for one
# instance; give IC_BENCH_DB=postgres://… to share PostgreSQL between several (the figures
# count from what the database already holds, so it need not be empty).
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-200000}
instances=${2:-1}
work=$(mktemp -d)
run=$$-$(date +%s)
stream="BENCH_$run"
subject="bench_$run.>"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

cargo build --release --locked --quiet
bin=target/release/incident-commander
db=${IC_BENCH_DB:-sqlite://$work/bench.db}

$bin demo-logs --fast --seed 1 --count "$lines" --meltdown-after 60 --meltdown-for 120 > "$work/lines.ndjson"
split -l 1000 "$work/lines.ndjson" "$work/part-"

$bin serve --source none --forward nats --nats-stream "$stream" --nats-subject "$subject" \
    --listen 127.0.0.1:0 --db "sqlite://$work/gateway.db" > /dev/null 2> "$work/gateway.err" &
pids+=($!)
until grep -q 'Incident Commander on' "$work/gateway.err"; do sleep 0.1; done
gateway=$(grep -o 'http://[0-9.:]*' "$work/gateway.err" | head -n 1)

start=$(date +%s.%N)
for part in "$work"/part-*; do
    curl -sf -o /dev/null -H 'Content-Type: application/x-ndjson' --data-binary @"$part" "$gateway/api/logs"
done
published=$(date +%s.%N)
printf 'gateway: %d lines published in %.2f s (%.0f lines/s)\n' "$lines" \
    "$(echo "$published - $start" | bc)" "$(echo "$lines / ($published - $start)" | bc -l)"

stored() { $bin stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["lines_analyzed"])'; }
before=$(stored)
start=$(date +%s.%N)
for i in $(seq 1 "$instances"); do
    $bin serve --source nats --nats-stream "$stream" --nats-subject "$subject" \
        --listen 127.0.0.1:0 --db "$db" --format json > /dev/null 2> "$work/source-$i.err" &
    pids+=($!)
done
until [ "$(stored)" -ge $((before + lines)) ]; do
    sleep 0.2
done
done_at=$(date +%s.%N)
printf '%d instance(s): %d lines analyzed and stored in %.2f s (%.0f lines/s)\n' "$instances" \
    "$lines" "$(echo "$done_at - $start" | bc)" "$(echo "$lines / ($done_at - $start)" | bc -l)"

python3 - > "$work/burst.ndjson" <<'PY'
import datetime, json
now = datetime.datetime.now(datetime.timezone.utc).isoformat()
for _ in range(1000):
    print(json.dumps({"timestamp": now, "service": "inventory-db", "level": "ERROR",
                      "message": "Database Connection Refused: Pool exhausted"}))
PY
first=()
all=()
for round in 1 2 3 4 5; do
    before=$(stored)
    sent=$(date +%s.%N)
    curl -sf -o /dev/null -H 'Content-Type: application/x-ndjson' --data-binary @"$work/burst.ndjson" "$gateway/api/logs"
    until [ "$(stored)" -gt "$before" ]; do sleep 0.02; done
    first+=("$(echo "$(date +%s.%N) - $sent" | bc)")
    until [ "$(stored)" -ge $((before + 1000)) ]; do sleep 0.02; done
    all+=("$(echo "$(date +%s.%N) - $sent" | bc)")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
printf 'publish to stored, median of 5 bursts of 1000 lines: first window %.2f s, every line %.2f s\n' \
    "$(median "${first[@]}")" "$(median "${all[@]}")"
