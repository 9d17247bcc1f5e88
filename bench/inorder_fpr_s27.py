"""Session 27 (issue 14): where the combined verdict's clean false alarms in file order come from, and whether
a record-level level calibrated on the base's own file-order pseudo-batches brings them to fpr without losing recall.

    python bench/inorder_fpr_s27.py [--variants a,b,...] [configs, default 6:0,10:0,12:1] [orders, default inorder,random]
    python bench/inorder_fpr_s27.py [--variants ...] --detect [variants, default main,loo-feat]

Replays bench/gate_pass_rate.py's batches (its ``run`` with an ``inspect`` hook: the same datasets, seeds, poison
and gate; 6 + 10 + 12 batches a dataset = 112 clean and 112 poisoned batches per order). The detectors run once
per batch (inside ``gate_pass_rate.gate``); every variant re-combines those same detector results with the real
``combine`` and re-applies the gate's ``detectors.combined`` clauses with the real budget (``detectors.relabels``
too where a variant changes p-values). ``detectors.extreme`` and ``copies.max_copies_rate`` read nothing a variant
changes, so their outcome is the bench's own. ``library`` (the library's own flags) must reproduce the bench's
outcome exactly (checked, reported on each order's first line). ``--detect`` runs bench/detect_combined.py's
batches (``--part combined --prov-only``) once per variant with the variant's flags and rules in place of the
gate's: recall per family, clean false alarms, gate outcomes (bench/results/inorder-fpr-s27-detect.md).

Variants (a record is flagged when its combined p-value is at most its level; the statistic is main's unless said):

- ``main``: every record at ``fpr`` (the rule before session 27).
- ``library``: the library as it is (session 27: ``detectors.feature_level``).
- ``loo``: every record at a level ``a <= fpr`` calibrated on the base's pseudo-batches, each held out in turn
  (its records' per-detector p-values from the other batches' raw scores, ``beyond.held_out_p_values``, their
  combined p-values ranked against the others' in-sample statistics as a delta record's are): the largest level
  at which at most ``fpr`` of the held-out records lie.
- ``forward``: the same with each batch from the third on held out against the batches before it only.
- ``-half``: the level at least ``fpr / 2``. ``-feat``: records whose statistic ``knn_label`` set stay at ``fpr``
  (``-feat2``: and ``collision``). ``loo-mix``: ``-feat`` with the level chosen so that the held-out records,
  ``knn_label``'s at ``fpr`` and the others at the level, hold ``fpr`` together.
- ``mondrian2``/``mondrian3``: ``knn_label``'s p-values calibrated within 2/3 strata of a record's mean distance to
  its nearest base records (Mondrian conformal); ``mondrian2-loo``, ``mondrian2-loo-feat``: with those levels.
- ``rw1``/``rw5``/``rwfwd1``/``rwfwd5``: each detector's weight divided by its held-out excess at fpr (or 5 fpr;
  ``fwd``: forward held-out), all at ``fpr``.

Writes bench/results/inorder-fpr-s27.md (with ``uptime`` and the run's CPU time) and prints it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench

from provenance.detectors.beyond import held_out_p_values, weighted_statistic
from provenance.detectors.calibration import Calibration
from provenance.detectors.combine import DETECTOR_WEIGHTS, combine, combined_p_values
from provenance.detectors.knn_label import VOTERS
from provenance.detectors.relabel_scan import profile_null, scan_delta
from provenance.detectors.shared import reference_neighbours

FPR, ALPHA = bench.FPR, bench.ALPHA
FIRST_FORWARD = 2  # ``forward`` holds out batches 2..B-1, each against the batches before it


def _scored(results):
    return [r for r in results if r.status == "ran" and r.p_values is not None and r.reference_p is not None]


def held_out_combined_p(results, batches: np.ndarray, forward: bool, with_label: bool = False):
    """Combined p-values of the reference's records, each pseudo-batch held out against the others (``forward``:
    against the batches before it only), pooled over the held-out batches (``with_label``: and whether
    ``knn_label`` set each one's statistic)."""
    scored = _scored(results)
    raws = [np.asarray(r.reference_raw, dtype=np.float64) for r in scored]
    weights = np.array([DETECTOR_WEIGHTS.get(r.detector, 1.0) for r in scored])
    pooled = []
    by_label = []
    label_at = [j for j, r in enumerate(scored) if r.detector == "knn_label"]
    labels = np.unique(batches)
    for b in labels[FIRST_FORWARD:] if forward else labels:
        keep = batches <= b if forward else np.ones(len(batches), dtype=bool)
        out = batches[keep] == b
        held, kept = held_out_p_values([raw[keep] for raw in raws], out, FPR)
        T_out = weighted_statistic(held, weights)
        T_kept = weighted_statistic(kept, weights)
        T_kept = T_kept[np.isfinite(T_kept)]
        finite = np.isfinite(T_out)
        if label_at:
            W = np.column_stack(held) / weights
            set_by_label = np.where(np.isfinite(W), W, np.inf).argmin(axis=1) == label_at[0]
        else:
            set_by_label = np.zeros(len(T_out), dtype=bool)
        T_out = T_out[finite]
        if len(T_kept) and len(T_out):
            pooled.append(combined_p_values(T_out, T_kept))
            by_label.append(set_by_label[finite])
    p = np.concatenate(pooled) if pooled else np.zeros(0)
    if with_label:
        return p, (np.concatenate(by_label) if by_label else np.zeros(0, dtype=bool))
    return p


def mixed_level(p_out: np.ndarray, by_label: np.ndarray, fpr: float, floor: float) -> float:
    """The largest level ``a`` in [floor, fpr] at which records whose statistic ``knn_label`` set, flagged at
    ``fpr``, and the others, flagged at ``a``, together hold at most ``fpr`` of ``p_out``."""
    if len(p_out) == 0:
        return fpr
    allowed = int(np.floor(fpr * len(p_out))) - int(((p_out <= fpr) & by_label).sum())
    return max(floor, calibrated_level_count(np.sort(p_out[~by_label]), allowed, fpr))


def calibrated_level_count(p: np.ndarray, allowed: int, fpr: float) -> float:
    """The largest level <= fpr holding at most ``allowed`` of the sorted ``p`` (0 when ``allowed`` < 0)."""
    if allowed < 0:
        return 0.0
    if allowed >= len(p):
        return fpr
    return float(min(fpr, np.nextafter(p[allowed], 0.0)))


def calibrated_level(p_out: np.ndarray, fpr: float) -> float:
    """The largest level ``a <= fpr`` at which at most ``fpr`` of ``p_out`` lie (``fpr`` when none given)."""
    if len(p_out) == 0:
        return fpr
    p = np.sort(p_out)
    allowed = int(np.floor(fpr * len(p)))  # records that may lie at or below the level
    if allowed >= len(p):
        return fpr
    # any level below p[allowed] holds at most ``allowed`` records
    return float(min(fpr, np.nextafter(p[allowed], 0.0)))


def level_of(variant: str, results, batches: np.ndarray) -> float | None:
    if variant == "main":
        return FPR
    if variant == "library":
        return None
    if variant.startswith("loo-mix"):
        p_out, by_label = held_out_combined_p(results, batches, forward=False, with_label=True)
        return mixed_level(p_out, by_label, FPR, FPR / 2 if variant.endswith("half") else 0.0)
    p_out = held_out_combined_p(results, batches, forward=variant.startswith("forward"))
    a = calibrated_level(p_out, FPR)
    if variant.endswith("half"):
        a = max(a, FPR / 2)
    return a


def held_out_detector_rates(results, batches: np.ndarray, level: float, forward: bool) -> dict[str, float]:
    """Per detector, how often a held-out pseudo-batch's record has its own p-value <= ``level`` (each batch
    calibrated on the others, ``forward``: on the batches before it), over ``level``: 1 = as nominal."""
    scored = _scored(results)
    raws = [np.asarray(r.reference_raw, dtype=np.float64) for r in scored]
    hits = np.zeros(len(scored))
    counts = np.zeros(len(scored))
    labels = np.unique(batches)
    for b in labels[FIRST_FORWARD:] if forward else labels:
        keep = batches <= b if forward else np.ones(len(batches), dtype=bool)
        held, _ = held_out_p_values([raw[keep] for raw in raws], batches[keep] == b, FPR)
        for j, p in enumerate(held):
            ok = np.isfinite(p)
            hits[j] += (p[ok] <= level).sum()
            counts[j] += ok.sum()
    return {r.detector: float(h / c / level) if c else 1.0 for r, h, c in zip(scored, hits, counts)}


def weights_of(variant: str, results, batches: np.ndarray) -> dict[str, float]:
    """The detector weights a variant combines with: main's, or each divided by its held-out excess (at least 1)."""
    if not variant.startswith("rw"):
        return dict(DETECTOR_WEIGHTS)
    level = FPR * (5 if variant.endswith("5") else 1)
    excess = held_out_detector_rates(results, batches, level, forward="fwd" in variant)
    return {d: DETECTOR_WEIGHTS.get(d, 1.0) / max(1.0, e) for d, e in excess.items()}


def distance_of(dist: np.ndarray) -> np.ndarray:
    """A record's typical distance to its nearest base records (mean of the finite ones; inf where none)."""
    finite = np.isfinite(dist)
    total = np.where(finite, dist, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.inf)


def mondrian_label(results, profile, delta, strata: int):
    """``results`` with ``knn_label``'s p-values (delta and reference) calibrated within strata of how far a record
    lies from its nearest base records (the reference's quantiles of that distance; Mondrian conformal)."""
    out = []
    for r in results:
        if r.detector != "knn_label" or r.status != "ran" or r.reference_raw is None:
            out.append(r)
            continue
        k = min(VOTERS, profile.nn_idx.shape[1])
        ref_d = distance_of(np.asarray(profile.nn_dist[:, :k], dtype=np.float64))
        _, dist = reference_neighbours(profile, delta)
        delta_d = distance_of(np.asarray(dist[:, :k], dtype=np.float64))
        edges = np.quantile(ref_d[np.isfinite(ref_d)], np.linspace(0, 1, strata + 1)[1:-1])
        ref_s, delta_s = np.searchsorted(edges, ref_d), np.searchsorted(edges, delta_d)
        ref_raw = np.asarray(r.reference_raw, dtype=np.float64)
        p_delta = np.asarray(r.p_values, dtype=np.float64).copy()
        p_ref = np.asarray(r.reference_p, dtype=np.float64).copy()
        full = Calibration(ref_raw, FPR)
        delta_raw = raw_of(full, p_delta)
        for s in range(strata):
            members = (ref_s == s) & np.isfinite(ref_raw)
            if members.sum() < 50:
                continue
            cal = Calibration(ref_raw[members], FPR)
            p_ref[members] = cal.p_values(ref_raw[members])
            at = delta_s == s
            p_delta[at] = cal.p_values(delta_raw[at])
        out.append(replace(r, p_values=p_delta, reference_p=p_ref))
    return out


def raw_of(cal: Calibration, p: np.ndarray) -> np.ndarray:
    """The raw scores whose p-values under ``cal`` are ``p`` (bisection on the monotone map; the bench keeps no raw)."""
    lo = np.full(len(p), -1e3)
    hi = np.full(len(p), 1e4)
    for _ in range(200):
        mid = (lo + hi) / 2
        above = cal.p_values(mid) > p  # p falls as raw rises
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return (lo + hi) / 2


VARIANTS = (
    "main",
    "library",
    "loo",
    "loo-feat",
    "loo-feat-half",
    "loo-feat2-half",
    "loo-mix",
    "forward-half",
    "mondrian2",
)


def replay(
    outcome: dict,
    batches: np.ndarray,
    level: float,
    weights=None,
    profile=None,
    delta=None,
    results=None,
    label_exempt=False,
) -> dict:
    """The gate's ``detectors.combined`` clauses on ``outcome``'s detector results with records flagged at ``level``
    (and, with ``weights``, the detectors weighed so in the statistic: then ``detectors.relabels`` is replayed too)."""
    old = outcome["verdicts"]
    results = outcome["results"] if results is None else results
    digests = [r.digest for r in old.records]
    saved = dict(DETECTOR_WEIGHTS)
    if weights is None and results is not outcome["results"]:
        weights = dict(DETECTOR_WEIGHTS)  # other p-values: replay the relabels rule too
    if weights is not None:
        DETECTOR_WEIGHTS.clear()
        DETECTOR_WEIGHTS.update(weights)
    try:
        verdicts = combine(results, FPR, batches, None, digests)
        relabels = None
        if weights is not None:
            null = profile_null(profile, results, FPR) if "relabeled" in delta.kinds else None
            relabels = scan_delta(verdicts, results, delta.labels, delta.kinds, null, ALPHA).blocked
    finally:
        DETECTOR_WEIGHTS.clear()
        DETECTOR_WEIGHTS.update(saved)
    if level is not None:  # None: the library's own flags
        for r in verdicts.records:
            r.flagged = bool(r.p_value <= (FPR if label_exempt and strongest(r) in label_exempt else level))
    clauses = bench.combined_clauses(verdicts)
    blocking = [b for b in outcome["blocking"] if not b.startswith("detectors.combined")]
    if relabels is not None:
        blocking = [b for b in blocking if b != "detectors.relabels"] + (["detectors.relabels"] if relabels else [])
    if clauses:
        blocking.insert(0, f"detectors.combined({'+'.join(clauses)})")
    return {
        "blocking": blocking,
        "flags": np.array([v.flagged for v in verdicts.records], dtype=bool),
        "strongest": [strongest(v) for v in verdicts.records],
    }


def strongest(v) -> str:
    """The detector whose weighted p-value set the record's combined statistic."""
    return min(v.detectors, key=lambda x: (1.0 - x["score"]) / DETECTOR_WEIGHTS.get(x["detector"], 1.0))["detector"]


class Tally:
    def __init__(self) -> None:
        self.clean_n: Counter[str] = Counter()
        self.clean_flagged: Counter[tuple[str, str]] = Counter()  # (variant, dataset)
        self.clean_pass: Counter[str] = Counter()
        self.poison_block: Counter[str] = Counter()
        self.genuine: Counter[str] = Counter()
        self.poison_flagged: Counter[tuple[str, str]] = Counter()  # (variant, attack)
        self.poison_n: Counter[str] = Counter()
        self.own: dict[str, Counter[str]] = defaultdict(Counter)  # dataset -> detector -> clean records it flags alone
        self.strongest: dict[str, Counter[str]] = defaultdict(Counter)  # "variant dataset" -> detector
        self.levels: dict[str, list[float]] = defaultdict(list)
        self.weights: dict[str, list[float]] = defaultdict(list)
        self.batches = 0
        self.mismatch = 0

    def add(self, batch: bench.Batch) -> None:
        self.batches += 1
        batches = np.asarray(batch.profile.sample_batches)
        ds = batch.dataset
        self.clean_n[ds] += batch.clean_outcome["n"]
        for r in batch.clean_outcome["results"]:
            if r.status == "ran":
                self.own[ds][r.detector] += int(sum(r.columns()[1]))
        for variant in VARIANTS:
            level = (
                FPR
                if variant.startswith("rw") or variant in ("mondrian2", "mondrian3")
                else level_of(variant.replace("mondrian2-", ""), batch.clean_outcome["results"], batches)
            )
            if variant == "library":
                self.levels[f"{variant} {ds}"].append(batch.clean_outcome["verdicts"].feature_level or FPR)
            elif level is not None:
                self.levels[f"{variant} {ds}"].append(level)
            w = weights_of(variant, batch.clean_outcome["results"], batches) if variant.startswith("rw") else None
            if w is not None:
                for d, value in w.items():
                    self.weights[f"{variant} {ds} {d}"].append(value)
            rc = rp = None
            if variant.startswith("mondrian"):
                strata = int(variant[len("mondrian")])
                rc = mondrian_label(batch.clean_outcome["results"], batch.profile, batch.clean, strata)
                rp = mondrian_label(batch.poisoned_outcome["results"], batch.profile, batch.poisoned, strata)
            ex = exempt_of(variant)
            clean = replay(batch.clean_outcome, batches, level, w, batch.profile, batch.clean, rc, ex)
            poisoned = replay(batch.poisoned_outcome, batches, level, w, batch.profile, batch.poisoned, rp, ex)
            if variant == "library" and (
                clean["blocking"] != batch.clean_outcome["blocking"]
                or poisoned["blocking"] != batch.poisoned_outcome["blocking"]
                or not np.array_equal(clean["flags"], batch.clean_outcome["flags"])
                or not np.array_equal(poisoned["flags"], batch.poisoned_outcome["flags"])
            ):
                self.mismatch += 1
            passed = not clean["blocking"]
            self.clean_flagged[(variant, ds)] += int(clean["flags"].sum())
            self.clean_pass[variant] += passed
            for s, f in zip(clean["strongest"], clean["flags"]):
                if f:
                    self.strongest[f"{variant} {ds}"][s] += 1
            blocked = bool(poisoned["blocking"])
            self.poison_block[variant] += blocked
            self.genuine[variant] += blocked and passed
            self.poison_flagged[(variant, batch.attack)] += int(poisoned["flags"][batch.poison].sum())
        self.poison_n[batch.attack] += int(batch.poison.sum())

    def lines(self, order: str) -> list[str]:
        out = [
            f"## {order}: {self.batches} clean + {self.batches} poisoned batches (the library's replay differs from the bench's outcome in {self.mismatch})",
            "",
        ]
        datasets = sorted(self.clean_n)
        out += variant_table(self, VARIANTS)
        out.append("")
        out.append(
            "Poisoned records flagged per attack: "
            + "; ".join(
                f"{a} " + " / ".join(str(self.poison_flagged[(v, a)]) for v in VARIANTS) + f" of {n}"
                for a, n in sorted(self.poison_n.items())
            )
            + f" ({' / '.join(VARIANTS)})"
        )
        out.append("")
        out.append("Each detector's own flags on the clean records (its own p-value at fpr), per dataset:")
        for d in datasets:
            out.append(
                f"- {d} ({self.clean_n[d]} records): "
                + ", ".join(f"{k} {c / self.clean_n[d]:.2%}" for k, c in sorted(self.own[d].items()))
            )
        out.append("")
        out.append("Which detector set the combined statistic of the flagged clean records (main, then library):")
        for d in datasets:
            for v in ("main", "library"):
                s = self.strongest[f"{v} {d}"]
                out.append(f"- {v} {d}: " + (", ".join(f"{k} {c}" for k, c in s.most_common()) or "-"))
        out.append("")
        out.append("Calibrated levels (median, min-max over the batches):")
        for key, values in sorted(self.levels.items()):
            if not key.startswith(("main", "rw")):
                out.append(f"- {key}: {np.median(values):.4f} ({min(values):.4f}-{max(values):.4f})")
        out.append("")
        out.append("Reweighted variants' detector weights (median over the batches):")
        for key in sorted({k.rsplit(" ", 1)[0] for k in self.weights}):
            out.append(
                f"- {key}: "
                + ", ".join(
                    f"{k.rsplit(' ', 1)[1]} {np.median(v):.2f}"
                    for k, v in sorted(self.weights.items())
                    if k.rsplit(" ", 1)[0] == key
                )
            )
        out.append("")
        return out


def variant_table(tally, variants) -> list[str]:
    """The table of a tally's variants (a ``Tally`` here or in bench/inorder_fpr_s28.py): clean records flagged
    overall and per dataset, clean batches passed, poisoned batches blocked (genuinely: their clean twin
    passed) and poisoned records flagged."""
    datasets = sorted(tally.clean_n)
    total = sum(tally.clean_n.values())
    out = [
        "| variant | clean flagged (all) | "
        + " | ".join(datasets)
        + " | clean passed | poisoned blocked (genuine) | poison records flagged |",
        "|---" * (5 + len(datasets)) + "|",
    ]
    for v in variants:
        flagged = sum(tally.clean_flagged[(v, d)] for d in datasets)
        per = " | ".join(f"{tally.clean_flagged[(v, d)] / tally.clean_n[d]:.2%}" for d in datasets)
        pf = sum(tally.poison_flagged[(v, a)] for a in tally.poison_n)
        out.append(
            f"| {v} | {flagged} = {flagged / total:.2%} | {per} | {tally.clean_pass[v]} "
            f"| {tally.poison_block[v]} ({tally.genuine[v]}) | {pf} of {sum(tally.poison_n.values())} |"
        )
    return out


def per_attack_line(tally, variants) -> str:
    """Poisoned records flagged per attack, each variant's count in turn (a ``Tally`` of bench/inorder_fpr_s28.py
    or bench/det34_inorder.py)."""
    return (
        "Poisoned records flagged per attack: "
        + "; ".join(
            f"{a} " + " / ".join(str(tally.poison_flagged[(v, a)]) for v in variants) + f" of {n}"
            for a, n in sorted(tally.poison_n.items())
        )
        + f" ({' / '.join(variants)})"
    )


def exempt_of(variant: str) -> tuple[str, ...]:
    """The detectors whose records a variant still flags at fpr (``-feat``: the label's; ``-feat2``: and collision's)."""
    if "-feat2" in variant:
        return ("knn_label", "collision")
    return ("knn_label",) if "-feat" in variant or variant.startswith("loo-mix") else ()


def variant_outcome(variant: str, outcome: dict, profile, delta) -> dict:
    """``outcome`` (``gate_pass_rate.gate``'s) with the flags and blocking rules of ``variant``."""
    batches = np.asarray(profile.sample_batches)
    results = outcome["results"]
    level = (
        FPR
        if variant.startswith("rw") or variant in ("mondrian2", "mondrian3")
        else level_of(variant.replace("mondrian2-", ""), results, batches)
    )
    w = weights_of(variant, results, batches) if variant.startswith("rw") else None
    rv = (
        mondrian_label(results, profile, delta, int(variant[len("mondrian")]))
        if variant.startswith("mondrian")
        else None
    )
    ex = exempt_of(variant)
    return replay(outcome, batches, level, w, profile, delta, rv, ex)


def detect_part(variants: list[str], per_mode: int = 3) -> list[str]:
    """bench/detect_combined.py's batches (``--part combined --prov-only``: the same datasets, seeds and attacks at
    3%), once per variant with its flags and rules in place of main's: per family, the combined verdict's recall."""
    import detect_combined

    lines = ["## Detection bench (bench/detect_combined.py's batches, prov's columns)", ""]
    lines.append(
        "| variant | clean flagged in order | at random | clean passed in order / at random | "
        + "recall per family in order (at random) | poisoned blocked in order / at random |"
    )
    lines.append("|---|---|---|---|---|---|")
    original = detect_combined.gate
    for variant in variants:

        def gate(profile, delta, *rest, _v=variant):
            outcome = original(profile, delta, *rest)
            replayed = variant_outcome(_v, outcome, profile, delta)
            return {
                **outcome,
                "flags": replayed["flags"],
                "flagged": int(replayed["flags"].sum()),
                "blocking": replayed["blocking"],
            }

        detect_combined.gate = gate
        try:
            results = detect_combined.run(per_mode, baselines=False)
        finally:
            detect_combined.gate = original
        fpr_cells, passed, recall, blocked = [], [], defaultdict(dict), []
        for mode, out in results.items():
            n = sum(c["n"] for c in out["clean"])
            k = sum(c["flagged"] for c in out["clean"])
            fpr_cells.append(f"{k}/{n} = {k / max(n, 1):.2%}")
            passed.append(f"{sum(c['passed'] for c in out['clean'])}/{len(out['clean'])}")
            by_family: dict = defaultdict(list)
            for row in out["poisoned"]:
                by_family[row["family"]].append(row)
            for family, rows in by_family.items():
                total = sum(r["n_poison"] for r in rows)
                recall[family][mode] = sum(int(np.sum(r["prov flagged"])) for r in rows) / max(total, 1)
            blocked.append(f"{sum(r['blocked'] for r in out['poisoned'])}/{len(out['poisoned'])}")
        per_family = ", ".join(
            f"{f} {v.get('inorder', 0):.2f} ({v.get('random', 0):.2f})" for f, v in sorted(recall.items())
        )
        lines.append(
            f"| {variant} | {fpr_cells[0]} | {fpr_cells[1]} | {' / '.join(passed)} | {per_family} | {' / '.join(blocked)} |"
        )
        print(lines[-1], flush=True)
    return lines + [""]


def tallied(tally_class, names: list[str], configs, orders: list[str]) -> list[str]:
    """Each order's lines of a ``tally_class`` (``Tally`` here or in bench/inorder_fpr_s28.py) over the gate bench's
    batches of ``configs`` (batches per dataset, seed), printed as each order ends; then ``uptime``."""
    lines: list[str] = []
    for order in orders:
        tally = tally_class()
        for per, seed in configs:
            bench.run(names, per, seed, out=lambda *a, **k: None, order=order, inspect=tally.add)
        part = tally.lines(order)
        print("\n".join(part), flush=True)
        lines += part
    return lines + [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]


def main(argv: list[str]) -> None:
    global VARIANTS
    if argv and argv[0] == "--variants":  # a subset of VARIANTS (quicker)
        VARIANTS = tuple(argv[1].split(","))
        argv = argv[2:]
    if argv and argv[0] == "--detect":
        variants = argv[1].split(",") if len(argv) > 1 else ["main", "loo-feat"]
        lines = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), ""]
        cpu = time.process_time()
        lines += detect_part(variants)
        lines.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        lines.append(f"CPU time of the run: {time.process_time() - cpu:.0f} s")
        head = "# Detection bench under the session 27 variants (generated by bench/inorder_fpr_s27.py --detect)\n\n"
        (Path(__file__).resolve().parent / "results" / "inorder-fpr-s27-detect.md").write_text(
            head + "\n".join(lines) + "\n"
        )
        return
    configs = [tuple(int(x) for x in c.split(":")) for c in (argv[0] if argv else "6:0,10:0,12:1").split(",")]
    orders = (argv[1] if len(argv) > 1 else "inorder,random").split(",")
    names = bench.DEFAULT_DATASETS.split(",")
    lines = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), ""]
    cpu = time.process_time()
    lines += tallied(Tally, names, configs, orders)
    lines.append(f"CPU time of the run: {time.process_time() - cpu:.0f} s")
    head = "# Clean false alarms in file order, and a level calibrated on the base's pseudo-batches (generated by bench/inorder_fpr_s27.py)\n\n"
    name = (
        "inorder-fpr-s27.md"
        if configs == [(6, 0), (10, 0), (12, 1)]
        else "inorder-fpr-s27-" + "-".join(f"{p}x{s}" for p, s in configs) + ".md"
    )
    (Path(__file__).resolve().parent / "results" / name).write_text(head + "\n".join(lines) + "\n")
    print("\n".join(lines[-2:]))


if __name__ == "__main__":
    main(sys.argv[1:])
