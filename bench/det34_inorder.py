"""Session 34 (det34, issue 14): where the clean in-order false alarms come from, and a per-batch shift correction.

    OMP_NUM_THREADS=1 nice python bench/det34_inorder.py collect [orders, default inorder,random]
    OMP_NUM_THREADS=1 nice python bench/det34_inorder.py report
    OMP_NUM_THREADS=1 nice python bench/det34_inorder.py detect [variants, default library,batchq]

``collect`` replays the gate bench's batches (bench/gate_pass_rate.py, sets ``6 0``, ``10 0`` and ``12 1``: 112
clean + 112 poisoned batches per order over digits, breast cancer, cells and Seattle weather) through its
``inspect`` hook and keeps, per batch and side (clean, poisoned), what the replay needs: the gate's outcome with
the verdicts (their records, levels and bars), each detector's calibrated p-values and the reference's raw scores,
the profile's pseudo-batches, the poison mask. It pickles them to ``bench/work/det34-ORDER.pickle`` (git-ignored;
``report`` reads them, so variants are replayed without running the detectors again).

``report`` writes bench/results/det34-inorder.md:

1. the breakdown: per dataset and detector (the one whose weighted p-value set the combined statistic), the clean
   records flagged, split by how far past their level they lie (far beyond the trimmed reference, beyond it, or
   between the bar and the level), and per dataset how the flags spread over the batches (the batches holding
   half of them), beside each batch's bulk shift (``bulk_shift``);
2. the variants (``VARIANTS``), each re-flagging the same verdicts and re-applying the gate's
   ``detectors.combined`` clauses with the real budget (bench/inorder_fpr_s28.py's ``blocking_of``), on the clean
   and the poisoned batches, in file order and at random; ``library`` must reproduce the bench's outcome on every
   batch (checked: the "replay differs" count).

``detect`` runs bench/detect_combined.py's batches once per variant (session 27's ``detect_part``) and writes
bench/results/det34-detect.md; the narrative of the session is bench/results/det34-result.md (by hand).

Variants (records whose combined statistic a label detector set, ``feature_level.LABEL_DETECTORS``, keep the
library's flag unless said; a record below the far bar is never unflagged):

- ``enull[@F]``: a per-batch shift correction (Efron's empirical null): the delta's combined p-values in z space,
  their centre and spread fitted to the central half (``bulk_shift``), compared with the base's ordinary held-out
  pseudo-batch's (``reference_shift``: the median over ``beyond.held_out_folds``); where the delta sits lower or
  spreads wider, its records are re-scored under that null and a flagged feature-evidence record whose corrected
  p-value passes its level is unflagged, if its p-value is above ``F`` (default 0.5) times its level.
  ``enull-all``: label evidence too.
- ``enull-sig[@F]``: the same, only for a shift past every held-out pseudo-batch of the base (the delta's median z
  below the lowest fold's by more than twice its sampling error, or its spread above the widest fold's), and
  relative to that fold.
- ``batchq`` / ``batchq75``: feature evidence at the median (75th percentile) over the base's forward
  pseudo-batches (from ``feature_level.FIRST_FORWARD`` on, each held out against the ones before it) of the
  largest level at which that batch holds at most ``floor(fpr * its size)`` records (``level_holding`` per batch):
  a quantile over batches in place of the library's pooled records; never above the library's level, at least
  ``FLOOR_SHARE * fpr`` and the beyond bar's p-value.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench
import inorder_fpr_s28 as s28
from inorder_fpr_s27 import per_attack_line, variant_table
from inorder_fpr_s28 import blocking_of

from provenance.detectors.beyond import held_out_folds, values_order
from provenance.detectors.combine import combined_p_values, weight_of
from provenance.detectors.feature_level import (
    FLOOR_SHARE,
    LABEL_DETECTORS,
    _held_out_batches,
    level_holding,
    strongest_column,
)

FPR = bench.FPR
WORK = Path(__file__).resolve().parent / "work"
RESULT = Path(__file__).resolve().parent / "results" / "det34-inorder.md"
SETS = ((6, 0), (10, 0), (12, 1))


@dataclass
class Side:
    """One delta of a batch as the replay needs it."""

    outcome: dict  # gate_pass_rate.gate's dict (its verdicts, results, blocking)
    poison: np.ndarray  # (n,) bool


@dataclass
class Kept:
    dataset: str
    start: int
    attack: str
    batches: np.ndarray  # the profile's pseudo-batch per sample record
    clean: Side
    poisoned: Side


def collect(orders: list[str]) -> None:
    WORK.mkdir(exist_ok=True)
    for order in orders:
        kept: list[Kept] = []

        def keep(batch: bench.Batch) -> None:
            kept.append(
                Kept(
                    batch.dataset,
                    batch.start,
                    batch.attack,
                    np.asarray(batch.profile.sample_batches),
                    Side(batch.clean_outcome, np.zeros(batch.clean_outcome["n"], dtype=bool)),
                    Side(batch.poisoned_outcome, np.asarray(batch.poison, dtype=bool)),
                )
            )

        for per, seed in SETS:
            bench.run(bench.DEFAULT_DATASETS.split(","), per, seed, out=lambda *a, **k: None, order=order, inspect=keep)
        with open(WORK / f"det34-{order}.pickle", "wb") as f:
            pickle.dump(kept, f, protocol=pickle.HIGHEST_PROTOCOL)
        print(f"{order}: {len(kept)} batches kept", flush=True)


def scored_of(results) -> list:
    return [r for r in results if r.status == "ran" and r.p_values is not None and r.reference_raw is not None]


def weighted_P(outcome) -> tuple[list[str], np.ndarray]:
    scored = scored_of(outcome["results"])
    P = np.column_stack([np.asarray(r.p_values, dtype=np.float64) for r in scored])
    return [r.detector for r in scored], P / np.array([weight_of(r) for r in scored])


def levels_of(outcome) -> np.ndarray:
    """Each record's level, read from its explanation (``flagged at L``) as the library set it."""
    return np.array([float(r.explanation.split("flagged at ")[1].split(")")[0]) for r in outcome["verdicts"].records])


