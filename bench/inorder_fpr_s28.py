"""Session 28 (issue 14): the combined verdict's clean false alarms in file order, per detector levels and label drift.

    python bench/inorder_fpr_s28.py [--variants a,b,...] [orders, default inorder,random]
    python bench/inorder_fpr_s28.py --detect [variants, default main,s27,library]

Replays bench/gate_pass_rate.py's batches (its ``run`` with an ``inspect`` hook; 6 + 10 + 12 batches a dataset =
112 clean and 112 poisoned batches per order), as bench/inorder_fpr_s27.py does: the detectors run once per batch
(inside ``gate_pass_rate.gate``), every variant re-flags the same verdicts and re-applies the gate's
``detectors.combined`` clauses with the real budget. ``library`` is the bench's own outcome (its replay must give
the same blocking on every batch: checked, on each order's first line).

Variants (a record is flagged when its combined p-value is at most its level; the statistic is the library's):

- ``main``: every record at ``fpr`` (the rule before session 27).
- ``s27``: session 27's rule (feature evidence at the held-out level, label evidence at ``fpr``): the real
  ``combine`` with ``label_drift_level`` at ``fpr``.
- ``library``: the library as it is (session 28: ``knn_label``'s records at ``feature_level.label_drift_level``);
  ``library@A``: with its significance ``EXCESS_ALPHA`` at ``A``.
- ``perdet``/``perdet-fwd``: each feature detector's records at their own level: the largest in [fpr / 2, fpr]
  at which the held-out records it sets (each pseudo-batch against the others; ``-fwd``: against the ones before
  it) are no more than the in-sample records it sets at ``fpr`` (scaled to the pool); label evidence at ``fpr``.
- ``fwd-level``: session 27's single feature level measured on the forward pool instead.
- ``label-nosig``: the library's label level without its significance test (lowered wherever it can be).
- ``+agreeQ`` (after any): a record within the trimmed reference whose statistic a feature detector set is
  flagged only if its second-smallest weighted p-value is at most Q (two detectors agree).

Writes bench/results/inorder-fpr-s28.md (with ``uptime`` and the run's CPU time) and prints it. ``--detect`` runs
bench/detect_combined.py's batches once per variant with its flags and rules in place of the gate's (session 27's
``detect_part``): bench/results/inorder-fpr-s28-detect.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench
from inorder_fpr_s27 import per_attack_line, tallied, variant_table

import provenance.detectors.combine as combine_module
import provenance.detectors.feature_level as feature_level
from provenance.detectors.combine import combine, combined_p_values, weight_of
from provenance.detectors.feature_level import LABEL_DETECTORS, held_out_pools, level_holding, strongest_column

FPR = bench.FPR
VARIANTS = (
    "main",
    "s27",
    "library",
    "library@0.05",
    "label-nosig",
    "perdet",
    "perdet-fwd",
    "fwd-level",
    "library+agree0.1",
)


def _scored(results):
    return [r for r in results if r.status == "ran" and r.p_values is not None and r.reference_p is not None]


def pools(results, batches: np.ndarray, forward: bool):
    """``feature_level.held_out_pools`` of ``results``' reference scores: held out and in sample, with the column
    that set each statistic."""
    scored = _scored(results)
    raws = [np.asarray(r.reference_raw, dtype=np.float64) for r in scored]
    weights = np.array([weight_of(r) for r in scored])
    return held_out_pools(raws, weights, batches, FPR, combined_p_values, forward)


def own_levels(pool, detectors: list[str], label_too: bool) -> np.ndarray:
    """Per column, the level of the records it sets (``perdet``; label evidence at ``fpr`` unless ``label_too``)."""
    p_out, set_out, p_in, set_in = pool
    levels = np.full(len(detectors), FPR)
    for j, d in enumerate(detectors):
        if d in LABEL_DETECTORS and not label_too:
            continue
        allowed = int(np.floor(((p_in <= FPR) & (set_in == j)).sum() * len(p_out) / max(len(p_in), 1)))
        mine = np.sort(p_out[set_out == j])
        a = FPR if allowed >= len(mine) else float(min(FPR, np.nextafter(mine[allowed], 0.0)))
        levels[j] = max(feature_level.FLOOR_SHARE * FPR, a)
    return levels


def recombined_flags(outcome, batches: np.ndarray, alpha: float | None) -> np.ndarray:
    """The real ``combine``'s flags with ``feature_level.EXCESS_ALPHA`` at ``alpha`` (None: label evidence at
    ``fpr``, session 27's rule)."""
    saved = combine_module.label_drift_level, feature_level.EXCESS_ALPHA
    if alpha is None:
        combine_module.label_drift_level = lambda *args: FPR
    else:
        feature_level.EXCESS_ALPHA = alpha
    try:
        digests = [r.digest for r in outcome["verdicts"].records]
        verdicts = combine(outcome["results"], FPR, batches, None, digests)
    finally:
        combine_module.label_drift_level, feature_level.EXCESS_ALPHA = saved
    return np.array([r.flagged for r in verdicts.records], dtype=bool)


