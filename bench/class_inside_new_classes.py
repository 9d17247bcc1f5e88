"""How often gate.class_inside judges a listed new class in full (attack review 32a, A32a-7), on real data.

    python bench/class_inside_new_classes.py [datasets, default digits,wine,iris,seattle_weather,breast_cancer]

Per dataset, a seeded shuffle, and per class C:
- genuine: C held out of the base entirely, then 30 of its records delivered as a listed new class. Judged in full
  here means the honest delivery is judged by knn_label too (fail closed, likely blocked): the cost.
- copies: 14 of the base's own C records, every value 8% larger, delivered as a listed class, the originals kept
  (A32a-7's shape). Judged in full: caught. Variants, each caught when judged in full: 30% larger (A32d-2); 8%
  larger plus two decoys, midpoints between a C record and its nearest record of another class (A32e-3's shape);
  7 copies of C and 7 of the next class (A32d-1's shape); 8% larger plus noise of 5% of each column's spread
  (copies jittered: the bound the shape test states); the i-th copy under its own factor, 1.05 to 1.35 (A33b-1);
  16 copies under four factors (A33b-2). Records of C that are no copies (attack review 33b, A33b-4): 40 midpoints
  of pairs of C's records (seeded), and the same 10% larger (pushed out of C's spread: the bound the spread test
  states); the 40 midpoints beside 60 of C's records each moved by a normal step of one standard deviation per
  column (seeded: far records that dilute a share, F2), and beside 200 (A34e-2's shape); 40 records each stepped
  from one of C's until its nearest C record lies 1.2 times C's median nearest-record distance away (A34e-1).
- mix: 30 records drawn at random from the rest of the file (every class, as the base mixes them), as a listed
  class (review 31d's control, generalised). Base records under a new name since fix33f: judged in full is right.
- 4 midpoints per class: 4 midpoints of pairs of each class's records (seeded), every class, as one listed class
  (F1: 4 per class was under the spread test's 5 per class before fix34d). Judged in full: caught.
The neighbours are the pipeline's (``detectors.shared.reference_neighbours`` on ``real_datasets.pipeline_delta``).
Writes bench/results/class-inside-new-classes.md with the load average. Seconds of CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_pass_rate import logged_run
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.detectors.knn_label import VOTERS
from provenance.detectors.shared import delta_Z, reference_neighbours
from provenance.gate.class_inside import inside_classes
from provenance.profiles.reference import build_profile

SEED = 32
GENUINE, COPIES, SCALE = 30, 14, 1.08
ATTACKS = (
    "copies",
    "copies 30%",
    "copies + 2 decoys",
    "copies of two classes",
    "copies jittered 5%",
    "copies, own factor each",
    "copies under four scales",
    "40 midpoints",
    "40 midpoints 10% larger",
    "40 midpoints + 60 far",
    "40 midpoints + 200 far",
    "40 at 1.2x the spacing",
)
MIDPOINTS = 40
FAR, MANY_FAR = 60, 200  # C's records moved by a standard deviation per column beside the midpoints (F2, A34e-2)
SPACING = 1.2  # A34e-1: records this many times C's median nearest-record distance from their nearest C record
PER_CLASS = 4  # midpoints of each class in the F1 case


def judged_in_full(Xb: np.ndarray, yb: np.ndarray, Xd: np.ndarray) -> tuple[bool, str]:
    """Whether ``Xd`` delivered as listed class "new" on a base (``Xb``, ``yb``) sits inside a base class; its words."""
    profile = build_profile(
        Xb, [str(v) for v in yb], row_digests(Xb), featurizer="numeric/v1", positions=np.arange(len(Xb))
    )
    delta, _ = pipeline_delta(Xb, Xd, np.array(["new"] * len(Xd)))
    rows = [i for i, kind in enumerate(delta.kinds) if kind == "added"]
    inside = inside_classes(
        profile, reference_neighbours(profile, delta), delta_Z(profile, delta), delta.labels, rows, VOTERS
    ).get("new")
    return inside is not None, inside.words if inside is not None else "class-free"


def attacks(X: np.ndarray, y: np.ndarray, c, classes: list) -> dict[str, np.ndarray]:
    """The copy attacks on class ``c`` of the base (``X``, ``y``): rows delivered as the listed class, per kind."""
    all_c = np.flatnonzero(y == c)
    own, own16 = all_c[:COPIES], all_c[:16]
    rng = np.random.default_rng(SEED)
    i, j = rng.integers(0, len(all_c), MIDPOINTS), rng.integers(0, len(all_c), MIDPOINTS)
    midpoints = (X[all_c[i]] + X[all_c[np.where(i == j, (j + 1) % len(all_c), j)]]) / 2
    other = np.flatnonzero(y == classes[(classes.index(c) + 1) % len(classes)])
    nearest = other[((X[other][None, :, :] - X[own[:2]][:, None, :]) ** 2).sum(2).argmin(1)]
    noise = np.random.default_rng(SEED).normal(0.0, 0.05, (len(own), X.shape[1])) * X.std(0)
    far = X[all_c[rng.integers(0, len(all_c), FAR)]] + rng.normal(0.0, 1.0, (FAR, X.shape[1])) * X.std(0)
    more = MANY_FAR - FAR  # drawn after F2's, so its records stay those of runs before A34e
    far = np.vstack(
        [far, X[all_c[rng.integers(0, len(all_c), more)]] + rng.normal(0.0, 1.0, (more, X.shape[1])) * X.std(0)]
    )
    return {
        "copies": X[own] * SCALE,
        "copies 30%": X[own] * 1.3,
        "copies + 2 decoys": np.vstack([X[own] * SCALE, (X[own[:2]] + X[nearest]) / 2]),
        "copies of two classes": np.vstack([X[own[: COPIES // 2]], X[other[: COPIES // 2]]]) * SCALE,
        "copies jittered 5%": X[own] * SCALE + noise,
        "copies, own factor each": X[own] * np.linspace(1.05, 1.35, len(own))[:, None],
        "copies under four scales": X[own16] * np.repeat([1.05, 1.15, 1.25, 1.35], 4)[: len(own16), None],
        "40 midpoints": midpoints,
        "40 midpoints 10% larger": midpoints * 1.1,
        "40 midpoints + 60 far": np.vstack([midpoints, far[:FAR]]),
        "40 midpoints + 200 far": np.vstack([midpoints, far]),
        "40 at 1.2x the spacing": beyond_spacing(X, all_c, rng),
    }


def beyond_spacing(X: np.ndarray, at: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``MIDPOINTS`` records in class ``X[at]``'s core (A34e-1's shape), each stepped from one of its records (drawn by
    ``rng``) along a random direction until its nearest record of the class lies ``SPACING`` times the class's median
    nearest-record distance away in the profile's standardised features (the attacker who reads the base's profile;
    raw out)."""
    profile = build_profile(X, ["c"] * len(X), row_digests(X), featurizer="numeric/v1", positions=np.arange(len(X)))
    mean, sd = profile.mean, profile.scale
    Z = (X[at] - mean) / sd
    gaps = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)) + np.diag(np.full(len(Z), np.inf))
    radius = SPACING * float(np.median(gaps.min(1)))
    out = []
    for start in Z[rng.integers(0, len(Z), MIDPOINTS)]:
        step = rng.normal(size=Z.shape[1])
        step /= np.linalg.norm(step)
        reach = np.arange(1, 2000) * radius / 100  # up to 20 radii, in steps of a 100th: out of C if nowhere nearer
        away = np.sqrt(((start + reach[:, None] * step - Z[:, None, :]) ** 2).sum(-1)).min(0) >= radius
        out.append(start + reach[int(np.argmax(away)) if away.any() else -1] * step)
    return np.array(out) * sd + mean


