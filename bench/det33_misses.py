"""Session 33 (det33, issue 14): the poisoned batches the default gate passes, and why.

    OMP_NUM_THREADS=1 nice python bench/det33_misses.py [orders, default inorder,random]

Replays the gate bench's batches (bench/gate_pass_rate.py, sets 6 0, 10 0 and 12 1 = 112 clean + 112 poisoned
per order; its ``run`` with an ``inspect`` hook and its own ``gate``) and, for every poisoned batch that passes,
prints: dataset, set, start, attack, poisoned records, how many of them the combined verdict flags, per detector
how many poison records it alone flags (p <= fpr) and its lowest p on them, the budget (flags, beyond, far:
count/allowed, rho), the plain binomial tail of the flag count (no drift, no finite-reference term: what any
narrowing of the budget could reach at most, bench/results/gate-misses.md's session 16) and the clean twin's flags.
Each miss gets one reason:

- ``invisible``: at most one poison record flagged by the combined verdict, so no count can see the attack;
- ``budget``: the flag count is past the plain binomial bar at ``alpha`` (a narrower budget could block it);
- ``diluted``: poison flagged (2 or more), but within even the binomial allowance beside the clean records' flags.

Writes bench/results/det33-misses[-ORDER].md with ``uptime`` lines and the run's CPU time.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench

from provenance import stats as prov_stats

SETS = ((6, 0), (10, 0), (12, 1))


def reason_of(batch: bench.Batch) -> tuple[str, float]:
    """``(reason, binomial tail p)`` of a poisoned batch the gate passes (the module docstring's three)."""
    v = batch.poisoned_outcome["verdicts"]
    n, k = len(v.records), len(v.flagged)
    tail = prov_stats.binomial_sf(k, n, bench.FPR) if k else 1.0
    if int(batch.poisoned_outcome["flags"][batch.poison].sum()) <= 1:
        return "invisible", tail
    return ("budget" if tail < bench.ALPHA else "diluted"), tail


def describe(batch: bench.Batch, config: tuple[int, int], reason: str, tail: float) -> str:
    """One table row for a passing poisoned batch."""
    o, c = batch.poisoned_outcome, batch.clean_outcome
    v, b = o["verdicts"], o["budget"]
    k = int(batch.poison.sum())
    per = []
    for r in o["results"]:
        if r.p_values is None:
            continue
        p = np.asarray(r.p_values, dtype=np.float64)[batch.poison]
        hits = int((p <= bench.FPR).sum())
        if hits or np.nanmin(p) <= 0.05:
            per.append(f"{r.detector} {hits} (min {np.nanmin(p):.3f})")
    labels = sorted(set(np.asarray(batch.poisoned.labels, dtype=str)[batch.poison]))
    return (
        f"| {batch.dataset} | {config[0]} {config[1]} | {batch.start} | {batch.attack} | {k} ({','.join(labels)}) "
        f"| {int(o['flags'][batch.poison].sum())} | {'; '.join(per) or '-'} "
        f"| {len(v.flagged)}/{b.flags}, {len(v.beyond_reference)}/{b.beyond}, {len(v.far_beyond_reference)}/{b.far}, "
        f"rho {b.rho:.3f} | {tail:.1e} | {c['flagged']} | {reason} |"
    )


def misses(order: str) -> list[str]:
    """The lines of one order: a row per passing poisoned batch, then counts by reason, attack and dataset."""
    rows: list[str] = []
    reasons: Counter[str] = Counter()
    attacks: Counter[str] = Counter()
    datasets: Counter[str] = Counter()
    total = [0, 0]
    for config in SETS:

        def inspect(batch: bench.Batch, config: tuple[int, int] = config) -> None:
            total[0] += 1
            if batch.poisoned_outcome["blocking"]:
                return
            total[1] += 1
            reason, tail = reason_of(batch)
            reasons[reason] += 1
            attacks[batch.attack] += 1
            datasets[batch.dataset] += 1
            rows.append(describe(batch, config, reason, tail))

        bench.run(bench.DEFAULT_DATASETS.split(","), *config, out=lambda *a, **k: None, order=order, inspect=inspect)
    return [
        f"## {order}: {total[1]} of {total[0]} poisoned batches pass",
        "",
        "By reason: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()),
        "By attack: " + ", ".join(f"{a} {n}" for a, n in attacks.most_common()),
        "By dataset: " + ", ".join(f"{d} {n}" for d, n in datasets.most_common()),
        "",
        "| dataset | set | start | attack | poison (labels) | poison flagged | detectors alone at p <= fpr on the "
        "poison (lowest p) | flags, beyond, far: count/allowed, rho | binomial tail of flags | clean twin flags "
        "| reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def main(argv: list[str]) -> None:
    orders = (argv[0] if argv else "inorder,random").split(",")

    def body(out) -> None:
        for order in orders:
            for line in misses(order):
                out(line)

    name = "det33-misses.md" if len(orders) > 1 else f"det33-misses-{orders[0]}.md"
    bench.logged_run(name, HEADER, body)


HEADER = """# The poisoned batches the default gate passes, and why (generated by bench/det33_misses.py)

See the script's docstring for the columns and the three reasons.
"""


if __name__ == "__main__":
    main(sys.argv[1:])