def flags_of(variant: str, outcome, batches: np.ndarray, cache: dict) -> np.ndarray:
    """The records ``variant`` flags in ``outcome`` (``gate_pass_rate.gate``'s)."""
    verdicts = outcome["verdicts"]
    p = np.array([r.p_value for r in verdicts.records])
    library = np.array([r.flagged for r in verdicts.records], dtype=bool)
    scored = _scored(outcome["results"])
    detectors = [r.detector for r in scored]
    P = np.column_stack([np.asarray(r.p_values, dtype=np.float64) for r in scored]) / np.array(
        [weight_of(r) for r in scored]
    )
    strongest = strongest_column(P)
    label = np.isin(strongest, [j for j, d in enumerate(detectors) if d in LABEL_DETECTORS])
    floor = verdicts.beyond_p
    base, _, agree = variant.partition("+agree")
    if base == "main":
        flags = p <= FPR
    elif base == "library":
        flags = library
    elif base == "s27":
        flags = recombined_flags(outcome, batches, None)
    elif base.startswith("library@"):
        flags = recombined_flags(outcome, batches, float(base[len("library@") :]))
    elif base in ("perdet", "perdet-fwd", "fwd-level", "label-nosig"):
        forward = base != "perdet"
        key = (id(outcome), forward)
        if key not in cache:
            cache[key] = pools(outcome["results"], batches, forward)
        if base == "fwd-level":
            level = max(feature_level.FLOOR_SHARE * FPR, level_holding(cache[key][0], FPR))
            levels = np.where(label, FPR, min(FPR, max(level, floor)))
            flags = p <= levels
        elif base == "label-nosig":
            at = detectors.index(feature_level.DRIFTING_LABEL)
            own = own_levels(cache[key], detectors, label_too=True)[at]
            flags = np.where(strongest == at, p <= min(FPR, max(own, floor)), recombined_flags(outcome, batches, None))
        else:
            levels = own_levels(cache[key], detectors, label_too=False)
            flags = p <= np.minimum(FPR, np.maximum(levels[strongest], floor))
    else:
        raise SystemExit(f"unknown variant {variant}")
    if agree:
        second = np.sort(np.where(np.isfinite(P), P, np.inf), axis=1)[:, 1] if P.shape[1] > 1 else np.ones(len(p))
        flags = flags & ~((p >= verdicts.beyond_p) & ~label & (second > float(agree)))
    return flags


def blocking_of(outcome, flags: np.ndarray) -> list[str]:
    """The gate's blocking rules on ``outcome`` with its ``detectors.combined`` clauses on ``flags``."""
    verdicts = outcome["verdicts"]
    saved = [r.flagged for r in verdicts.records]
    for r, f in zip(verdicts.records, flags):
        r.flagged = bool(f)
    try:
        clauses = bench.combined_clauses(verdicts)
    finally:
        for r, f in zip(verdicts.records, saved):
            r.flagged = f
    blocking = [b for b in outcome["blocking"] if not b.startswith("detectors.combined")]
    return ([f"detectors.combined({'+'.join(clauses)})"] if clauses else []) + blocking


