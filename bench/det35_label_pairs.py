"""Session 35 (det35, issue 14): flagged records crowded into one (label -> looks-like label) pair, as a gate rule.

    OMP_NUM_THREADS=1 nice python bench/det35_label_pairs.py collect [orders, default inorder,random]
    OMP_NUM_THREADS=1 nice python bench/det35_label_pairs.py report

``collect`` runs the gate bench's batches once per order (bench/gate_pass_rate.py, sets ``6 0``, ``10 0``, ``12 1``:
112 clean + 112 poisoned batches per order over digits, breast cancer, cells and Seattle weather) through its
``inspect`` hook and keeps, per batch and side (clean, poisoned), what the pair test reads: the combined flags and
p-values, each record's class index and looks-like label (``label_pairs.top_labels`` of its nearest base sample
records), its source, the base's held-out null (``label_pairs.pair_null`` on ``relabel_scan.profile_null``'s
combined p-values, the verdict's own held-out folds), the rules the bench's gate blocked on and the poison mask.
It pickles them to ``bench/work/det35-ORDER.pickle`` (git-ignored); ``report`` replays the test on them, at each
alpha in ``ALPHAS``, and writes bench/results/det35-label-pairs.md: per order, clean batches passed and poisoned
batches blocked by the bench's gate alone and with the pair rule, per family, and the batches the rule moves.
Deterministic: fixed seeds, no salted sample; the replay reads no clock.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench
from label_pairs_scan import PairNull, pair_null, scan_pairs, top_labels

from provenance.detectors.relabel_scan import COMBINED_SOURCE, profile_null
from provenance.detectors.shared import delta_labels, reference_neighbours

WORK = Path(__file__).resolve().parent / "work"
RESULT = Path(__file__).resolve().parent / "results" / "det35-label-pairs.md"
SETS = ((6, 0), (10, 0), (12, 1))
ALPHAS = (0.001, 0.01)  # the policy's default alpha, and a looser one to show the margin


@dataclass
class Side:
    """One delta as the pair test reads it."""

    blocking: list[str]
    flagged: np.ndarray
    p: np.ndarray
    labels: np.ndarray
    looks_like: np.ndarray
    sources: list
    null: PairNull
    poison: np.ndarray
    p_knn: np.ndarray  # knn_label's own p-values on the delta (NaN where none)
    null_p: dict  # "combined" / "knn_label" -> the base's held-out p-values (m,)


@dataclass
class Kept:
    dataset: str
    start: int
    attack: str
    n_classes: int
    clean: Side
    poisoned: Side


def side_of(profile, delta, outcome: dict, poison: np.ndarray) -> Side:
    idx, _ = reference_neighbours(profile, delta)
    sample_labels = np.asarray(profile.sample_labels, dtype=np.int64)
    from provenance.detectors.knn_label import VOTERS

    voters = np.where(idx[:, :VOTERS] >= 0, sample_labels[np.maximum(idx[:, :VOTERS], 0)], -2)
    held = profile_null(profile, outcome["results"], bench.FPR, outcome["verdicts"].held_out)
    p_held = held.p.get(COMBINED_SOURCE, np.full(len(sample_labels), np.nan))
    null = pair_null(sample_labels, profile.nn_idx, p_held, np.asarray(profile.sample_batches), bench.FPR)
    return Side(
        list(outcome["blocking"]),
        np.asarray(outcome["flags"], dtype=bool),
        np.asarray(outcome["p"], dtype=np.float64),
        delta_labels(profile, delta),
        top_labels(voters),
        list(delta.sources),
        null,
        np.asarray(poison, dtype=bool),
        knn_p_of(outcome, len(delta)),
        {k: np.asarray(v, dtype=np.float64) for k, v in held.p.items()},
    )


def knn_p_of(outcome: dict, n: int) -> np.ndarray:
    for r in outcome["results"]:
        if r.detector == "knn_label" and r.status == "ran" and r.p_values is not None and len(r.p_values) == n:
            return np.asarray(r.p_values, dtype=np.float64)
    return np.full(n, np.nan)


def collect(orders: list[str]) -> None:
    WORK.mkdir(exist_ok=True)
    for order in orders:
        kept: list[Kept] = []

        def keep(batch: bench.Batch) -> None:
            n = batch.clean_outcome["n"]
            kept.append(
                Kept(
                    batch.dataset,
                    batch.start,
                    batch.attack,
                    len(batch.profile.classes),
                    side_of(batch.profile, batch.clean, batch.clean_outcome, np.zeros(n, dtype=bool)),
                    side_of(batch.profile, batch.poisoned, batch.poisoned_outcome, batch.poison),
                )
            )

        for per, seed in SETS:
            bench.run(bench.DEFAULT_DATASETS.split(","), per, seed, out=lambda *a, **k: None, order=order, inspect=keep)
        with open(WORK / f"det35-{order}.pickle", "wb") as f:
            pickle.dump(kept, f, protocol=pickle.HIGHEST_PROTOCOL)
        print(f"{order}: {len(kept)} batches kept", flush=True)


LEVELS = (0.005, 0.01, 0.02, 0.05, 0.1)  # relabel_scan.LEVELS
VARIANTS = ("flags", "scan", "scan-knn")


class _Unpickler(pickle.Unpickler):
    """Reads outputs kept before the pair test moved here from ``provenance.detectors.label_pairs`` (session 35's
    first collect: the test was first written as a library module)."""

    def find_class(self, module: str, name: str):
        if module == "__main__" and name in ("Kept", "Side"):  # kept by this script run as a script
            return globals()[name]
        return super().find_class("label_pairs_scan" if module == "provenance.detectors.label_pairs" else module, name)


def load_kept(path: Path) -> list[Kept]:
    with open(path, "rb") as f:
        return _Unpickler(f).load()


def scan_of(variant: str, side: Side, n_classes: int, alpha: float):
    """The smallest-p pair of ``side`` under ``variant``: ``flags`` counts the combined verdict's flagged records
    per pair (the rule as built); ``scan`` counts, per pair, the records at p <= t for each level of ``LEVELS`` by
    the combined p-value and by ``knn_label``'s own, against the base's held-out records there (Bonferroni over
    the pairs, sources and levels); ``scan-knn`` by ``knn_label``'s alone."""
    if variant == "flags":
        return scan_pairs(side.flagged, side.p, side.labels, side.looks_like, side.sources, side.null, n_classes, alpha)
    sources = {"combined": side.p, "knn_label": side.p_knn}
    if variant == "scan-knn":
        sources = {"knn_label": side.p_knn}
    sources = {k: v for k, v in sources.items() if k in side.null_p}
    tests = len(sources) * len(LEVELS)
    best = None
    for name, p in sources.items():
        held = side.null_p[name]
        for level in LEVELS:
            null = PairNull(
                side.null.labels, side.null.looks_like, np.isfinite(held) & (held <= level), side.null.batches
            )
            hit = np.isfinite(p) & (p <= level)
            scan = scan_pairs(hit, p, side.labels, side.looks_like, side.sources, null, n_classes, alpha / tests)
            if best is None or scan.p_value < best.p_value:
                best = scan
    assert best is not None
    return best


