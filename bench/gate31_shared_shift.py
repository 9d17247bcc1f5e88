"""Session 31 (gate31, issue 14): do gradient-matching poisons share a displacement a delta-level test could see?

    python bench/gate31_shared_shift.py collect   # runs the gate bench's batches once, keeps each statistic
    python bench/gate31_shared_shift.py render    # the results file from what ``collect`` kept

Exploration, not a rule: the gate bench's batches (bench/gate_pass_rate.py, sets 6 0, 10 0, 12 1, file order and
shuffled) scored once by the library; per clean and poisoned delta two delta-level statistics, compared between a
poisoned batch and its clean twin and against every clean batch of the same dataset and order:

- ``gradient ratio``: the gradient detector's own ``shared_direction_ratio`` (its summary: the squared norm of the
  delta's mean loss-gradient shift over the variance of a mean of n clean records); no rule reads it today.
- ``displacement``: per class, each added record's offset from the mean of its ``NEIGHBOURS`` nearest base sample
  records of the same class (the profile's standardised space), cross-fitted: the mean offset of one digest half
  is the direction the other half's offsets are projected on; the class's statistic is the mean projection over
  its standard error (a t-like z), the delta's the largest over classes with at least ``LEAST`` records.
  Gradient matching (provenance/demo/attacks.py) moves records of one class by signed steps within 0.5 base std
  per feature, the same sign pattern for every poison: a shared displacement.

Kept data: /tmp/gate31-shared-shift.pkl. Writes bench/results/gate31-shared-shift.md.
"""

from __future__ import annotations

import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench
from alternation import uptime
from gate31_label_scan import reading

from provenance.detectors.shared import delta_labels, delta_Z

KEPT = Path("/tmp/gate31-shared-shift.pkl")
RESULTS = Path(__file__).resolve().parent / "results" / "gate31-shared-shift.md"
CONFIGS = ((6, 0), (10, 0), (12, 1))
NEIGHBOURS = 5
LEAST = 6


def displacement(profile, delta) -> float:
    """The largest per-class cross-fitted shared-offset z of ``delta``'s added records (module docstring)."""
    Z = delta_Z(profile, delta).astype(np.float64)
    labels = delta_labels(profile, delta)
    added = np.array([k == "added" for k in delta.kinds], dtype=bool)
    halves = (delta.digest_array[:, 0] & 1).astype(np.int64)
    ref_Z = profile.sample_Z.astype(np.float64)
    ref_labels = profile.sample_labels.astype(np.int64)
    best = 0.0
    for c in np.unique(labels[added & (labels >= 0)]):
        rows = np.flatnonzero(added & (labels == c))
        base = ref_Z[ref_labels == c]
        if len(rows) < LEAST or len(base) < NEIGHBOURS:
            continue
        d2 = ((Z[rows, None, :] - base[None, :, :]) ** 2).sum(-1)
        near = np.argpartition(d2, NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]
        offsets = Z[rows] - base[near].mean(axis=1)
        projections = []
        for half in (0, 1):
            scored, other = halves[rows] == half, halves[rows] != half
            if not scored.any() or not other.any():
                continue
            direction = offsets[other].mean(axis=0)
            norm = float(np.linalg.norm(direction))
            if norm > 0:
                projections.append(offsets[scored] @ (direction / norm))
        if not projections:
            continue
        p = np.concatenate(projections)
        if len(p) > 1 and p.std(ddof=1) > 0:
            best = max(best, float(p.mean() / (p.std(ddof=1) / np.sqrt(len(p)))))
    return best


def gradient_ratio(outcome) -> float:
    for r in outcome["results"]:
        if r.detector == "gradient" and r.status == "ran":
            return float(r.summary.get("shared_direction_ratio", 0.0))
    return 0.0


def collect() -> None:
    rows = []
    cpu, before = time.process_time(), uptime()
    for order in ("inorder", "random"):
        for per, seed in CONFIGS:

            def inspect(batch, per=per, seed=seed, order=order) -> None:
                rows.append(
                    {
                        "order": order,
                        "config": (per, seed),
                        "dataset": batch.dataset,
                        "start": batch.start,
                        "attack": batch.attack,
                        "clean_blocked": bool(batch.clean_outcome["blocking"]),
                        "poisoned_blocked": bool(batch.poisoned_outcome["blocking"]),
                        "clean": (gradient_ratio(batch.clean_outcome), displacement(batch.profile, batch.clean)),
                        "poisoned": (
                            gradient_ratio(batch.poisoned_outcome),
                            displacement(batch.profile, batch.poisoned),
                        ),
                    }
                )

            bench.run(
                bench.DEFAULT_DATASETS.split(","), per, seed, out=lambda *a, **k: None, order=order, inspect=inspect
            )
            print(order, per, seed, len(rows), flush=True)
    KEPT.write_bytes(
        pickle.dumps({"rows": rows, "uptime": [before, uptime()], "cpu_s": round(time.process_time() - cpu)})
    )


STATISTICS = ("gradient ratio", "displacement")


def render() -> None:
    kept = pickle.loads(KEPT.read_bytes())
    rows = kept["rows"]
    lines = [
        "# Shared displacement of gradient-matching poisons (generated by bench/gate31_shared_shift.py)",
        "",
        f"Collected between `{kept['uptime'][0]}` and `{kept['uptime'][1]}`; CPU time {kept['cpu_s']} s.",
        "",
        *reading(RESULTS),
    ]
    for order in ("inorder", "random"):
        chosen = [r for r in rows if r["order"] == order]
        clean_max = defaultdict(lambda: [0.0, 0.0])
        for r in chosen:
            for j in range(2):
                clean_max[r["dataset"]][j] = max(clean_max[r["dataset"]][j], r["clean"][j])
        lines += [
            f"## {order}: per attack, poisoned batches above every clean batch of their dataset (and how many of "
            "those the gate passes)",
            "",
            "| attack | batches | " + " | ".join(f"{s}: above all clean (gate passes)" for s in STATISTICS) + " |",
            "|---|---|" + "---|" * len(STATISTICS),
        ]
        by_attack = defaultdict(list)
        for r in chosen:
            by_attack[r["attack"]].append(r)
        for attack, group in sorted(by_attack.items()):
            cells = []
            for j in range(len(STATISTICS)):
                above = [r for r in group if r["poisoned"][j] > clean_max[r["dataset"]][j]]
                cells.append(f"{len(above)} ({sum(not r['poisoned_blocked'] for r in above)})")
            lines.append(f"| {attack} | {len(group)} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Gradient matching, batch by batch (statistic: clean twin -> poisoned; the dataset's clean max):",
            "",
        ]
        lines += [
            "| dataset | set | start | gate blocks | " + " | ".join(STATISTICS) + " |",
            "|---|---|---|---|---|---|",
        ]
        for r in chosen:
            if r["attack"] != "gradient_matching":
                continue
            cells = [
                f"{r['clean'][j]:.2f} -> {r['poisoned'][j]:.2f} ({clean_max[r['dataset']][j]:.2f})"
                for j in range(len(STATISTICS))
            ]
            lines.append(
                f"| {r['dataset']} | {r['config'][0]} {r['config'][1]} | {r['start']} | "
                f"{'yes' if r['poisoned_blocked'] else 'no'} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:] == ["collect"]:
        collect()
        render()
    elif sys.argv[1:] == ["render"]:
        render()
    else:
        raise SystemExit(__doc__)
