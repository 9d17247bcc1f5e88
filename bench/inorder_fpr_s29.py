"""Session 29 (issue 14): records beyond the trimmed reference, and a level the base's file order justifies.

    python bench/inorder_fpr_s29.py [--variants a,b,...] [orders, default inorder,random]
    python bench/inorder_fpr_s29.py --detect [variants, default library,fwdsig@0.001,ratio@0.0025,fwdsig@0.0025]

Session 28 found most clean records flagged in file order lie beyond the trimmed reference (their combined p-value
below the "beyond" bar's), where no level in ``[fpr / 2, fpr]`` moves them: ``combine.flagged_at_levels`` floors
every level at the bar's p-value and at ``feature_level.FLOOR_SHARE * fpr``. This script replays the gate bench's
batches once with bench/inorder_fpr_s28.py's machinery (its ``Tally``, ``flags_of`` and ``blocking_of``,
imported), and:

- measures, on each clean batch's base, how many of the base's own later rows lie beyond the trimmed reference of
  the earlier ones: each pseudo-batch from ``feature_level.FIRST_FORWARD`` on held out against the ones before it
  (as deliveries arrive), every detector's calibration refitted on those, its records counted below the trimmed
  bar of the earlier batches (and far below it, ``beyond.FAR_FACTOR``), beside the share a record of the same
  reference lands there in sample (``Trimmed.order / (size + 1)``);
- re-flags the same detector outputs under drift-aware variants, in which records the feature detectors' evidence
  sets may be flagged *below* the bar:

  - ``fwd@F``: at the largest level at which at most ``fpr`` of the forward held-out records' combined p-values
    lie (``feature_level.level_holding`` on ``feature_level.held_out_pools(..., forward=True)``), at most ``fpr``
    and at least ``F`` (a fixed floor in place of ``max(fpr / 2, bar)``); label evidence as the library has it.
  - ``fwdsig@F``: the same, only where the forward held-out records at ``fpr`` are significantly more
    (``feature_level.EXCESS_ALPHA``, Poisson tail) than the base's own in-sample records at ``fpr``; the
    library's level otherwise.
  - ``ratio@F``: the library's feature level divided by how many times more of the base's later rows lie beyond
    the earlier ones' trimmed bar than in sample (``forward_beyond``), where that excess is significant
    (``EXCESS_ALPHA``, Poisson tail), at least ``F``; the library's level otherwise.
  - ``perdet-sig@F``: ``feature_level.label_drift_level``'s rule for each feature detector in turn (its records
    at the level holding its in-sample count, where its forward excess is significant), at least ``F``.
  - ``shuf@F``: as ``ratio@F``, the excess measured against the same forward count on the base's records shuffled
    among its pseudo-batches (``shuffled_beyond``: the small early references' heavier tails without drift).

  "Far beyond" is left as it is: every variant's level is at least its floor ``F``, far above any far bar's
  p-value (a thousandth of the bar's), so no record far beyond is unflagged (the ``far-beyond records unflagged``
  column counts them, clean and poisoned), and ``detectors.extreme`` reads no flag.

Writes bench/results/inorder-fpr-s29.md (with ``uptime`` before and after and the run's CPU time), or with
``--detect`` bench/results/inorder-fpr-s29-detect.md (bench/detect_combined.py's batches, once per variant).
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
import inorder_fpr_s28 as s28
from inorder_fpr_s27 import tallied

import provenance.detectors.feature_level as feature_level
from provenance.detectors.beyond import FAR_FACTOR, held_out_p_values, trimmed_reference, weighted_statistic
from provenance.detectors.combine import weight_of
from provenance.detectors.feature_level import LABEL_DETECTORS, level_holding, strongest_column
from provenance.stats import poisson_sf_many

FPR = bench.FPR
VARIANTS = ("main", "library", "fwd@0.0025", "fwd@0.001", "fwdsig@0.001", "ratio@0.001", "ratio@0.0025", "shuf@0.001")
_library_flags_of = s28.flags_of


def forward_beyond(results, batches: np.ndarray) -> tuple[int, int, int, float]:
    """``(beyond, far, held_out, in_sample)`` over the base's pseudo-batches from ``FIRST_FORWARD`` on, each held
    out against the ones before it: its records below the trimmed bar of those (``beyond.trimmed_reference``), far
    below it, scored; ``in_sample`` the records a reference of the same size puts below its own bar (``order``
    per ``size + 1``, summed over the folds)."""
    scored = s28._scored(results)
    raws = [np.asarray(r.reference_raw, dtype=np.float64) for r in scored]
    weights = np.array([weight_of(r) for r in scored])
    beyond = far = held = 0
    in_sample = 0.0
    for b in np.unique(batches)[feature_level.FIRST_FORWARD :]:
        keep = batches <= b
        out = batches[keep] == b
        p_held, p_kept = held_out_p_values([raw[keep] for raw in raws], out, FPR)
        T_out, T_kept = weighted_statistic(p_held, weights), weighted_statistic(p_kept, weights)
        trimmed = trimmed_reference(T_kept, batches[keep][~out])
        T_out = T_out[np.isfinite(T_out)]
        if not trimmed.size or not len(T_out):
            continue
        beyond += int((T_out < trimmed.bar).sum())
        far += int((T_out < trimmed.bar * FAR_FACTOR).sum())
        held += len(T_out)
        in_sample += len(T_out) * trimmed.order / (trimmed.size + 1.0)
    return beyond, far, held, in_sample


SHUFFLES = 4  # exchangeable orders of the base the forward count is compared with (``shuffled_beyond``)


def shuffled_beyond(results, batches: np.ndarray) -> float:
    """The mean ``forward_beyond`` count over ``SHUFFLES`` fixed shuffles of the base's records among its
    pseudo-batches (same sizes): what the forward measure shows where the base's order carries no drift (its
    folds held out against as few records as in file order, whose heavier tails it has too)."""
    rng = np.random.default_rng(29)
    return float(np.mean([forward_beyond(results, rng.permutation(batches))[0] for _ in range(SHUFFLES)]))


def forward_level(pool, significant_only: bool) -> float | None:
    """The level at which at most ``fpr`` of the forward pool's held-out records lie (``level_holding``); with
    ``significant_only``, None unless their count at ``fpr`` exceeds the in-sample count (scaled to the pool) at
    ``feature_level.EXCESS_ALPHA``."""
    p_out, _, p_in, _ = pool
    if not len(p_out) or not len(p_in):
        return None
    if significant_only:
        expected = float((p_in <= FPR).sum()) * len(p_out) / len(p_in)
        seen = int((p_out <= FPR).sum())
        if float(poisson_sf_many(np.array([seen]), np.array([max(expected, 1e-12)]))[0]) > feature_level.EXCESS_ALPHA:
            return None
    return level_holding(p_out, FPR)


def flags_of(variant: str, outcome, batches: np.ndarray, cache: dict) -> np.ndarray:
    """``variant``'s flags on ``outcome`` (a ``gate_pass_rate.gate`` dict): this file's variants, else s28's."""
    name, _, floor = variant.partition("@")
    if name not in ("fwd", "fwdsig", "ratio", "shuf", "perdet-sig"):
        return _library_flags_of(variant, outcome, batches, cache)
    library = _library_flags_of("library", outcome, batches, cache)
    verdicts = outcome["verdicts"]
    if len(np.unique(batches)) < feature_level.MIN_BATCHES:
        return library
    if name == "perdet-sig":
        return per_detector_flags(outcome, batches, cache, float(floor), library)
    if name in ("ratio", "shuf"):
        key = (id(outcome), "beyond")
        if key not in cache:
            cache[key] = forward_beyond(outcome["results"], batches)
        beyond, _, _, expected = cache[key]
        if name == "shuf":
            key = (id(outcome), "shuffled")
            if key not in cache:
                cache[key] = shuffled_beyond(outcome["results"], batches)
            expected = cache[key]
        tail = float(poisson_sf_many(np.array([beyond]), np.array([max(expected, 1e-12)]))[0])
        if tail > feature_level.EXCESS_ALPHA:
            return library
        level = (verdicts.feature_level or FPR) * expected / beyond
    else:
        key = (id(outcome), True)
        if key not in cache:
            cache[key] = s28.pools(outcome["results"], batches, True)
        found = forward_level(cache[key], significant_only=name == "fwdsig")
        if found is None:
            return library
        level = found
    level = min(FPR, max(level, float(floor)))
    p = np.array([r.p_value for r in verdicts.records])
    scored = s28._scored(outcome["results"])
    detectors = [r.detector for r in scored]
    P = np.column_stack([np.asarray(r.p_values, dtype=np.float64) for r in scored]) / np.array(
        [weight_of(r) for r in scored]
    )
    label = np.isin(strongest_column(P), [j for j, d in enumerate(detectors) if d in LABEL_DETECTORS])
    return np.where(label, library, p <= level)


