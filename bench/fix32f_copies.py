"""Issue 14 (fix32f): how near clean records come to ``collision``'s extreme evidence, a near-copy of a base record
of another class (``provenance.detectors.extreme.other_class_copy_p``).

    OMP_NUM_THREADS=1 nice python bench/fix32f_copies.py

Replays the gate bench's batches (bench/gate_pass_rate.py, sets 6 0, 10 0 and 12 1: 112 clean + 112 poisoned batches
per order, in file order and at random) and, for each batch, reads collision's extreme p-values as the gate counts
them (divided by its share of the level, ``extreme.OTHER_CLASS_COPY_SHARE``: weighted Bonferroni) against the rule's bar ``extreme_alpha / n``:
the smallest ratio over the batch's records (1 or below blocks), and how many clean and poisoned records reach it.
Prints the five batches nearest the bar per order and side, with ``uptime`` before and after and the CPU time; the
gate outcomes themselves come from ``bench/inorder_fpr_s29.py --variants library``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench

from provenance.detectors.extreme import DEFAULT_EXTREME_ALPHA, OTHER_CLASS_COPY_SHARE


def collision_ratios(delta, outcome, poison: np.ndarray) -> tuple[float, int, int]:
    """``(smallest ratio to the bar, poisoned records at or below it, clean records at or below it)``."""
    (result,) = [r for r in outcome["results"] if r.detector == "collision"]
    if result.extreme_p is None:
        return float("inf"), 0, 0
    ratio = np.asarray(result.extreme_p) / OTHER_CLASS_COPY_SHARE * len(delta) / DEFAULT_EXTREME_ALPHA
    return float(ratio.min()), int((ratio[poison] <= 1).sum()), int((ratio[~poison] <= 1).sum())


def main() -> None:
    """Print the table (see the module docstring)."""
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cpu = time.process_time()
    for order in ("inorder", "random"):
        seen: dict[str, list[tuple[float, str, int, int]]] = {"clean": [], "poisoned": []}

        def inspect(batch, seen=seen) -> None:
            clean = collision_ratios(batch.clean, batch.clean_outcome, np.zeros(len(batch.clean), bool))
            seen["clean"].append((clean[0], batch.dataset, clean[1], clean[2]))
            poisoned = collision_ratios(batch.poisoned, batch.poisoned_outcome, batch.poison)
            seen["poisoned"].append((poisoned[0], f"{batch.dataset} {batch.attack}", poisoned[1], poisoned[2]))

        for per, seed in [(6, 0), (10, 0), (12, 1)]:
            bench.run(
                bench.DEFAULT_DATASETS.split(","), per, seed, out=lambda *a, **k: None, order=order, inspect=inspect
            )
        for side, rows in seen.items():
            rows.sort()
            nearest = ", ".join(f"{ratio:.0f}x ({name})" for ratio, name, _, _ in rows[:5])
            print(
                f"{order} {side}: {len(rows)} batches; poisoned records at the bar {sum(r[2] for r in rows)}, clean "
                f"records at the bar {sum(r[3] for r in rows)}; nearest batches: {nearest}"
            )
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"CPU time of the run: {time.process_time() - cpu:.0f} s")


if __name__ == "__main__":
    main()
