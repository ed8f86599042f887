#!/usr/bin/env python3
"""Builds a large benchmark input from the loghub 2k samples.

Usage: make_corpus.py DATA_DIR LINES OUT [--seed N]

DATA_DIR is the folder holding the loghub-2k/<Dataset>/ folders (or loghub-2k itself). The
output repeats each data set's raw lines in blocks of 2,000, data set after data set, with
every number in the message part replaced by a random one of the same length, so the miner
sees new values and the parser sees the real header formats. Output is deterministic for a
given seed.
"""

import argparse
import csv
import random
import re
import sys
from pathlib import Path

DIGITS = re.compile(r"\d+")


def load(dataset_dir: Path):
    """(header, content) pairs of one data set: content is the raw line's message suffix."""
    name = dataset_dir.name
    raw = (dataset_dir / f"{name}_2k.log").read_text(encoding="utf-8", errors="replace")
    raw_lines = raw.replace("\r\n", "\n").split("\n")
    with open(dataset_dir / f"{name}_2k.log_structured.csv", newline="", encoding="utf-8", errors="replace") as f:
        contents = [row["Content"] for row in csv.DictReader(f)]
    pairs = []
    for line, content in zip(raw_lines, contents):
        cut = line.rfind(content) if content else -1
        if cut >= 0:
            pairs.append((line[:cut], line[cut:]))
        else:
            pairs.append((line, ""))
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("lines", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    root = args.data_dir / "loghub-2k" if (args.data_dir / "loghub-2k").is_dir() else args.data_dir
    datasets = sorted(p for p in root.iterdir() if p.is_dir())
    if not datasets:
        print(f"no data sets under {root}", file=sys.stderr)
        return 2
    sets = [load(d) for d in datasets]
    rng = random.Random(args.seed)

    def vary(match):
        n = len(match.group(0))
        return str(rng.randrange(10 ** (n - 1) if n > 1 else 0, 10 ** n))

    written = 0
    with open(args.out, "w", encoding="utf-8") as out:
        while written < args.lines:
            for pairs in sets:
                for header, content in pairs:
                    if written >= args.lines:
                        break
                    out.write(header + DIGITS.sub(vary, content) + "\n")
                    written += 1
    print(f"wrote {written} lines from {len(sets)} data sets to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
