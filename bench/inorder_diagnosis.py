"""Diagnosis: what blocks clean in-order batches of the gate pass-rate bench (session 24, issue 14).

    python bench/inorder_diagnosis.py [datasets, default doctor_aus,spam7]

Replays bench/gate_pass_rate.py's batches (its ``run`` with an ``inspect`` hook: same seeds and gate, one dataset
a run as its per-dataset results files are made; seed 1 with 12 batches and seed 0 with 10, in file order) and, for each clean batch the default gate blocks,
says which test blocks and by how much:

- ``copies.max_copies_rate``: its excess (copies beyond the quantiles plus the slack), the classes over their
  quantile (``class held: copies > bound``, the bound the quantile plus the slack for class 1) and the total's
  test (``total: copies > bound``), with the rates the quantiles were taken at (whole base -> clumped);
- ``detectors.extreme``: each extreme record, the detector whose extreme p-value is smallest and for the
  duplicates detector whether it is the per-record copy test (the record's extra copies, its class, and the
  ceiling ``BatchCopies.single_ceiling`` gives the class) or the tight-cluster / constant-record rule;
  for others the outlier score's p against ``alpha / n``.

Writes bench/results/inorder-diagnosis-s24.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench

from provenance.detectors.extreme import DEFAULT_EXTREME_ALPHA
from provenance.gate.copies import Copies
from provenance.profiles.batch_copies import copy_class


def copies_of(batch: bench.Batch) -> Copies:
    """The copies rule's ``Copies`` of the batch's clean delta, as ``bench.copies_over`` builds them."""
    delta = batch.clean
    kinds = np.asarray(delta.kinds)
    extra, held = np.asarray(delta.extra_copies), np.asarray(delta.base_copies)
    copied = extra > 0
    added = int((kinds == "added").sum()) + int(extra.sum())
    profile = batch.profile
    return Copies(
        extra[copied].astype(np.int64),
        held[copied].astype(np.int64),
        added,
        int(profile.n_records),
        batch.repeated,
        profile.within_batch_copies,
    )


def copies_words(c: Copies) -> str:
    """The copies rule's excess, the classes over their bound and the total's test."""
    excess, allowed, classes, total = c.excess(bench.COPIES_RATE, bench.COPIES_LEAST)
    if c.total < bench.COPIES_LEAST or excess <= 0:
        return "-"
    rates = c.rates()
    over = []
    for x in classes:
        bound = x["quantile"] + (allowed if x["class"] == 0 else 0)
        if x["copies"] > bound:
            over.append(f"held {x['held']}: {x['copies']} > {bound} (rate {rates[x['class']]:.4f} -> {x['rate']:.4f})")
    bound = total["quantile"] + allowed
    if total["copies"] > bound:
        over.append(
            f"total: {total['copies']} > {bound} on {total['unique_rows']} unique rows (rate -> {total['rate']:.4f})"
        )
    return f"excess {excess} of {c.rows_added} rows; " + "; ".join(over)


def extreme_words(batch: bench.Batch) -> str:
    """Each extreme record of the clean delta: which detector, and the copy test's numbers or the outlier p."""
    outcome = batch.clean_outcome
    n = outcome["n"]
    level = DEFAULT_EXTREME_ALPHA / max(n, 1)
    records = outcome["verdicts"].records
    results = [r for r in outcome["results"] if r.status == "ran" and r.extreme_p is not None]
    clumping = batch.profile.within_batch_copies
    ceiling = clumping.single_ceiling() if clumping is not None else None
    words = []
    for i, v in enumerate(records):
        if v.extreme_p > level:
            continue
        best = min(results, key=lambda r: float(np.asarray(r.extreme_p)[i]))
        if best.detector == "duplicates" and batch.clean.extra_copies[i] > 0 and float(best.extreme_p[i]) > 0:
            held = int(batch.clean.base_copies[i])
            k = int(copy_class(np.array([held]))[0])
            top = "-" if ceiling is None else f"{ceiling[min(k, len(ceiling) - 1)]:g}"
            words.append(
                f"copy test: {int(batch.clean.extra_copies[i])} extra rows of a record held {held} (class {k}, "
                f"ceiling {top}), p {v.extreme_p:.1e}"
            )
        elif best.detector == "duplicates":
            words.append("duplicates rule (tight cluster / constant record), p 0")
        else:
            words.append(f"{best.detector} outlier score, p {v.extreme_p:.1e} <= {level:.1e}")
    return "; ".join(words) or "-"


def main(argv: list[str]) -> None:
    """Run the diagnosis and write bench/results/inorder-diagnosis-s24.md."""
    names = (argv[0] if argv else "doctor_aus,spam7").split(",")
    lines = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), ""]
    lines += [
        "| run | dataset | start | n | blocked by | copies rule | detectors.extreme |",
        "|---|---|---|---|---|---|---|",
    ]
    for (per, seed), name in ((run, name) for run in ((12, 1), (10, 0)) for name in names):
        rows = []

        def inspect(batch: bench.Batch, rows: list = rows) -> None:
            if batch.clean_outcome["blocking"]:
                rows.append(batch)

        repeated_of = {}
        original = bench.base_repetition

        def base_repetition(base_digests):
            facts = original(base_digests)
            repeated_of[len(base_digests)] = facts[1]
            return facts

        bench.base_repetition = base_repetition
        try:
            bench.run([name], per, seed, out=lambda *a, **k: None, inspect=inspect)
        finally:
            bench.base_repetition = original
        for batch in rows:
            batch.repeated = repeated_of[batch.start]
            outcome = batch.clean_outcome
            lines.append(
                f"| {per} seed{seed} | {batch.dataset} | {batch.start} | {outcome['n']} | {', '.join(outcome['blocking'])} "
                f"| {copies_words(copies_of(batch))} | {extreme_words(batch)} |"
            )
    lines += ["", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    text = "\n".join(lines)
    print(text)
    (Path(__file__).resolve().parent / "results" / "inorder-diagnosis-s24.md").write_text(
        "# Why clean in-order batches block (generated by bench/inorder_diagnosis.py)\n\n" + text + "\n"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
