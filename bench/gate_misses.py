"""Benchmark: what the default gate lets through, and two per-class rules tried against it (session 15).

    python bench/gate_misses.py [batches per dataset, default 6] [seed, default 0] [inorder|random, default inorder]

Runs the batches of bench/gate_pass_rate.py (same datasets, seeds, attacks and gate; its ``run``
with an ``inspect`` hook) and writes bench/results/gate-misses[-random]-N-seedS.md:

- every poisoned batch the default gate passes, with each detector's p-values on its poison
  records (lowest first) and the clean twin's and the poisoned batch's counts against the
  budget of ``detectors.combined`` (flags, beyond, far; provenance.detectors.budget);
- two candidate rules, applied to every clean and poisoned batch on top of the default gate:
  ``class_shared``: per class of the delta, the count of records with combined p <= L
  (L in LEVELS) against a beta-binomial at rate L with the gate's own overdispersion
  (``Budget.rho``), Bonferroni over classes x levels, blocking at the gate's alpha;
  ``class_null``: the same count against the class's own null measured on the base, never on
  the delta: the rate at which the base's reference records of that class have combined
  p <= L (out of sample, as ``combine`` computes them: each record's pseudo-batch left out),
  add-one, and the spread of those counts over the base's pseudo-batches
  (``budget.overdispersion``, capped at CLASS_RHO_CAP) plus the finite reference's 1 / (m_c + 2).
  Poisoned batches of one attack often land in one class (a backdoor's target, a gradient
  attack's adversarial class), which a whole-delta count dilutes; the question is whether a
  clean batch in file order concentrates its flags in a class as much (a new writer's nines).

Prints and writes, per rule: clean batches passed, poisoned batches blocked, and which batches
changed. Heavy-ish: run with ``nice``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench

from provenance.detectors.budget import overdispersion, tail_p
from provenance.detectors.combine import DETECTOR_WEIGHTS, combined_p_values

LEVELS = (0.01, 0.05)  # the combined p-values at which a class's records are counted
CLASS_RHO_CAP = 0.05  # the largest per-class intra-batch correlation ``class_null`` allows for
RULES = ("class_shared", "class_null")


def reference_combined_p(results) -> np.ndarray:
    """Each reference record's combined p-value (m,), as ``combine`` calibrates the delta's: the
    weighted minimum of its out-of-sample per-detector p-values, ranked among the reference's; NaN
    where no detector scored it."""
    scored = [r for r in results if r.status == "ran" and r.p_values is not None and r.reference_p is not None]
    R = np.column_stack(
        [np.asarray(r.reference_p, dtype=np.float64) / DETECTOR_WEIGHTS.get(r.detector, 1.0) for r in scored]
    )
    finite = np.isfinite(R)
    T = np.where(finite.any(axis=1), np.min(np.where(finite, R, np.inf), axis=1), np.nan)
    out = np.full(len(T), np.nan)
    ok = np.isfinite(T)
    out[ok] = combined_p_values(T[ok], T[ok])
    return out


def class_scan_p(outcome: dict, labels: list[str], profile, per_class_null: bool) -> float:
    """The smallest per-class count p-value of a delta, times classes x levels (Bonferroni)."""
    p = np.array([v.p_value for v in outcome["verdicts"].records])
    labels_arr = np.asarray(labels, dtype=str)
    classes = np.unique(labels_arr)
    factor = max(len(classes) * len(LEVELS), 1)
    base_labels = np.asarray(profile.classes).astype(str)[profile.sample_labels.astype(np.int64)]
    base_batches = np.asarray(profile.sample_batches)
    reference_p = reference_combined_p(outcome["results"]) if per_class_null else None
    best = 1.0
    for c in classes:
        mine = labels_arr == c
        for level in LEVELS:
            count = int((p[mine] <= level).sum())
            if not per_class_null:
                best = min(best, tail_p(count, int(mine.sum()), level, outcome["budget"].rho) * factor)
                continue
            assert reference_p is not None
            ref = (base_labels == c) & np.isfinite(reference_p)
            if ref.sum() < 10:  # too few base records of the class to measure its null: not judged
                continue
            below = ref & (reference_p <= level)
            rate = (1.0 + below.sum()) / (1.0 + ref.sum())
            batches = np.unique(base_batches[ref])
            sizes = [int((ref & (base_batches == b)).sum()) for b in batches]
            flags = [int((below & (base_batches == b)).sum()) for b in batches]
            rho = overdispersion(sizes, flags, cap=CLASS_RHO_CAP) + 1.0 / (ref.sum() + 2.0)
            best = min(best, tail_p(count, int(mine.sum()), float(rate), rho) * factor)
    return float(min(best, 1.0))


def describe_miss(batch: bench.Batch) -> list[str]:
    """The lines for a poisoned batch the gate passes: its budget margins and each detector's
    p-values on its poison, with the clean twin's counts beside."""
    lines = []
    k = int(batch.poison.sum())
    for label, outcome in (("clean twin", batch.clean_outcome), ("poisoned", batch.poisoned_outcome)):
        v, b = outcome["verdicts"], outcome["budget"]
        lines.append(
            f"    {label:10s} n {b.n:3d}: flags {len(v.flagged)}/{b.flags}, beyond {len(v.beyond_reference)}/{b.beyond}, "
            f"far {len(v.far_beyond_reference)}/{b.far} (count/allowed; rho {b.rho:.3f}, reference {v.reference_size})"
        )
    p = batch.poisoned_outcome["p"][batch.poison]
    lines.append(f"    {'combined':12s} " + " ".join(f"{x:.3f}" for x in np.sort(p)))
    for r in batch.poisoned_outcome["results"]:
        if r.p_values is None:
            continue
        own = np.asarray(r.p_values)[batch.poison]
        lines.append(f"    {r.detector:12s} " + " ".join(f"{x:.3f}" for x in np.sort(own)))
    labels = sorted(set(np.asarray(batch.poisoned.labels, dtype=str)[batch.poison]))
    lines.insert(
        0,
        f"{batch.dataset:16s} start {batch.start:5d}: {batch.attack} x{k} labelled {','.join(labels)} passes "
        f"({int(batch.poisoned_outcome['flags'][batch.poison].sum())}/{k} poison flagged); p-values on the poison, lowest first:",
    )
    return lines


