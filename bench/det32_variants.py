"""Session 32 (issue 14): other per-record scores for `spectral` (SPECTRE's QUE) and `gradient` (cosine).

    OMP_NUM_THREADS=1 nice python bench/det32_variants.py [variants, default main,que@4,cos] [orders,
        default inorder,random] [output name, default det32-variants.md]

`spectral` whitens each class's delta records by the base class's covariance (shrunk toward the base's total
covariance) and scores a record by its squared projection on the top singular direction of the other fold's
whitened records (provenance/detectors/spectral.py, ``top_direction_scores``). SPECTRE (Hayase et al. 2021) scores
by the QUantum Entropy (QUE) instead: with ``M`` the other fold's whitened second moment (uncentred, as `spectral`
reads a shift away from the base's mean as the signal), ``Q = exp(alpha (M - I) / (||M||_2 - 1))`` and a record's
score ``r' Q r / tr Q``. ``alpha -> infinity`` is the top direction's projection, ``alpha = 0`` the whitened
distance, so a poison whose shift spreads over a few directions (a blended pattern, a gradient-matching
perturbation) can count where one direction misses it. SPECTRE's robust estimate of the clean covariance is the
base class's here: the base is the trusted, clean side (a minimum-covariance-determinant estimate of it would trim
the base's own tails and so flag more clean records beyond them).

`gradient` scores a record by its loss gradient's projection on the mean gradient shift of the delta's other
fold (provenance/detectors/gradient.py, ``projection_scores``): a clean record the base model fits badly has a
large gradient and so a large projection on any direction, where Witches' Brew (Geiping et al. 2021) optimises its
poisons' gradients' *cosine* to the target's, not their length. ``cos`` scores the projection over the record's
gradient norm (the cosine, up to the base's mean gradient), ``sqrt`` over its square root (halfway).

Variants: ``main`` (the library's scores), ``que@A`` (`spectral` by QUE at alpha ``A``), ``cos`` and ``sqrt``
(`gradient` as above). Each replays the gate bench's
batches (bench/gate_pass_rate.py) through bench/inorder_fpr_s29.py's ``Tally`` (library flags, the gate's own
outcome), once on the tuning sets (``6 0`` and ``10 0``) and once on the held-out ``12 1``, per order. Writes
bench/results/det32-variants.md (or the name given) with ``uptime`` before and after and the run's CPU time; ``main`` first, so its replay
is the baseline of the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench
import inorder_fpr_s28 as s28
import inorder_fpr_s29 as s29
from inorder_fpr_s27 import tallied

import provenance.detectors.gradient as gradient
import provenance.detectors.spectral as spectral
from provenance.features.softmax import gradient_norms

TUNING, HELD_OUT = [(6, 0), (10, 0)], [(12, 1)]
ScoreFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def que_scores(alpha: float) -> ScoreFn:
    """``spectral.shift_scores`` by SPECTRE's QUE score at ``alpha``: ``(scored (n,), held_out (m,))`` float64,
    each ``r' Q r / tr Q`` with ``Q`` from ``source``'s whitened second moment (module docstring)."""

    def scores(source: np.ndarray, scored: np.ndarray, held_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(source) == 0:
            return spectral.top_direction_scores(source, scored, held_out)
        moment = source.T @ source / len(source)
        values, vectors = np.linalg.eigh(moment)
        # ||M|| - 1 floored: a class whose delta spreads no wider than the base's leans on its top direction
        exponent = alpha * (values - 1.0) / max(float(values[-1]) - 1.0, 1e-3)
        weights = np.exp(exponent - exponent.max())
        weights /= weights.sum()
        return ((scored @ vectors) ** 2) @ weights, ((held_out @ vectors) ** 2) @ weights

    return scores


def normalised_scores(power: float) -> Callable[..., np.ndarray]:
    """``gradient.direction_scores`` divided by each record's gradient norm to ``power`` (1: the cosine)."""

    def scores(Xb: np.ndarray, res: np.ndarray, direction: np.ndarray, offset: float) -> np.ndarray:
        norms = np.maximum(gradient_norms(Xb, res).astype(np.float64), 1e-12)
        return gradient.projection_scores(Xb, res, direction, offset) / norms**power

    return scores


