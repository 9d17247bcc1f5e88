"""Benchmark: the copy statistic's pseudo-batches (count and trimming) against main's, on the gate pass-rate bench.

    python bench/copy_batch_variants.py [variant names, default all]

Session 24, issue 14. The copies rule (``gate/copies.py``) and the per-record copy test of ``detectors.extreme``
(``detectors/duplicates.py``) read how much the base's own file-order pseudo-batches repeat records
(``profiles.batch_copies``). Each variant sets how those batches are cut and trimmed, then replays every
dataset of bench/gate_pass_rate.py (its ``run``: digits, breast_cancer, cells, seattle_weather, attrition,
doctor_aus, spam7, one dataset a run as their results files are made) with seed 1 and 12 batches and seed 0
and 10, in file order and at random; main's settings (10 batches, the most clumped left out) run in the same
script. Variants:

- ``main``: ``COPY_PSEUDO_BATCHES`` 10, ``TRIMMED`` 1;
- ``bN-tT``: N pseudo-batches, the T most clumped left out (T = N / 10 keeps the rows left out a tenth of
  the base, as main's one batch of ten; T = 1 leaves out one batch only);
- ``delta-tT``: pseudo-batches of about the delta's rows (``round(base rows / rows added)`` of them, at least
  10): what a check that recomputes the statistic from the base's manifest could count (the gate reads the
  signed profile's today; here the bench recounts the base's rows for each delta);
- ``ratio-t1``: main's batches, and every class's rate (and the total's) raised, besides main's raise, by the
  most clumped batch's ratio but one of its share of copies to the share among the rows before it (the
  pseudo-batch's class is counted on a shorter base than a delivery's, so its copies of often-held records
  stay below the whole base's rates: bench/results/inorder-diagnosis-s24.md), at most ``CLUMPING_CAP``;
  ``ratio-half-t1`` the same from the later half of the batches only; ``ratio-up-t1`` the ratio on the classes
  of records the base holds twice or more and on the total, not on the class of records held at most once
  (where a flood of one new record's copies falls; re-delivery has the policy's slack there).

Prints and writes bench/results/copy-batch-variants-s24-VARIANTS.md (the variants run, joined by ``-``): per variant and run, clean batches passed and
poisoned ones blocked (95% Wilson intervals), and per dataset; the batches whose outcome differs from main's.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench

import provenance.profiles.batch_copies as batch_copies
import provenance.profiles.reference as reference

DATASETS = ("digits", "breast_cancer", "cells", "seattle_weather", "attrition", "doctor_aus", "spam7")
RUNS = ((12, 1, "inorder"), (10, 0, "inorder"), (12, 1, "random"), (10, 0, "random"))
VARIANTS = {
    "main": (10, 1),
    "b20-t2": (20, 2),
    "b40-t4": (40, 4),
    "b20-t1": (20, 1),
    "b40-t1": (40, 1),
    "delta-t1": ("delta", 1),
    "ratio-t1": ("ratio", 1),
    "ratio-half-t1": ("ratio-half", 1),
    "ratio-up-t1": ("ratio-up", 1),
}


def prefix_ratio(judged, unadjusted, later_half: bool = False) -> float:
    """The most clumped pseudo-batch's ratio but one (``TRIMMED``): each batch's share of copies among its rows
    (``judged``: its class-1 copies less the re-delivery slack, as the rule judges them) over the share among the
    base's rows before it (``unadjusted``: every copy); the first batch, and any whose rows before repeat nothing,
    left out, and with ``later_half`` the batches of the first half too (a short base before them repeats little
    by chance); 1.0 when none is left."""
    rows = unadjusted.rows.astype(np.float64)
    total = unadjusted.copies.sum(axis=1).astype(np.float64)
    before = (np.cumsum(total) - total) / np.maximum(np.cumsum(rows) - rows, 1)
    share = judged.copies.sum(axis=1) / np.maximum(judged.rows, 1)
    with np.errstate(all="ignore"):
        r = np.where(before > 0, share / before, np.nan)
    if later_half:
        r = r[len(r) // 2 :]
    r = r[np.isfinite(r)]
    return float(batch_copies.trimmed(r[:, None], 0)[0]) if len(r) else 1.0


def ratio_rates(original_rates, original_total, later_half: bool, lowest: int = 0):
    """``Copies.clumped_rates`` / ``clumped_total_rate`` that also raise every class's rate, and the total's, by
    ``prefix_ratio`` (at most ``CLUMPING_CAP``)."""
    from provenance.gate.copies import CLUMPING_CAP

    def ratio(self) -> float:
        return min(
            max(prefix_ratio(self.clumping, getattr(self.clumping, "unadjusted", self.clumping), later_half), 1.0),
            CLUMPING_CAP,
        )

    def clumped_rates(self):
        rates = original_rates(self)
        if self.clumping is None:
            return rates
        whole, lift = self.rates(), ratio(self)
        return {k: max(v, whole[k] * lift) if k >= lowest else v for k, v in rates.items()}

    def clumped_total_rate(self):
        p = original_total(self)
        if self.clumping is None:
            return p
        whole = sum(self.rates().values())
        return max(p, whole * ratio(self))

    return clumped_rates, clumped_total_rate


def delta_sized(profile, delta, base_rows, repeated, digests_of, original):
    """``bench.gate`` with the profile's clumping recounted on pseudo-batches of about the delta's rows."""
    added = int((np.asarray(delta.kinds) == "added").sum()) + int(np.asarray(delta.extra_copies).sum())
    count = max(10, int(round(base_rows / max(added, 1))))
    digests = digests_of[base_rows]
    keys = np.array(digests, dtype=object)
    order = np.argsort(keys, kind="stable")
    _, groups = np.unique(keys[order], return_inverse=True)
    ranks = np.arange(base_rows)[order]
    within = batch_copies.batch_copies(groups, batch_copies.batches_of_ranks(ranks, count, base_rows), count)
    import dataclasses

    profile = dataclasses.replace(
        profile, batch_rows=within.rows, batch_copies=within.copies, batch_most_copies=within.most
    )
    return original(profile, delta, base_rows, repeated)


def run_variant(name: str, setting) -> dict:
    """Outcomes ``{(run, dataset, start): (clean passed, poisoned blocked)}`` of one variant."""
    count, trim = setting
    outcomes = {}
    saved = (reference.COPY_PSEUDO_BATCHES, batch_copies.TRIMMED, bench.gate, bench.base_repetition)
    digests_of: dict[int, list] = {}

    def base_repetition(base_digests):
        digests_of[len(base_digests)] = list(base_digests)
        return saved[3](base_digests)

    from provenance.gate.copies import Copies

    copies_saved = (Copies.clumped_rates, Copies.clumped_total_rate, batch_copies.BatchCopies.beyond_slack)
    try:
        batch_copies.TRIMMED = trim
        if count in ("ratio", "ratio-half", "ratio-up"):
            Copies.clumped_rates, Copies.clumped_total_rate = ratio_rates(
                copies_saved[0], copies_saved[1], count == "ratio-half", 1 if count == "ratio-up" else 0
            )

            def beyond_slack(self, rate, least, original=copies_saved[2]):
                judged = original(self, rate, least)
                object.__setattr__(judged, "unadjusted", getattr(self, "unadjusted", self))
                return judged

            batch_copies.BatchCopies.beyond_slack = beyond_slack
        elif count == "delta":
            bench.base_repetition = base_repetition
            bench.gate = lambda p, d, rows=0, rep=None: delta_sized(p, d, rows, rep, digests_of, saved[2])
        else:
            reference.COPY_PSEUDO_BATCHES = count
        for per, seed, order in RUNS:
            for dataset in DATASETS:

                def inspect(b, key=(per, seed, order)):
                    outcomes[(key, b.dataset, b.start)] = (
                        not b.clean_outcome["blocking"],
                        bool(b.poisoned_outcome["blocking"]),
                        ",".join(b.clean_outcome["blocking"]),
                        ",".join(b.poisoned_outcome["blocking"]),
                        b.attack,
                    )

                bench.run([dataset], per, seed, out=lambda *a, **k: None, order=order, inspect=inspect)
    finally:
        Copies.clumped_rates, Copies.clumped_total_rate, batch_copies.BatchCopies.beyond_slack = copies_saved
        reference.COPY_PSEUDO_BATCHES, batch_copies.TRIMMED, bench.gate, bench.base_repetition = saved
    return outcomes


def summary(outcomes: dict) -> list[str]:
    """Per run: clean passed and poisoned blocked with Wilson intervals, and the in-order ones per dataset."""
    lines = []
    for per, seed, order in RUNS:
        key = (per, seed, order)
        mine = [v for k, v in outcomes.items() if k[0] == key]
        cp, pb, n = sum(v[0] for v in mine), sum(v[1] for v in mine), len(mine)
        lo, hi = bench.wilson(cp, n)
        plo, phi = bench.wilson(pb, n)
        by = defaultdict(lambda: [0, 0, 0])
        for k, v in outcomes.items():
            if k[0] == key:
                by[k[1]][0] += v[0]
                by[k[1]][1] += v[1]
                by[k[1]][2] += 1
        per_dataset = " ".join(f"{d} {c}/{m}|{b}/{m}" for d, (c, b, m) in by.items())
        lines.append(
            f"  {per} seed{seed} {order:7s}: clean passed {cp}/{n} = {cp / n:.1%} ({lo:.1%}-{hi:.1%}); poisoned blocked "
            f"{pb}/{n} = {pb / n:.1%} ({plo:.1%}-{phi:.1%}); per dataset clean|poisoned: {per_dataset}"
        )
    return lines


def main(argv: list[str]) -> None:
    """Run main's settings and each variant; write bench/results/copy-batch-variants-s24.md."""
    names = argv or list(VARIANTS)
    if "main" not in names:
        names = ["main", *names]
    lines = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    results = {}
    for name in names:
        results[name] = run_variant(name, VARIANTS[name])
        lines.append(f"{name}:")
        lines += summary(results[name])
        if name != "main":
            for k, v in sorted(results[name].items(), key=str):
                was = results["main"][k]
                if was[:2] != v[:2]:
                    lines.append(
                        f"    {k[0][0]} seed{k[0][1]} {k[0][2]} {k[1]} {k[2]}: clean {'pass' if was[0] else was[2]} -> "
                        f"{'pass' if v[0] else v[2]}; {v[4]} {'block' if was[1] else 'pass'} -> {'block' if v[1] else 'pass'}"
                    )
        lines.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        print("\n".join(lines[-12:]), flush=True)
    head = "# The copy statistic's pseudo-batches, variants against main (generated by bench/copy_batch_variants.py)\n"
    tag = "-".join(n for n in names if n != "main")
    (Path(__file__).resolve().parent / "results" / f"copy-batch-variants-s24-{tag}.md").write_text(
        head + "\n```\n" + "\n".join(lines) + "\n```\n"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