def z_of(p: np.ndarray) -> np.ndarray:
    return norm.ppf(np.clip(p, 1e-300, 1.0 - 1e-12))


def bulk_shift(p: np.ndarray) -> tuple[float, float]:
    """``(mu, sigma)`` of a batch's combined p-values in z (probit) space, fitted to its central half (median;
    interquartile range / 1.349): Efron's empirical null (2004), which a few percent of poison barely moves."""
    z = z_of(p[np.isfinite(p)])
    if len(z) < 20:
        return 0.0, 1.0
    q1, med, q3 = np.percentile(z, [25, 50, 75])
    return float(med), float((q3 - q1) / 1.349)


def reference_shift(side: Side, batches: np.ndarray, cache: dict) -> tuple[float, float]:
    """``(mu, sigma)``: the median over the base's pseudo-batches, each held out against the others
    (``beyond.held_out_folds``, as the library's feature level reads them), of each one's ``bulk_shift``: what an
    ordinary batch of this base looks like (a clean delta is compared with it, not with the in-sample uniform),
    on ``side``'s own reference scores (as ``batch_quantile_level``)."""
    shifts = fold_shifts(side, batches, cache)
    return tuple(np.median(shifts, axis=0)) if len(shifts) else (0.0, 1.0)


def fold_shifts(side: Side, batches: np.ndarray, cache: dict) -> np.ndarray:
    """(folds, 2): each held-out pseudo-batch's ``bulk_shift`` (``reference_shift``'s folds)."""
    key = ("shift", id(side))
    if key not in cache:
        outcome = side.outcome
        scored = scored_of(outcome["results"])
        raws = [np.asarray(r.reference_raw, dtype=np.float64) for r in scored]
        weights = np.array([weight_of(r) for r in scored])
        shifts = []
        for fold in held_out_folds(raws, weights, batches, FPR, outcome["verdicts"].held_out):
            T_out, T_kept = fold.T_out[np.isfinite(fold.T_out)], fold.T_kept[np.isfinite(fold.T_kept)]
            if len(T_out) >= 20 and len(T_kept):
                shifts.append(bulk_shift(combined_p_values(T_out, T_kept)))
        cache[key] = np.array(shifts).reshape(-1, 2)
    return cache[key]