def install(variant: str) -> None:
    """Make the library score as ``variant`` says: ``main``, ``que@ALPHA``, ``cos`` or ``sqrt``."""
    spectral.shift_scores, gradient.direction_scores = spectral.top_direction_scores, gradient.projection_scores
    name, _, alpha = variant.partition("@")
    if name == "que" and alpha:
        spectral.shift_scores = que_scores(float(alpha))
    elif variant in ("cos", "sqrt"):
        gradient.direction_scores = normalised_scores(1.0 if variant == "cos" else 0.5)
    elif variant != "main":
        raise SystemExit(f"bench/det32_variants.py: unknown variant {variant!r} (main, que@ALPHA, cos, sqrt)")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class KeptTally(s29.Tally):
    """bench/inorder_fpr_s29.py's ``Tally``, each one kept in ``made`` for the summary."""

    made: list[s29.Tally] = []

    def __init__(self) -> None:
        super().__init__()
        KeptTally.made.append(self)


def rate(k: int, n: int) -> str:
    low, high = bench.wilson(k, n)
    return f"{k}/{n} ({100 * low:.0f}-{100 * high:.0f}%)"


def summary(rows: list[tuple[str, str, str, s29.Tally]]) -> list[str]:
    """One row per (variant, part, order): batches passed and blocked with 95% Wilson intervals, clean records
    flagged, poisoned records flagged; then poisoned records flagged per attack."""
    out = [
        "| variant | sets | order | clean batches passed | poisoned batches blocked | clean records flagged | "
        "poisoned records flagged |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, part, order, t in rows:
        clean_flagged, clean_n = sum(t.clean_flagged.values()), sum(t.clean_n.values())
        poison_flagged, poison_n = sum(t.poison_flagged.values()), sum(t.poison_n.values())
        out.append(
            f"| {variant} | {part} | {order} | {rate(t.clean_pass['library'], t.batches)} | "
            f"{rate(t.poison_block['library'], t.batches)} | {clean_flagged} = {100 * clean_flagged / clean_n:.2f}% | "
            f"{poison_flagged} of {poison_n} |"
        )
    attacks = sorted({a for *_, t in rows for a in t.poison_n})
    out += ["", "Poisoned records flagged per attack:", ""]
    out += ["| variant | sets | order | " + " | ".join(attacks) + " |", "|---|---|---|" + "---|" * len(attacks)]
    for variant, part, order, t in rows:
        cells = [f"{t.poison_flagged[('library', a)]}/{t.poison_n[a]}" for a in attacks]
        out.append(f"| {variant} | {part} | {order} | " + " | ".join(cells) + " |")
    return out + [""]


def main(argv: list[str]) -> None:
    variants = (argv[0] if argv else "main,que@4,cos").split(",")
    orders = (argv[1] if len(argv) > 1 else "inorder,random").split(",")
    s29.VARIANTS = ("library",)
    s28.VARIANTS, s28.flags_of = s29.VARIANTS, s29.flags_of
    names = bench.DEFAULT_DATASETS.split(",")
    before = uptime()
    cpu = time.process_time()
    detail: list[str] = []
    rows: list[tuple[str, str, str, s29.Tally]] = []
    try:
        for variant in variants:
            install(variant)
            for part, configs in (("6 0 + 10 0 (tuning)", TUNING), ("12 1 (held out)", HELD_OUT)):
                detail += [f"# variant {variant}, sets {part}", ""]
                detail += tallied(KeptTally, names, configs, orders)
                rows += [(variant, part, order, t) for order, t in zip(orders, KeptTally.made[-len(orders) :])]
                detail.append("")
    finally:
        install("main")
    lines = [before, uptime(), f"CPU time of the run: {time.process_time() - cpu:.0f} s", ""]
    lines += summary(rows) + detail
    out = Path(__file__).resolve().parent / "results" / (argv[2] if len(argv) > 2 else "det32-variants.md")
    head = "# Other scores for `spectral` and `gradient` (generated by bench/det32_variants.py)\n\n"
    out.write_text(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
