#!/usr/bin/env bash
# Throughput through NATS JetStream on this machine, end to end: shippers POST demo lines in
# requests of 1,000 to a gateway (`--forward nats`), which publishes them into the stream;
# `--source nats` instances, already running, analyze them from it and store their windows.
# Measured from the first POST until the database holds every line, beside one `analyze` of
# the same lines in the same run.
#
# Then the delay from posting a burst of 1,000 meltdown lines to its first window being stored,
# and to all of its lines being stored; the median of 5.
#
# Usage: benches/nats_throughput.sh [LINES] [INSTANCES]   (default 200000 lines, 1 instance)
# Needs a NATS server with JetStream on 127.0.0.1:4222 and python3. Uses SQLite for one
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
nats=(--nats-stream "$stream" --nats-subject "$subject")

$bin demo-logs --fast --seed 1 --count "$lines" --meltdown-after 60 --meltdown-for 120 > "$work/lines.ndjson"

# Waits for a server's banner on its stderr and prints its address.
address_of() {
    until grep -q 'Incident Commander on' "$1"; do sleep 0.1; done
    grep -o 'http://[0-9.:]*' "$1" | head -n 1
}

$bin serve --source none --forward nats "${nats[@]}" \
    --listen 127.0.0.1:0 --db "sqlite://$work/gateway.db" > /dev/null 2> "$work/gateway.err" &
pids+=($!)
gateway=$(address_of "$work/gateway.err")
for i in $(seq 1 "$instances"); do
    $bin serve --source nats "${nats[@]}" --listen 127.0.0.1:0 --db "$db" --format json \
        > /dev/null 2> "$work/source-$i.err" &
    pids+=($!)
    address_of "$work/source-$i.err" > /dev/null
done

stored() { $bin stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["lines_analyzed"])'; }
before=$(stored)

# Four shippers, each on one kept-alive connection, POST the requests in turn.
start=$(date +%s.%N)
python3 - "$gateway" "$work/lines.ndjson" <<'PY'
import http.client, sys, threading, urllib.parse
url, path = urllib.parse.urlparse(sys.argv[1]), sys.argv[2]
lines = open(path, "rb").read().splitlines(keepends=True)
bodies = [b"".join(lines[i:i + 1000]) for i in range(0, len(lines), 1000)]
def ship(mine):
    conn = http.client.HTTPConnection(url.hostname, url.port)
    for body in mine:
        conn.request("POST", "/api/logs", body, {"Content-Type": "application/x-ndjson"})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 202:
            sys.exit(f"POST answered {answer.status}")
threads = [threading.Thread(target=ship, args=(bodies[k::4],)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
accepted=$(date +%s.%N)
# Each look starts a process: not too often, or the looking slows what it measures.
until [ "$(stored)" -ge $((before + lines)) ]; do
    sleep 0.25
done
done_at=$(date +%s.%N)
e2e=$(echo "$lines / ($done_at - $start)" | bc -l)
printf 'gateway: %d lines accepted (202) in %.2f s (%.0f lines/s)\n' "$lines" \
    "$(echo "$accepted - $start" | bc)" "$(echo "$lines / ($accepted - $start)" | bc -l)"
printf '%d instance(s): %d lines posted, analyzed and stored in %.2f s (%.0f lines/s end to end)\n' \
    "$instances" "$lines" "$(echo "$done_at - $start" | bc)" "$e2e"

one=$($bin analyze --format json "$work/lines.ndjson" 2>&1 > /dev/null | tail -n 1 | grep -o '[0-9]* lines/s' | cut -d' ' -f1)
printf 'one analyze of the same lines: %d lines/s; end to end is %.2f of it\n' "$one" \
    "$(echo "$e2e / $one" | bc -l)"

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
    python3 - "$gateway" "$work/burst.ndjson" <<'PY'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1] + "/api/logs", data=open(sys.argv[2], "rb").read(),
                                 headers={"Content-Type": "application/x-ndjson"})
assert urllib.request.urlopen(request).status == 202
PY
    until [ "$(stored)" -gt "$before" ]; do sleep 0.02; done
    first+=("$(echo "$(date +%s.%N) - $sent" | bc)")
    until [ "$(stored)" -ge $((before + 1000)) ]; do sleep 0.02; done
    all+=("$(echo "$(date +%s.%N) - $sent" | bc)")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
printf 'publish to stored, median of 5 bursts of 1000 lines: first window %.2f s, every line %.2f s\n' \
    "$(median "${first[@]}")" "$(median "${all[@]}")"
