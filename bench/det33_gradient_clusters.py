"""Session 33 (det33, issue 14): do gradient-matching poisons cluster in gradient space within the delta?

    OMP_NUM_THREADS=1 nice python bench/det33_gradient_clusters.py [orders, default inorder,random]

Witches' Brew poisons (provenance.demo.attacks.gradient_matching) are all pushed toward one target gradient ``A``,
so their own loss gradients should point alike: a tight cluster in gradient space among the delta's records of the
adversarial class, which no clean record of that class would join (the "gradient-space clustering" idea of issue
14). Each record's gradient is the one `gradient` scores (the file-order-halves linear discriminants, cross-fitted:
``gradient.file_order_halves``, ``gradient._cross_fitted``), the outer product of the record ``x`` with bias and
its residual ``r``, flattened; two records are compared by their gradients' cosine, and the same is measured on
each gradient less the base sample's mean gradient of its class (a class's well-fitted records share its mean
direction, which raw cosines measure first). A record's cluster score ``S`` is the mean of its ``K`` largest
cosines with the delta's other records of its label; a batch's statistic the fifth-largest ``S`` (five poisons at
least per batch).

Over the gate bench's batches (bench/gate_pass_rate.py, sets 6 0, 10 0 and 12 1), per dataset and order: the
largest and median statistic over its clean batches, and for each gradient-matching batch its statistic, its
clean twin's, the poison records' median ``S``, and whether it lies above every clean batch of its dataset (the
most a threshold on it could block without blocking a clean batch of this bench). Writes
bench/results/det33-gradient-clusters.md with the ``uptime`` lines and the run's CPU time.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench

from provenance.detectors.gradient import _cross_fitted, file_order_halves
from provenance.detectors.shared import delta_labels, delta_Z

K = 4  # cosines averaged per record: a cluster of five poisons gives each four close mates
SETS = ((6, 0), (10, 0), (12, 1))


def class_mean_gradients(profile, halves) -> dict[int, np.ndarray]:
    """The base sample's mean gradient per class (flattened (d+1)*k), cross-fitted as the delta's are."""
    folds, weights = halves
    labels = profile.sample_labels.astype(np.int64)
    Xb, res = _cross_fitted(weights, profile.sample_Z, labels, folds)
    grads = np.einsum("nd,nk->ndk", Xb.astype(np.float64), res.astype(np.float64)).reshape(len(Xb), -1)
    return {int(c): grads[labels == c].mean(0) for c in np.unique(labels)}


def cluster_scores(profile, delta, halves, centred: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Each delta record's ``S`` (n,): the mean of its ``K`` largest gradient cosines with the delta's other
    records of its label (with ``centred``, of the gradients less the base class's mean gradient); -1 where its
    label has ``K`` records or fewer, or none in the base."""
    _, weights = halves
    labels = delta_labels(profile, delta)
    known = labels >= 0
    folds = (delta.digest_array[:, 0] & 1).astype(np.int64)
    Xb, res = _cross_fitted(weights, delta_Z(profile, delta)[known], labels[known], folds[known])
    grads = np.einsum("nd,nk->ndk", Xb.astype(np.float64), res.astype(np.float64)).reshape(len(Xb), -1)
    if centred is not None:
        grads = grads - np.stack([centred[int(c)] for c in labels[known]])
    unit = grads / np.maximum(np.linalg.norm(grads, axis=1, keepdims=True), 1e-12)
    scores = np.full(len(Xb), -1.0)
    for c in np.unique(labels[known]):
        rows = np.flatnonzero(labels[known] == c)
        if len(rows) <= K:
            continue
        cosines = unit[rows] @ unit[rows].T
        np.fill_diagonal(cosines, -np.inf)
        scores[rows] = -np.sort(-cosines, axis=1)[:, :K].mean(1)
    out = np.full(len(delta), -1.0)
    out[known] = scores
    return out


def statistic(scores: np.ndarray) -> float:
    """A batch's statistic: its fifth-largest ``S``."""
    return float(np.sort(scores)[-5]) if len(scores) >= 5 else -1.0


def order_lines(order: str, centre: bool) -> list[str]:
    clean: dict[str, list[float]] = defaultdict(list)
    attacked: dict[str, list[tuple[float, float, float]]] = defaultdict(list)

    def inspect(batch: bench.Batch) -> None:
        halves = file_order_halves(batch.profile)
        means = class_mean_gradients(batch.profile, halves) if centre else None
        twin = statistic(cluster_scores(batch.profile, batch.clean, halves, means))
        clean[batch.dataset].append(twin)
        if batch.attack == "gradient_matching":
            scores = cluster_scores(batch.profile, batch.poisoned, halves, means)
            attacked[batch.dataset].append((statistic(scores), twin, float(np.median(scores[batch.poison]))))

    for per, seed in SETS:
        bench.run(bench.DEFAULT_DATASETS.split(","), per, seed, out=lambda *a, **k: None, order=order, inspect=inspect)
    lines = [
        f"## {order}, {'gradients less the base class mean' if centre else 'raw gradients'}",
        "",
        "| dataset | clean batches: largest statistic (median) | gradient-matching batch: statistic | its clean twin "
        "| poison records' median S | above every clean batch |",
        "|---|---|---|---|---|---|",
    ]
    above = total = 0
    for ds in sorted(clean):
        top, median = max(clean[ds]), float(np.median(clean[ds]))
        for stat, twin, poison in attacked[ds]:
            total += 1
            above += stat > top
            lines.append(
                f"| {ds} | {top:.3f} ({median:.3f}) | {stat:.3f} | {twin:.3f} | {poison:.3f} | {'yes' if stat > top else 'no'} |"
            )
    return lines + ["", f"Gradient-matching batches above every clean batch of their dataset: {above} of {total}", ""]


def main(argv: list[str]) -> None:
    orders = (argv[0] if argv else "inorder,random").split(",")

    def body(out) -> None:
        for centre in (False, True):
            for order in orders:
                for line in order_lines(order, centre):
                    out(line)

    bench.logged_run("det33-gradient-clusters.md", HEADER, body)


HEADER = """# Gradient-space clusters of gradient-matching poisons within the delta (generated by bench/det33_gradient_clusters.py)

See the script's docstring for the statistic.
"""


if __name__ == "__main__":
    main(sys.argv[1:])