def report() -> None:
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    started = time.process_time()
    lines = [
        "# Flagged records crowded into one (label -> looks-like) pair, replayed on the gate bench (generated by "
        "bench/det35_label_pairs.py)",
        "",
        "Each batch's stored detector outputs (one `collect` of bench/gate_pass_rate.py's sets `6 0`, `10 0`, `12 1`)"
        " replayed through `provenance.detectors.label_pairs.scan_pairs` at each alpha, per variant (`scan_of`);"
        " `gate` is the bench's default gate, `+pairs` the same with the pair rule added. A poisoned batch is"
        " genuinely blocked when its clean twin passes. Listed: each side whose smallest pair p-value is below 0.01.",
        "",
        "```",
        uptime,
    ]
    for order in ("inorder", "random"):
        path = WORK / f"det35-{order}.pickle"
        if not path.exists():
            continue
        kept = load_kept(path)
        for variant in VARIANTS:
            for alpha in ALPHAS:
                lines += tally(order, variant, alpha, kept)
    lines += [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    lines += [f"CPU time of the report: {time.process_time() - started:.0f} s", "```", ""]
    RESULT.write_text("\n".join(lines))
    print("\n".join(lines))


def tally(order: str, variant: str, alpha: float, kept: list[Kept]) -> list[str]:
    clean_pass = [0, 0]
    blocked = [0, 0]
    genuine = [0, 0]
    family: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    moved = []
    for k in kept:
        cs, ps = scan_of(variant, k.clean, k.n_classes, alpha), scan_of(variant, k.poisoned, k.n_classes, alpha)
        c_gate, p_gate = not k.clean.blocking, bool(k.poisoned.blocking)
        c_new, p_new = c_gate and not cs.blocked, p_gate or ps.blocked
        clean_pass[0] += c_gate
        clean_pass[1] += c_new
        blocked[0] += p_gate
        blocked[1] += p_new
        genuine[0] += p_gate and c_gate
        genuine[1] += p_new and c_new
        family[k.attack][0] += p_gate
        family[k.attack][1] += p_new
        family[k.attack][2] += 1
        for side, scan, label in ((k.clean, cs, "clean"), (k.poisoned, ps, k.attack)):
            if scan.p_value < 1e-2:
                gate_word = "BLOCK " + ",".join(side.blocking) if side.blocking else "pass"
                moved.append(
                    f"    {k.dataset:16s} start {k.start:5d} {label:22s} gate {gate_word}; pairs "
                    f"{'BLOCK' if scan.blocked else 'pass'}: {scan.count} of {scan.n} labelled {scan.label} "
                    f"look like {scan.looks_like} (expected {scan.expected:.2g}, rho {scan.rho:.2g}); "
                    f"p = {scan.p_value:.2g}, bar {scan.bar:.2g}; poison {int(side.poison[scan.contributors].sum())}"
                )
    n = len(kept)
    out = [
        f"{order}, {variant}, alpha {alpha:g}: clean passed {clean_pass[0]}/{n} gate -> {clean_pass[1]}/{n} +pairs; "
        f"poisoned blocked {blocked[0]}/{n} -> {blocked[1]}/{n} (genuine {genuine[0]} -> {genuine[1]})",
        "  per family (gate -> +pairs): " + "; ".join(f"{a} {g}->{p}/{t}" for a, (g, p, t) in sorted(family.items())),
    ]
    return out + moved


CAMPAIGN = 20  # newcomer review 34's campaign: 20 records of one class labelled as another
CAMPAIGN_RESULT = Path(__file__).resolve().parent / "results" / "det35-campaign.md"


def campaign(orders: list[str]) -> None:
    """The attack the rule is for, on the gate bench's datasets and batch positions: in each delivery, its first
    ``CAMPAIGN`` records (fewer when it holds fewer) of its most frequent class A labelled B, the class whose base
    centroid (standardised) lies nearest A's (overlapping classes: the hard case). Each batch is checked by the
    bench's default gate and by the pair rule (``flags``, alpha 0.001); writes bench/results/det35-campaign.md."""
    from real_datasets import LOADERS, pipeline_delta, row_digests

    from provenance.profiles.reference import build_profile

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    started = time.process_time()
    lines = [
        "# A one-pair label campaign on the gate bench's batches (generated by bench/det35_label_pairs.py campaign)",
        "",
        campaign.__doc__.split("\n\n")[0].replace("\n    ", " ").strip() if campaign.__doc__ else "",
        "Batch sizes are drawn as bench/gate_pass_rate.py draws them but from this script's own generator, so they",
        "differ from the gate bench's. `gate`: the default gate's blocking rules; `pairs`: the pair rule's outcome.",
        "",
        "```",
        uptime,
    ]
    for order in orders:
        totals = [0, 0, 0, 0]  # batches, gate blocks, pairs blocks, either
        by_dataset: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for per, seed in SETS:
            rng = np.random.default_rng(seed)
            for name in bench.DEFAULT_DATASETS.split(","):
                X, y = LOADERS[name]()
                if order == "random":
                    shuffle = np.random.default_rng(bench.RANDOM_ORDER_SEED).permutation(len(X))
                    X, y = X[shuffle], y[shuffle]
                y = y.astype(str)
                for start in np.linspace(0.3 * len(X), 0.85 * len(X), per).astype(int):
                    size = int(min(rng.integers(100, 401), len(X) - start))
                    Xb, yb, Xd, yd = X[:start], y[:start], X[start : start + size], y[start : start + size]
                    classes, counts = np.unique(yd, return_counts=True)
                    a = classes[np.argmax(counts)]
                    mu, sd = Xb.mean(axis=0), Xb.std(axis=0) + 1e-9
                    centre = {c: ((Xb[yb == c] - mu) / sd).mean(axis=0) for c in np.unique(yb)}
                    others = [c for c in centre if c != a]
                    if a not in centre or not others:
                        continue
                    b = min(others, key=lambda c: float(((centre[c] - centre[a]) ** 2).sum()))
                    chosen = np.flatnonzero(yd == a)[:CAMPAIGN]
                    y_new = yd.copy()
                    y_new[chosen] = b
                    base_digests = row_digests(Xb)
                    profile = build_profile(Xb, yb, base_digests, featurizer="x", positions=np.arange(len(Xb)))
                    delta, rows = pipeline_delta(Xb, Xd, y_new)
                    poison = np.isin(rows, chosen)
                    outcome = bench.gate(profile, delta, *bench.base_repetition(base_digests))
                    side = side_of(profile, delta, outcome, poison)
                    scan = scan_of("flags", side, len(profile.classes), bench.ALPHA)
                    g, pr = bool(outcome["blocking"]), scan.blocked
                    for t in (totals, by_dataset[name]):
                        t[0] += 1
                        t[1] += g
                        t[2] += pr
                        t[3] += g or pr
                    allowed = outcome["budget"].flags
                    lines.append(
                        f"{order:7s} {name:16s} start {start:5d} n {outcome['n']:3d}: {len(chosen)} of {str(a)!r} as {str(b)!r}, "
                        f"{int(outcome['flags'][poison].sum())} flagged, {outcome['flagged']} flagged in all (allowed "
                        f"{allowed}); gate {'BLOCK ' + ','.join(outcome['blocking']) if g else 'pass'}; pairs "
                        f"{'BLOCK' if pr else 'pass'} ({scan.count} of {scan.n}, p = {scan.p_value:.2g}, bar {scan.bar:.2g})"
                    )
        lines.append(
            f"{order}: campaigns blocked by the gate {totals[1]}/{totals[0]}, by the pair rule {totals[2]}/{totals[0]}, "
            f"by the gate with the pair rule {totals[3]}/{totals[0]}"
        )
        lines += [
            f"  {d:16s} gate {t[1]}/{t[0]}, pairs {t[2]}/{t[0]}, both {t[3]}/{t[0]}"
            for d, t in sorted(by_dataset.items())
        ]
        print("\n".join(lines[-6:]), flush=True)
    lines += [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    lines += [
        f"CPU time of the run: {time.process_time() - started:.0f} s (BLAS threads: OMP_NUM_THREADS=1)",
        "```",
        "",
    ]
    CAMPAIGN_RESULT.write_text("\n".join(lines))


def main(argv: list[str]) -> None:
    if argv and argv[0] == "campaign":
        campaign(argv[1].split(",") if len(argv) > 1 else ["inorder", "random"])
    elif argv and argv[0] == "collect":
        collect(argv[1].split(",") if len(argv) > 1 else ["inorder", "random"])
    elif argv and argv[0] == "report":
        report()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