def per_detector_flags(outcome, batches: np.ndarray, cache: dict, floor: float, library: np.ndarray) -> np.ndarray:
    """``perdet-sig@F``: ``feature_level.label_drift_level``'s rule for each feature detector: where the forward
    pool shows its records at ``fpr`` significantly more often (``EXCESS_ALPHA``) than in sample, they are flagged
    at the largest level holding no more than that in-sample count (``s28.own_levels`` on the forward pool), at
    least ``floor``; every other record as the library flags it."""
    key = (id(outcome), True)
    if key not in cache:
        cache[key] = s28.pools(outcome["results"], batches, True)
    p_out, set_out, p_in, set_in = cache[key]
    if not len(p_out) or not len(p_in):
        return library
    scored = s28._scored(outcome["results"])
    detectors = [r.detector for r in scored]
    saved = feature_level.FLOOR_SHARE
    feature_level.FLOOR_SHARE = floor / FPR
    try:
        levels = s28.own_levels(cache[key], detectors, label_too=False)
    finally:
        feature_level.FLOOR_SHARE = saved
    expected = np.array([((p_in <= FPR) & (set_in == j)).sum() for j in range(len(detectors))]) * len(p_out) / len(p_in)
    seen = np.array([((p_out <= FPR) & (set_out == j)).sum() for j in range(len(detectors))])
    drifting = poisson_sf_many(seen, np.maximum(expected, 1e-12)) <= feature_level.EXCESS_ALPHA
    drifting &= ~np.isin(detectors, LABEL_DETECTORS)
    P = np.column_stack([np.asarray(r.p_values, dtype=np.float64) for r in scored]) / np.array(
        [weight_of(r) for r in scored]
    )
    strongest = strongest_column(P)
    p = np.array([r.p_value for r in outcome["verdicts"].records])
    return np.where(drifting[strongest], p <= levels[strongest], library)