def batch_quantile_level(side: Side, batches: np.ndarray, cache: dict, percentile: float) -> float:
    """``batchq``'s level (the ``percentile`` of the forward pseudo-batches' own levels), on ``side``'s own
    reference scores (``spectral``'s and ``gradient``'s are projections on that delta's own direction, as the
    library's held-out level reads them), over the profile's pseudo-batches ``batches``."""
    key = ("batchq", id(side), percentile)
    if key not in cache:
        scored = scored_of(side.outcome["results"])
        raws = [np.asarray(r.reference_raw, dtype=np.float64) for r in scored]
        weights = np.array([weight_of(r) for r in scored])
        by_value = values_order(raws)
        levels = []
        for _, T_out, T_kept in _held_out_batches(raws, weights, batches, FPR, True, by_value):
            finite, T_kept = np.isfinite(T_out), T_kept[np.isfinite(T_kept)]
            if finite.any() and len(T_kept):
                levels.append(level_holding(combined_p_values(T_out[finite], T_kept), FPR))
        cache[key] = float(np.percentile(levels, percentile)) if levels else FPR
    return cache[key]


def flags_of(variant: str, kept: Kept, side: Side, cache: dict) -> np.ndarray:
    """The records ``variant`` flags in ``side``'s delta."""
    outcome = side.outcome
    verdicts = outcome["verdicts"]
    p = np.array([r.p_value for r in verdicts.records])
    library = np.array([r.flagged for r in verdicts.records], dtype=bool)
    if variant == "library":
        return library
    name, _, arg = variant.partition("@")
    levels = levels_of(outcome)
    detectors, P = weighted_P(outcome)
    label = np.isin(strongest_column(P), [j for j, d in enumerate(detectors) if d in LABEL_DETECTORS])
    if name in ("batchq", "batchq75"):
        # feature evidence at the median over the base's forward pseudo-batches (each held out against the ones
        # before it) of the largest level at which that batch holds at most floor(fpr * its size) records: a
        # quantile over batches in place of the library's pooled records; never above the library's level
        level = batch_quantile_level(side, kept.batches, cache, 75.0 if name == "batchq75" else 50.0)
        floor = max(FLOOR_SHARE * FPR, verdicts.beyond_p)
        new = np.where(label, levels, np.minimum(levels, max(level, floor)))
        return p <= new
    if name == "enull-sig":
        # only a shift past every held-out pseudo-batch of the base (beyond the median's sampling error, 2 SE)
        # is corrected, relative to the nearest fold: ordinary batches keep the library's flags
        mu, sigma = bulk_shift(p)
        folds = fold_shifts(side, kept.batches, cache)
        if not len(folds):
            return library
        se = 1.2533 * sigma / np.sqrt(max(len(p), 1))
        d_mu = min(0.0, mu + 2.0 * se - float(folds[:, 0].min()))
        ratio = max(1.0, sigma / max(float(folds[:, 1].max()), 1e-6))
        corrected = norm.cdf((z_of(p) - d_mu) / ratio)
        floor = float(arg) if arg else 0.5
        far = p < verdicts.far_p
        moved = ~label & library & ~far & (corrected > levels) & (p > floor * levels)
        return library & ~moved
    if name in ("enull", "enull-all"):
        # the delta's own bulk against the base's ordinary held-out batch: where the delta's z's are shifted
        # further (mu lower) or spread wider (sigma larger), its records are re-scored under that null, relative
        # to the base's; only ever toward fewer flags, never below the floor share of the level
        mu, sigma = bulk_shift(p)
        mu0, sigma0 = reference_shift(side, kept.batches, cache)
        d_mu, ratio = min(0.0, mu - mu0), max(1.0, sigma / max(sigma0, 1e-6))
        corrected = norm.cdf((z_of(p) - d_mu) / ratio)
        floor = float(arg) if arg else 0.5
        feature = ~label if name == "enull" else np.ones(len(p), dtype=bool)
        # a record below the far bar stays flagged whatever the correction
        far = p < verdicts.far_p
        moved = feature & library & ~far & (corrected > levels) & (p > floor * levels)
        return library & ~moved
    raise SystemExit(f"unknown variant {variant}")


