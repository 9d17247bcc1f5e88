"""Benchmark: per-detector counts of the delta's low p-values, against two nulls (session 19, issue 14).

    python bench/gate_count_variants.py N SEED [inorder|random]
    python bench/gate_count_variants.py whole

Replays the batches of bench/gate_pass_rate.py (its ``run`` with an ``inspect`` hook; same datasets, seeds,
attacks and gate) through the default gate, and adds one
candidate rule at a time: per detector that scores records, the delta's records at that detector's own
p-value <= L (each L of a variant's levels) against a beta-binomial null, Bonferroni over detectors x
levels, blocking below alpha 0.001. Two nulls, both measured on the base's profile only:

- ``loo``: every pseudo-batch of the base held out in turn and scored against a calibration fitted on
  all the others (``beyond.held_out_p_values``; the null of ``relabel_scan``), the batch with the
  largest share left out of the rate;
- ``fwd``: each pseudo-batch of the base's later half scored against the batches before it only
  (``forward_null``): session 19's candidate ``detectors.counts`` was ``fwd all 0.005`` (not landed:
  bench/results/gate-counts-session19.md).

Each line gives clean batches passed and poisoned batches blocked, before -> with the variant, and the
batches whose outcome changes. ``whole``: clean deltas of 30-60% of each dataset (base the first 40-70%),
in both orders, with the candidate's count p-value (the gate bench's batches are 100-400 records; a
drift allowance measured on batches must hold on a longer delta too: session 16's lesson), and the
clean two-class batch of tests/cli/test_check.py's shifted-batch test through the bench's featuriser.
Writes bench/results/gate-count-variants[-random]-N-seedS.md or gate-count-variants-whole.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.detectors.beyond import held_out_p_values, values_order
from provenance.detectors.budget import MAX_VARIANCE_FACTOR, overdispersion, tail_p
from provenance.detectors.calibration import Calibration
from provenance.profiles.reference import build_profile

ALPHA = bench.ALPHA
FORWARD_SHARE = 0.5  # the forward null's batches: the later half of the base's pseudo-batches
LEAST_FITTED = 10  # a forward batch is scored only against at least this many earlier records
ALL = ("collision", "duplicates", "gradient", "knn_label", "outlier", "spectral")
VARIANTS = [
    (null, detectors, levels)
    for null in ("loo", "fwd")
    for levels in ((0.001,), (0.005,), (0.01,), (0.001, 0.005), (0.001, 0.005, 0.01, 0.02, 0.05))
    for detectors in (ALL, ("spectral", "knn_label"))
]


def forward_null(raw: np.ndarray, batches: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pseudo-batch of the base's later half, scored against a calibration fitted on the batches
    before it only: its records at p <= level, and its records scored."""
    batches = np.asarray(batches, dtype=np.int64)
    count = int(batches.max()) + 1 if len(batches) else 0
    counts, sizes = [], []
    for j in range(max(1, int(np.ceil(FORWARD_SHARE * count))), count):
        fitted = raw[(batches < j) & np.isfinite(raw)]
        held = raw[(batches == j) & np.isfinite(raw)]
        if len(fitted) < LEAST_FITTED or not len(held):
            continue
        p = Calibration(fitted, bench.FPR).p_values(held)
        counts.append(int((p <= level).sum()))
        sizes.append(len(held))
    return np.array(counts, np.int64), np.array(sizes, np.int64)


def _tail(k: int, n: int, counts: np.ndarray, sizes: np.ndarray) -> float:
    """P(count >= k) of n records against per-batch ``counts`` of ``sizes`` (add-one rate, the batches'
    overdispersion within MAX_VARIANCE_FACTOR, plus 1 / (M + 2))."""
    if n == 0 or not sizes.sum():
        return 1.0
    rate = (1.0 + counts.sum()) / (1.0 + sizes.sum())
    rho = overdispersion(sizes.tolist(), counts.tolist(), cap=1.0)
    if n > 1:
        rho = min(rho, (MAX_VARIANCE_FACTOR - 1.0) / (n - 1.0))
    return tail_p(k, n, min(rate, 1.0 - 1e-9), rho + 1.0 / (sizes.sum() + 2.0))


