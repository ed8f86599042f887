#!/usr/bin/env bash
# End-to-end speed of `analyze`, pinned to one core, with peak memory, beside the peers.
#
# Usage: benches/bench.sh DATA_DIR [LINES]
#   DATA_DIR  the folder holding loghub-2k/ (e.g. ../shared/data)
#   LINES     size of the generated input (default 2,000,000)
#
# Needs python3; the Python drain3 peer runs when `pip install drain3` has been done.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: benches/bench.sh DATA_DIR [LINES]}
lines=${2:-2000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --locked --quiet
bin=target/release/incident-commander
one_core="taskset -c 0"

python3 benches/make_corpus.py "$data" "$lines" "$work/loghub.log"
python3 benches/make_corpus.py "$data" $((lines * 4)) "$work/loghub-x4.log"
$bin demo-logs --fast --meltdown --seed 1 --count "$lines" --start 2026-01-01T00:00:00Z > "$work/meltdown.log"

measure() { # NAME FILE ARGS...: runs, prints the summary line and the peak memory
    local name=$1 file=$2
    shift 2
    printf '%-34s ' "$name"
    /usr/bin/time -f '%M' -o "$work/rss" $one_core $bin "$@" "$file" > /dev/null 2> "$work/err" || {
        cat "$work/err"; exit 1; }
    printf '%s; peak RSS %d MiB\n' "$(tail -n 1 "$work/err" | sed 's/^[^:]*: //')" $(( $(cat "$work/rss") / 1024 ))
}

echo "== incident-commander, one core ($(nproc) cores on this machine)"
measure "analyze loghub mix" "$work/loghub.log" analyze --format json
measure "analyze loghub mix, 4x longer" "$work/loghub-x4.log" analyze --format json
measure "analyze demo meltdown (JSON)" "$work/meltdown.log" analyze --format json

printf '%-34s ' "templates --assign loghub mix"
start=$(date +%s.%N)
$one_core $bin templates --assign "$work/loghub.log" > /dev/null
end=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{int(sys.argv[3])/s:,.0f} lines/s')" "$start" "$end" "$lines"

echo "== peers on the same input"
printf '%-34s ' "read and split lines (wc -l)"
start=$(date +%s.%N)
$one_core wc -l < "$work/loghub.log" > /dev/null
end=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{int(sys.argv[3])/s:,.0f} lines/s')" "$start" "$end" "$lines"
if python3 -c "import drain3" 2>/dev/null; then
    $one_core python3 benches/drain3_peer.py "$work/loghub.log" --lines 200000 2>/dev/null
else
    echo "drain3 (Python): not installed (pip install drain3)"
fi
