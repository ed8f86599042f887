#!/usr/bin/env python3
"""The peer: Python drain3 with its defaults on the same input, lines per second.

Usage: drain3_peer.py FILE [--lines N]
Needs `pip install drain3`. Prints one line: lines, seconds, lines/s, clusters.
"""

import argparse
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--lines", type=int, default=None, help="stop after N lines")
    args = parser.parse_args()
    try:
        from drain3 import TemplateMiner
    except ImportError:
        print("drain3 is not installed: pip install drain3", file=sys.stderr)
        return 2
    miner = TemplateMiner()
    n = 0
    start = time.perf_counter()
    with open(args.file, encoding="utf-8", errors="replace") as f:
        for line in f:
            miner.add_log_message(line.rstrip("\n"))
            n += 1
            if args.lines is not None and n >= args.lines:
                break
    secs = time.perf_counter() - start
    print(f"drain3 (Python): {n} lines in {secs:.2f} s, {n / secs:,.0f} lines/s, "
          f"{len(miner.drain.clusters)} clusters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