class Tally:
    def __init__(self) -> None:
        self.clean_n: Counter[str] = Counter()
        self.clean_flagged: Counter[tuple[str, str]] = Counter()
        self.clean_pass: Counter[str] = Counter()
        self.poison_block: Counter[str] = Counter()
        self.genuine: Counter[str] = Counter()
        self.poison_flagged: Counter[tuple[str, str]] = Counter()
        self.poison_n: Counter[str] = Counter()
        self.strongest: dict[str, Counter[str]] = defaultdict(Counter)
        self.label_levels: dict[str, list[float]] = defaultdict(list)
        self.batches = self.mismatch = 0

    def add(self, batch: bench.Batch) -> None:
        self.batches += 1
        batches = np.asarray(batch.profile.sample_batches)
        ds = batch.dataset
        self.clean_n[ds] += batch.clean_outcome["n"]
        self.poison_n[batch.attack] += int(batch.poison.sum())
        scored = _scored(batch.clean_outcome["results"])
        detectors = [r.detector for r in scored]
        P = np.column_stack([np.asarray(r.p_values, dtype=np.float64) for r in scored]) / np.array(
            [weight_of(r) for r in scored]
        )
        strongest = strongest_column(P)
        records = batch.clean_outcome["verdicts"].records
        at = [r.detector for r in scored].index(feature_level.DRIFTING_LABEL)
        self.label_levels[ds].append(
            max(
                [
                    float(r.explanation.split("flagged at ")[1].split(")")[0])
                    for r, s in zip(records, strongest)
                    if s == at
                ]
                or [np.nan]
            )
        )
        cache: dict = {}
        for variant in VARIANTS:
            clean = flags_of(variant, batch.clean_outcome, batches, cache)
            poisoned = flags_of(variant, batch.poisoned_outcome, batches, cache)
            clean_blocking = blocking_of(batch.clean_outcome, clean)
            poisoned_blocking = blocking_of(batch.poisoned_outcome, poisoned)
            if variant == "library" and (
                clean_blocking != batch.clean_outcome["blocking"]
                or poisoned_blocking != batch.poisoned_outcome["blocking"]
            ):
                self.mismatch += 1
            passed = not clean_blocking
            self.clean_flagged[(variant, ds)] += int(clean.sum())
            self.clean_pass[variant] += passed
            self.poison_block[variant] += bool(poisoned_blocking)
            self.genuine[variant] += bool(poisoned_blocking) and passed
            self.poison_flagged[(variant, batch.attack)] += int(poisoned[batch.poison].sum())
            for i in np.flatnonzero(clean):
                self.strongest[f"{variant} {ds}"][detectors[strongest[i]]] += 1

    def heading(self, order: str) -> str:
        """The order's section heading, with how many batches the library's replay got wrong."""
        return (
            f"## {order}: {self.batches} clean + {self.batches} poisoned batches "
            f"(the library's replay differs from the bench's outcome in {self.mismatch})"
        )

    def lines(self, order: str) -> list[str]:
        datasets = sorted(self.clean_n)
        out = [
            self.heading(order),
            "",
            *variant_table(self, VARIANTS),
        ]
        out += [
            "",
            per_attack_line(self, VARIANTS),
            "",
            "Which detector set the combined statistic of the flagged clean records (s27, then library):",
        ]
        for d in datasets:
            for v in ("s27", "library"):
                s = self.strongest[f"{v} {d}"]
                out.append(f"- {v} {d}: " + (", ".join(f"{k} {c}" for k, c in s.most_common()) or "-"))
        out += ["", "The library's knn_label level (clean batches; median, min-max, batches below fpr):"]
        for d in datasets:
            v = np.array([x for x in self.label_levels[d] if np.isfinite(x)])
            if len(v):
                out.append(
                    f"- {d}: {np.median(v):.4f} ({v.min():.4f}-{v.max():.4f}), {int((v < FPR).sum())} of {len(v)}"
                )
        return out + [""]


def variant_outcome(variant: str, outcome: dict, profile, delta) -> dict:
    """``outcome`` (a gate's dict) with ``variant``'s flags and blocking rules (``inorder_fpr_s27.detect_part``)."""
    flags = flags_of(variant, outcome, np.asarray(profile.sample_batches), {})
    return {"flags": flags, "blocking": blocking_of(outcome, flags)}


def detect(variants: list[str]) -> None:
    import inorder_fpr_s27 as s27

    s27.variant_outcome = variant_outcome  # detect_part replays each variant through it
    lines = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), ""]
    cpu = time.process_time()
    lines += s27.detect_part(variants)
    lines.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    lines.append(f"CPU time of the run: {time.process_time() - cpu:.0f} s")
    head = "# Detection bench under the session 28 variants (generated by bench/inorder_fpr_s28.py --detect)\n\n"
    (Path(__file__).resolve().parent / "results" / "inorder-fpr-s28-detect.md").write_text(
        head + "\n".join(lines) + "\n"
    )


def main(argv: list[str]) -> None:
    global VARIANTS
    if argv and argv[0] == "--variants":
        VARIANTS = tuple(argv[1].split(","))
        argv = argv[2:]
    if argv and argv[0] == "--detect":
        detect(argv[1].split(",") if len(argv) > 1 else ["main", "s27", "library"])
        return
    orders = (argv[0] if argv else "inorder,random").split(",")
    names = bench.DEFAULT_DATASETS.split(",")
    lines = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), ""]
    cpu = time.process_time()
    lines += tallied(Tally, names, [(6, 0), (10, 0), (12, 1)], orders)
    lines.append(f"CPU time of the run: {time.process_time() - cpu:.0f} s")
    head = "# Clean false alarms in file order: per-detector levels and label drift (generated by bench/inorder_fpr_s28.py)\n\n"
    (Path(__file__).resolve().parent / "results" / "inorder-fpr-s28.md").write_text(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