VARIANTS = ("library", "enull", "enull@0.25", "enull-all", "enull-sig", "enull-sig@0.25", "batchq", "batchq75")


class Tally(s28.Tally):
    """bench/inorder_fpr_s28.py's counts (its ``variant_table``'s), over this script's variants, with the breakdown."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: dict[str, list[str]] = defaultdict(list)
        # breakdown of the library's clean flags
        self.by_detector: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        self.per_batch: dict[str, list[tuple[int, int, int, float, float]]] = defaultdict(list)
        self.shift_cache: dict = {}

    def add(self, kept: Kept) -> None:
        self.batches += 1
        ds = kept.dataset
        clean, poisoned = kept.clean, kept.poisoned
        self.clean_n[ds] += clean.outcome["n"]
        self.poison_n[kept.attack] += int(poisoned.poison.sum())
        self.breakdown(kept)
        for variant in VARIANTS:
            c = flags_of(variant, kept, clean, self.shift_cache)
            q = flags_of(variant, kept, poisoned, self.shift_cache)
            cb, qb = blocking_of(clean.outcome, c), blocking_of(poisoned.outcome, q)
            if variant == "library" and (cb != clean.outcome["blocking"] or qb != poisoned.outcome["blocking"]):
                self.mismatch += 1
            self.clean_flagged[(variant, ds)] += int(c.sum())
            self.clean_pass[variant] += not cb
            self.poison_block[variant] += bool(qb)
            self.genuine[variant] += bool(qb) and not cb
            self.poison_flagged[(variant, kept.attack)] += int(q[poisoned.poison].sum())
            if variant != "library":
                lc, lq = bool(clean.outcome["blocking"]), bool(poisoned.outcome["blocking"])
                if lc != bool(cb):
                    self.changed[variant].append(f"clean {ds} {kept.start}: {'blocks' if cb else 'passes'}")
                if lq != bool(qb):
                    self.changed[variant].append(f"{kept.attack} {ds} {kept.start}: {'blocks' if qb else 'passes'}")

    def breakdown(self, kept: Kept) -> None:
        outcome = kept.clean.outcome
        verdicts = outcome["verdicts"]
        p = np.array([r.p_value for r in verdicts.records])
        flags = np.array([r.flagged for r in verdicts.records], dtype=bool)
        detectors, P = weighted_P(outcome)
        strongest = strongest_column(P)
        for i in np.flatnonzero(flags):
            band = "far" if p[i] < verdicts.far_p else "beyond" if p[i] < verdicts.beyond_p else "within"
            self.by_detector[kept.dataset][(detectors[strongest[i]], band)] += 1
        mu, sigma = bulk_shift(p)
        mu0, sigma0 = reference_shift(kept.clean, kept.batches, self.shift_cache)
        self.per_batch[kept.dataset].append((kept.start, int(flags.sum()), len(p), mu - mu0, sigma / sigma0))

    def lines(self, order: str) -> list[str]:
        datasets = sorted(self.clean_n)
        out = [
            self.heading(order),
            "",
            "Clean records the library flags, by the detector that set the combined statistic and how far out they "
            "lie (far: below the far bar; beyond: below the trimmed reference's bar; within: between the bar and "
            "the level):",
            "",
            "| dataset | detector | far | beyond | within | all |",
            "|---|---|---|---|---|---|",
        ]
        for ds in datasets:
            c = self.by_detector[ds]
            for det in sorted(
                {d for d, _ in c}, key=lambda d: (-sum(c[(d, b)] for b in ("far", "beyond", "within")), d)
            ):
                row = [c[(det, b)] for b in ("far", "beyond", "within")]
                out.append(f"| {ds} | {det} | {row[0]} | {row[1]} | {row[2]} | {sum(row)} |")
            tot = [sum(v for (d, bb), v in c.items() if bb == b) for b in ("far", "beyond", "within")]
            out.append(f"| {ds} | **all** | {tot[0]} | {tot[1]} | {tot[2]} | {sum(tot)} |")
        out += [
            "",
            "How the clean flags spread over the batches (per dataset: batches, flags, the fewest batches holding "
            "half of them, the three largest counts with batch size; the bulk shift of a batch: its combined "
            "p-values' median z less the base's ordinary held-out batch's, and the ratio of their spreads; "
            "Spearman correlation of flags per record with that shift):",
            "",
            "| dataset | batches | flags | batches holding half | largest (flags/records) | shift mu median (min-max) | "
            "spread ratio median (min-max) | corr(flag rate, -mu) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for ds in datasets:
            rows = self.per_batch[ds]
            counts = np.array(sorted((r[1] for r in rows), reverse=True))
            half = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2.0) + 1) if counts.sum() else 0
            top = sorted(rows, key=lambda r: -r[1])[:3]
            mus, ratios = np.array([r[3] for r in rows]), np.array([r[4] for r in rows])
            rates = np.array([r[1] / r[2] for r in rows])
            corr = spearman(rates, -mus)
            out.append(
                f"| {ds} | {len(rows)} | {counts.sum()} | {half} | "
                + ", ".join(f"{r[1]}/{r[2]} (start {r[0]})" for r in top)
                + f" | {np.median(mus):+.2f} ({mus.min():+.2f} to {mus.max():+.2f}) | "
                f"{np.median(ratios):.2f} ({ratios.min():.2f}-{ratios.max():.2f}) | {corr:+.2f} |"
            )
        out += ["", *variant_table(self, VARIANTS), "", per_attack_line(self, VARIANTS), ""]
        for v in VARIANTS[1:]:
            out.append(f"- {v}: batches whose outcome moves: " + ("; ".join(self.changed[v]) or "none"))
        return out + [""]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return float("nan")
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def report(orders: list[str]) -> None:
    cpu = time.process_time()
    lines = [uptime(), ""]
    for order in orders:
        with open(WORK / f"det34-{order}.pickle", "rb") as f:
            kept: list[Kept] = pickle.load(f)
        tally = Tally()
        for k in kept:
            tally.add(k)
        part = tally.lines(order)
        print("\n".join(part), flush=True)
        lines += part
    lines += [uptime(), f"CPU time of the report: {time.process_time() - cpu:.0f} s"]
    RESULT.write_text(
        "# Clean in-order false alarms broken down, and a per-batch shift correction (generated by "
        "bench/det34_inorder.py)\n\n" + "\n".join(lines) + "\n"
    )


def detect(variants: list[str]) -> None:
    """bench/detect_combined.py's batches (session 27's ``detect_part``: 3 per mode), once per variant with its
    flags and the gate's clauses on them: bench/results/det34-detect.md."""
    import inorder_fpr_s27 as s27

    def variant_outcome(variant: str, outcome: dict, profile, delta) -> dict:
        side = Side(outcome, np.zeros(outcome["n"], dtype=bool))
        kept = Kept("detect", 0, "", np.asarray(profile.sample_batches), side, side)
        flags = flags_of(variant, kept, side, {})
        return {"flags": flags, "blocking": blocking_of(outcome, flags)}

    s27.variant_outcome = variant_outcome  # detect_part replays each variant through it
    cpu = time.process_time()
    lines = [
        uptime(),
        "",
        *s27.detect_part(variants),
        uptime(),
        f"CPU time of the run: {time.process_time() - cpu:.0f} s",
    ]
    (RESULT.parent / "det34-detect.md").write_text(
        "# Detection bench under the det34 variants (generated by bench/det34_inorder.py detect)\n\n"
        + "\n".join(lines)
        + "\n"
    )


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "report"
    orders = (argv[1] if len(argv) > 1 else "inorder,random").split(",")
    if command == "collect":
        collect(orders)
    elif command == "report":
        report(orders)
    elif command == "detect":
        detect((argv[1] if len(argv) > 1 else "library,batchq").split(","))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