class Tally(s28.Tally):
    """s28's tally of every variant, with the forward "beyond" measure, the forward level and Wilson intervals."""

    def __init__(self) -> None:
        super().__init__()
        self.forward: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
        self.levels: dict[str, list[float]] = defaultdict(list)
        self.beyond_p: dict[str, list[float]] = defaultdict(list)
        self.far_kept: Counter[str] = Counter()
        self.clean_beyond: Counter[tuple[str, str]] = Counter()

    def add(self, batch: bench.Batch) -> None:
        batches = np.asarray(batch.profile.sample_batches)
        ds = batch.dataset
        outcome = batch.clean_outcome
        for i, v in enumerate(forward_beyond(outcome["results"], batches)):
            self.forward[ds][i] += v
        level = forward_level(s28.pools(outcome["results"], batches, True), significant_only=False)
        if level is not None:
            self.levels[ds].append(level)
        self.beyond_p[ds].append(outcome["verdicts"].beyond_p)
        super().add(batch)
        cache: dict = {}
        for variant in VARIANTS:  # far-beyond records stay flagged, and how many flagged clean records lie beyond
            for o in (batch.clean_outcome, batch.poisoned_outcome):
                v = o["verdicts"]
                flags = flags_of(variant, o, batches, cache)
                far = np.array([r.p_value < v.far_p for r in v.records]) & (v.beyond_size > 0)
                self.far_kept[variant] += int((far & ~flags).sum())
            v = batch.clean_outcome["verdicts"]
            beyond = np.array([r.p_value < v.beyond_p for r in v.records])
            flags = flags_of(variant, batch.clean_outcome, batches, cache)
            self.clean_beyond[(variant, ds)] += int((beyond & flags).sum())

    def lines(self, order: str) -> list[str]:
        """s28's lines (its header, table, poisoned records per attack, the library's strongest detectors and label
        level), with the forward "beyond" measure after the header and the gate's outcomes with Wilson intervals."""
        s28_lines = [
            line.replace(" (s27, then library)", " (the library)")
            for line in super().lines(order)
            if not line.startswith("- s27 ")
        ]
        datasets = sorted(self.clean_n)
        out = [
            "The base's own later rows beyond the trimmed reference of the earlier ones (each clean batch's base, "
            "pseudo-batches from the third on held out against those before it; summed over the batches):",
            "",
            "| dataset | held-out rows | beyond (share) | expected in sample | ratio | far beyond | forward level "
            "(median, min-max) | beyond bar's p (median, min-max) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for d in datasets:
            beyond, far, held, expected = self.forward[d]
            lv, bp = np.array(self.levels[d]), np.array(self.beyond_p[d])
            out.append(
                f"| {d} | {held} | {beyond} ({beyond / max(held, 1):.2%}) | {expected:.1f} "
                f"| {beyond / max(expected, 1e-9):.1f}x | {far} | {np.median(lv):.4f} ({lv.min():.4f}-{lv.max():.4f}) "
                f"| {np.median(bp):.4f} ({bp.min():.4f}-{bp.max():.4f}) |"
            )
        n = self.batches
        out += [
            "",
            "| variant | clean passed (95% Wilson) | poisoned blocked (95% Wilson) | clean flagged beyond the bar | "
            "far-beyond records unflagged |",
            "|---|---|---|---|---|",
        ]
        for v in VARIANTS:
            cp, pb = self.clean_pass[v], self.poison_block[v]
            lo, hi = bench.wilson(cp, n)
            lo2, hi2 = bench.wilson(pb, n)
            out.append(
                f"| {v} | {cp}/{n} ({lo:.2f}-{hi:.2f}) | {pb}/{n} ({lo2:.2f}-{hi2:.2f}) | "
                f"{sum(self.clean_beyond[(v, d)] for d in datasets)} | {self.far_kept[v]} |"
            )
        return s28_lines[:2] + out + s28_lines[1:]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str]) -> None:
    global VARIANTS
    if argv and argv[0] == "--variants":
        VARIANTS = tuple(argv[1].split(","))
        argv = argv[2:]
    s28.VARIANTS, s28.flags_of = VARIANTS, flags_of  # s28's Tally and detect replay read these
    results = Path(__file__).resolve().parent / "results"
    lines = [uptime(), ""]
    cpu = time.process_time()
    if argv and argv[0] == "--detect":
        import inorder_fpr_s27 as s27

        s27.variant_outcome = s28.variant_outcome
        lines += s27.detect_part(
            argv[1].split(",") if len(argv) > 1 else ["library", "fwdsig@0.001", "ratio@0.0025", "fwdsig@0.0025"]
        )
        lines.append(uptime())
        name, head = "inorder-fpr-s29-detect.md", "Detection bench under the session 29 variants"
    else:
        orders = (argv[0] if argv else "inorder,random").split(",")
        lines += tallied(Tally, bench.DEFAULT_DATASETS.split(","), [(6, 0), (10, 0), (12, 1)], orders)
        name, head = "inorder-fpr-s29.md", "Clean false alarms in file order: records beyond the trimmed reference"
    lines.append(f"CPU time of the run: {time.process_time() - cpu:.0f} s")
    (results / name).write_text(f"# {head} (generated by bench/inorder_fpr_s29.py)\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
