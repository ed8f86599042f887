#!/usr/bin/env bash
# What LLM analysis costs per hour of meltdown, against a fake API that counts four characters
# per token (benches/fake_llm.py), beside the seed's approach (every window's raw lines sent).
#
# Usage: benches/llm_cost.sh [MINUTES]   (minutes of demo meltdown, default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-60}
work=$(mktemp -d)
trap 'kill $fake 2>/dev/null; rm -rf "$work"' EXIT

cargo build --release --locked --quiet
bin=target/release/incident-commander
meltdown=$((minutes * 60))
$bin demo-logs --fast --seed 1 --start 2026-01-01T00:00:00Z --count $((1200 + meltdown * 500)) \
    --meltdown-after 120 --meltdown-for $meltdown > "$work/outage.log"

python3 benches/fake_llm.py "$work/calls.jsonl" > "$work/port" &
fake=$!
while [ ! -s "$work/port" ]; do sleep 0.1; done
IC_LLM_API_KEY=sk-bench $bin analyze "$work/outage.log" --format json --analyzer openai \
    --llm-base-url "http://127.0.0.1:$(cat "$work/port")/v1" > "$work/reports.jsonl" 2> "$work/err"
tail -n 1 "$work/err"

python3 - "$work" "$minutes" <<'PY'
import json, sys
work, minutes = sys.argv[1], int(sys.argv[2])
calls = [json.loads(l) for l in open(f"{work}/calls.jsonl")]
reports = [json.loads(l) for l in open(f"{work}/reports.jsonl")]
full = [r for r in reports if r["window"]["flush"] == "size"]
# The seed sent each window's raw lines: measure them on the meltdown part of the input.
lines = [l for l in open(f"{work}/outage.log") if "Pool exhausted" in l]
raw_window = sum(len(l) for l in lines) / len(lines) * 100
prompt = sum(c["chars"] for c in calls) / len(calls)
first = calls[0]["chars"]
tokens_in = sum(c["prompt"] for c in calls)
tokens_out = sum(c["completion"] for c in calls)
per_hour = 60 / minutes
print(f"windows: {len(reports)} ({len(full)} full), LLM calls: {len(calls)}")
print(f"a raw meltdown window: {raw_window:.0f} chars; the first meltdown window's prompt:"
      f" {first} chars ({raw_window / first:.1f}x smaller)")
print(f"prompt per call: {prompt:.0f} chars ({raw_window / prompt:.1f}x smaller than a raw"
      f" window), {tokens_in / len(calls):.0f} tokens")
print(f"per hour of meltdown: {len(calls) * per_hour:.0f} calls,"
      f" {tokens_in * per_hour:.0f} prompt + {tokens_out * per_hour:.0f} completion tokens")
seed = len(full) * raw_window / 4 * per_hour
print(f"the seed's approach (every window's raw lines): {len(full) * per_hour:.0f} calls,"
      f" about {seed:.0f} prompt tokens per hour")
PY