def main(argv: list[str]) -> None:
    """Run the benchmark and write its results file."""
    per_dataset = int(argv[0]) if argv else 6
    seed = int(argv[1]) if len(argv) > 1 else 0
    order = argv[2] if len(argv) > 2 else "inorder"
    if order not in ("inorder", "random"):
        raise SystemExit(f"order must be inorder or random, not {order!r}")
    names = bench.DEFAULT_DATASETS.split(",")
    misses: list[str] = []
    missed: dict[str, list[str]] = {}  # attack -> the datasets of its poisoned batches that pass
    tally = {rule: {"clean_pass": 0, "poison_block": 0, "changed": []} for rule in ("gate", *RULES)}
    batches = 0

    def inspect(batch: bench.Batch) -> None:
        nonlocal batches
        batches += 1
        clean_blocked = bool(batch.clean_outcome["blocking"])
        poison_blocked = bool(batch.poisoned_outcome["blocking"])
        if not poison_blocked:
            misses.extend(describe_miss(batch))
            missed.setdefault(batch.attack, []).append(batch.dataset)
        tally["gate"]["clean_pass"] += not clean_blocked
        tally["gate"]["poison_block"] += poison_blocked
        for rule in RULES:
            per_class_null = rule == "class_null"
            clean_p = class_scan_p(batch.clean_outcome, batch.clean.labels, batch.profile, per_class_null)
            poison_p = class_scan_p(batch.poisoned_outcome, batch.poisoned.labels, batch.profile, per_class_null)
            clean_now = clean_blocked or clean_p <= bench.ALPHA
            poison_now = poison_blocked or poison_p <= bench.ALPHA
            tally[rule]["clean_pass"] += not clean_now
            tally[rule]["poison_block"] += poison_now
            where = f"{batch.dataset} start {batch.start}"
            if clean_now and not clean_blocked:
                tally[rule]["changed"].append(f"clean {where} now BLOCKED (p x K {clean_p:.2g})")
            if poison_now and not poison_blocked:
                tally[rule]["changed"].append(f"{batch.attack} {where} now blocked (p x K {poison_p:.2g})")

    def body(out) -> None:
        bench.run(names, per_dataset, seed, out=lambda *a, **k: None, order=order, inspect=inspect)
        out(f"{batches} clean and {batches} poisoned batches ({order}, {per_dataset} per dataset, seed {seed})")
        out("")
        out(f"Poisoned batches the default gate passes: {sum(len(d) for d in missed.values())}, by attack and dataset:")
        for attack, datasets in sorted(missed.items()):
            counts = ", ".join(f"{d} {datasets.count(d)}" for d in sorted(set(datasets)))
            out(f"  {attack:22s} {len(datasets):2d}: {counts}")
        out("")
        for line in misses:
            out(line)
        out("")
        for rule, t in tally.items():
            lo, hi = bench.wilson(t["poison_block"], batches)
            out(
                f"{rule:13s} clean passed {t['clean_pass']}/{batches}; poisoned blocked {t['poison_block']}/{batches} "
                f"(95% Wilson {lo:.1%}-{hi:.1%})"
            )
            for change in t["changed"]:
                out(f"    {change}")

    name = f"gate-misses{'-random' if order == 'random' else ''}-{per_dataset}-seed{seed}.md"
    bench.logged_run(name, HEADER, body)


HEADER = """# What the default gate lets through, and two per-class rules tried (generated by bench/gate_misses.py)

The batches of bench/gate_pass_rate.py (same datasets, seeds and attacks). For each poisoned
batch the default gate passes: the clean twin's and the poisoned batch's counts against the
budget of `detectors.combined` (count/allowed), and every detector's p-values on the poison
records, lowest first. Then two candidate rules on top of the default gate (the module's
docstring): `class_shared` (per class, combined flags at p <= 0.01 and 0.05 against the gate's own
overdispersion) and `class_null` (the same counts against the class's own null, measured on the
base's reference records out of sample, overdispersion over its pseudo-batches capped at 0.05),
each Bonferroni over classes x levels at alpha 0.001. Neither is in the default policy: see
bench/results/gate-misses.md for the conclusion. 2-CPU machine shared by several engineers; load
on the `uptime` lines.
"""


if __name__ == "__main__":
    main(sys.argv[1:])
