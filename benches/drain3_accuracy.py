#!/usr/bin/env python3
"""Grouping accuracy of Python drain3 with its defaults, scored as the accuracy bench scores ours.

Usage: drain3_accuracy.py DATA_DIR   (the folder holding the <Dataset>/ folders of loghub-2k)
Needs `pip install drain3`.
"""

import csv
import sys
from collections import Counter
from pathlib import Path


def grouping_accuracy(truth, predicted):
    true_size = Counter(truth)
    predicted_size = Counter(predicted)
    pair_size = Counter(zip(predicted, truth))
    correct = sum(
        1
        for t, p in zip(truth, predicted)
        if pair_size[(p, t)] == true_size[t] == predicted_size[p]
    )
    return correct / max(len(truth), 1)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    from drain3 import TemplateMiner

    root = Path(sys.argv[1])
    scores = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = folder.name
        with open(folder / f"{name}_2k.log_structured.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        miner = TemplateMiner()
        assigned = [miner.add_log_message(r["Content"])["cluster_id"] for r in rows]
        truth = [r["EventId"] for r in rows]
        scores.append((name, grouping_accuracy(truth, assigned)))
        print(f"{name:<12} {scores[-1][1]:.4f}")
    print(f"{'average':<12} {sum(s for _, s in scores) / len(scores):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