def midpoints_per_class(X: np.ndarray, y: np.ndarray, classes: list, k: int = 4) -> np.ndarray:
    """``k`` midpoints of pairs of each class's records of (``X``, ``y``) (seeded), every class: F1's shape."""
    rng = np.random.default_rng(SEED)
    out = []
    for c in classes:
        at = np.flatnonzero(y == c)
        i, j = rng.integers(0, len(at), k), rng.integers(0, len(at), k)
        out.append((X[at[i]] + X[at[np.where(i == j, (j + 1) % len(at), j)]]) / 2)
    return np.vstack(out)


def run(name: str, out) -> dict[str, list[int]]:
    X, y = LOADERS[name]()
    order = np.random.default_rng(SEED).permutation(len(X))
    X, y = X[order], y[order]
    counts = {kind: [0, 0] for kind in ("genuine", *ATTACKS, "mix", "4 midpoints per class")}
    classes = sorted(set(y.tolist()))
    for c in classes:
        if len(classes) > 2:  # with two classes, holding one out leaves a base of one class: no case
            rest = y != c
            full, words = judged_in_full(X[rest], y[rest], X[~rest][:GENUINE])
            counts["genuine"][0] += full
            counts["genuine"][1] += 1
            out(f"{name} genuine class {c}: {'IN FULL ' + words if full else words}")
        keep = np.arange(len(X)) >= GENUINE  # the first 30 rows are the mix's, never in the base
        base_X, base_y = X[keep], y[keep]
        for kind, rows in attacks(base_X, base_y, c, classes).items():
            full, words = judged_in_full(base_X, base_y, rows)
            counts[kind][0] += full
            counts[kind][1] += 1
            out(f"{name} {kind} of {c}: {'caught, ' + words if full else 'MISSED, ' + words}")
    full, words = judged_in_full(X[GENUINE:], y[GENUINE:], X[:GENUINE])
    counts["mix"][0] += full
    counts["mix"][1] += 1
    out(f"{name} mix of {GENUINE}: {'IN FULL ' + words if full else words}")
    keep = np.arange(len(X)) >= GENUINE
    full, words = judged_in_full(X[keep], y[keep], midpoints_per_class(X[keep], y[keep], classes, PER_CLASS))
    counts["4 midpoints per class"][0] += full
    counts["4 midpoints per class"][1] += 1
    out(f"{name} {PER_CLASS} midpoints per class: {'caught, ' + words if full else 'MISSED, ' + words}")
    return counts


def main(argv: list[str]) -> None:
    names = (argv[0] if argv else "digits,wine,iris,seattle_weather,breast_cancer").split(",")

    def body(out) -> None:
        total = {kind: [0, 0] for kind in ("genuine", *ATTACKS, "mix", "4 midpoints per class")}
        for name in names:
            for kind, (k, n) in run(name, out).items():
                total[kind][0] += k
                total[kind][1] += n
        out("")
        out(f"genuine new classes judged in full (cost): {total['genuine'][0]} of {total['genuine'][1]}")
        for kind in (*ATTACKS, "4 midpoints per class"):
            out(f"{kind} judged in full (caught): {total[kind][0]} of {total[kind][1]}")
        out(
            f"random mixes of the base judged in full (base records relabelled): {total['mix'][0]} of {total['mix'][1]}"
        )

    logged_run(
        "class-inside-new-classes.md", "# gate.class_inside on real data (bench/class_inside_new_classes.py)\n", body
    )


if __name__ == "__main__":
    main(sys.argv[1:])