def _loo_counts(raw: np.ndarray, batches: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pseudo-batch, held out against all the others: records at p <= level and scored; the batch with
    the largest share left out."""
    counts, sizes = [], []
    order = values_order([raw])
    for b in np.unique(batches):
        held, _ = held_out_p_values([raw], batches == b, bench.FPR, order)
        ok = np.isfinite(held[0])
        counts.append(int((held[0][ok] <= level).sum()))
        sizes.append(int(ok.sum()))
    c, s = np.array(counts), np.array(sizes)
    if len(s) >= 4:
        keep = np.ones(len(s), bool)
        keep[np.argmax(c / np.maximum(s, 1))] = False
        c, s = c[keep], s[keep]
    return c, s


def scan(outcome: dict, profile, null: str, detectors, levels) -> tuple[float, str]:
    """The variant's smallest tail p-value times its tests, and where it was."""
    batches = np.asarray(profile.sample_batches)
    best, where, tests = 1.0, "-", 0
    for r in outcome["results"]:
        if r.detector not in detectors or r.status != "ran" or r.p_values is None or r.reference_raw is None:
            continue
        p = np.asarray(r.p_values, dtype=np.float64)
        n = int(np.isfinite(p).sum())
        raw = np.asarray(r.reference_raw, dtype=np.float64)
        for level in levels:
            tests += 1
            if null == "fwd":
                counts, sizes = forward_null(raw, batches, level)
            else:
                counts, sizes = _loo_counts(raw, batches, level)
            k = int((p[np.isfinite(p)] <= level).sum())
            t = _tail(k, n, counts, sizes)
            if t < best:
                best, where = t, f"{r.detector} p <= {level:g}: {k} of {n}"
    return best * max(tests, 1), where


def before(outcome: dict) -> bool:
    """Whether the default gate blocks."""
    return bool(outcome["blocking"])


def variants(per_dataset: int, seed: int, order: str, out) -> None:
    """Replay the bench's batches through every variant (module docstring)."""
    batches = []
    bench.run(
        bench.DEFAULT_DATASETS.split(","),
        per_dataset,
        seed,
        out=lambda *_, **__: None,
        order=order,
        inspect=batches.append,
    )
    out(f"{len(batches)} clean and {len(batches)} poisoned batches ({order}, {per_dataset} per dataset, seed {seed})")
    for null, detectors, levels in VARIANTS:
        name = f"{null} {'all' if detectors == ALL else '+'.join(detectors)} {','.join(f'{x:g}' for x in levels)}"
        c0 = c1 = p0 = p1 = 0
        changed = []
        for b in batches:
            for twin, outcome in (("clean", b.clean_outcome), ("poisoned", b.poisoned_outcome)):
                was = before(outcome)
                t, where = scan(outcome, b.profile, null, detectors, levels)
                now = was or t < ALPHA
                if twin == "clean":
                    c0, c1 = c0 + (not was), c1 + (not now)
                else:
                    p0, p1 = p0 + was, p1 + now
                if now != was:
                    what = "clean" if twin == "clean" else b.attack
                    changed.append(f"    {what} {b.dataset} start {b.start} now BLOCKED ({t:.2g} x tests; {where})")
        out(f"{name:40s} clean passed {c0} -> {c1}; poisoned blocked {p0} -> {p1}")
        for line in changed:
            out(line)


def whole(out) -> None:
    """Clean deltas of 30-60% of each dataset, both orders, and a clean two-class batch: the candidate's count."""
    for order in ("inorder", "random"):
        for name in bench.DEFAULT_DATASETS.split(","):
            X, y = LOADERS[name]()
            if order == "random":
                shuffle = np.random.default_rng(bench.RANDOM_ORDER_SEED).permutation(len(X))
                X, y = X[shuffle], y[shuffle]
            y = y.astype(str)
            for fraction in (0.4, 0.5, 0.6, 0.7):
                start = int(fraction * len(X))
                Xb = X[:start]
                profile = build_profile(Xb, y[:start], row_digests(Xb), featurizer="x", positions=np.arange(start))
                delta, _ = pipeline_delta(Xb, X[start:], y[start:])
                g = bench.gate(profile, delta, len(Xb), 0, 0)
                t, where = scan(g, profile, "fwd", ALL, (0.005,))
                rules = ",".join(g["blocking"]) or "pass"
                out(
                    f"{order:8s} {name:16s} base {start:4d} delta {len(delta):4d}: gate {rules}; count p x 6 = {t:.2g} ({where})"
                )
    # tests/cli/test_check.py's shifted batch (a clean batch of two classes, which must warn and pass), here
    # through the bench's featuriser: digits shuffled (seed 7), base the first 1,000, delta 150 of the rest
    # labelled 0 or 1
    X, y = LOADERS["digits"]()
    shuffle = np.random.default_rng(bench.RANDOM_ORDER_SEED).permutation(len(X))
    X, y = X[shuffle], y[shuffle].astype(str)
    two = np.flatnonzero(np.isin(y[1000:], ["0", "1"]))[:150] + 1000
    profile = build_profile(X[:1000], y[:1000], row_digests(X[:1000]), featurizer="x", positions=np.arange(1000))
    delta, _ = pipeline_delta(X[:1000], X[two], y[two])
    g = bench.gate(profile, delta, 1000, 0, 0)
    t, where = scan(g, profile, "fwd", ALL, (0.005,))
    rules = ",".join(g["blocking"]) or "pass"
    out(
        f"shifted  digits, 0s and 1s     base 1000 delta {len(delta):4d}: gate {rules}; count p x 6 = {t:.2g} ({where})"
    )


HEADER = """# Per-detector counts against two nulls (generated by bench/gate_count_variants.py)

The gate bench's batches (bench/gate_pass_rate.py), replayed through the default gate with one candidate
count rule at a time, none of them in the default policy (the module's docstring): null `loo` (each pseudo-batch held out
against all the others) or `fwd` (each later pseudo-batch against the batches before it), the detectors
counted, the levels. The conclusion is in bench/results/gate-counts-session19.md. 2-CPU machine shared
by several engineers; load on the `uptime` lines.
"""


def main(argv: list[str]) -> None:
    """Run the variants (or ``whole``) and write the results file."""
    if argv[:1] == ["whole"]:
        bench.logged_run("gate-count-variants-whole.md", HEADER, whole)
        return
    per_dataset, seed = int(argv[0]), int(argv[1])
    order = argv[2] if len(argv) > 2 else "inorder"
    name = f"gate-count-variants{'-random' if order == 'random' else ''}-{per_dataset}-seed{seed}.md"
    bench.logged_run(name, HEADER, lambda out: variants(per_dataset, seed, order, out))


if __name__ == "__main__":
    main(sys.argv[1:])
