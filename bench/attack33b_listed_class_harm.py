"""Training harm of records of a base class delivered under a listed new class (attack review 33b, A33b-4).

    python bench/attack33b_listed_class_harm.py

Base: the first 400 breast-cancer records (as tests/cli/test_attack33b_replays.py's v1). Added, labelled "cat" (a
class the policy lists): k midpoints of pairs of base malignant records (seeded; the replay's records at k = 150),
14 malignant copies each scaled by its own factor (A33b-1's), or fresh held-out malignant records (rows 400-484).
Trained on the base plus those records, a logistic regression (standardised) and a random forest (200 trees,
seed 0) are tested on held-out rows 485-568 (the fresh records' rows left out) and on all of 400-568 (the
others): malignant recall (held-out malignant records predicted malignant) and accuracy. Writes
bench/results/attack33b-listed-class-harm.md with the load average. A second, the whole run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = Path(__file__).resolve().parent / "results" / "attack33b-listed-class-harm.md"


def midpoints(M: np.ndarray, k: int) -> np.ndarray:
    """``k`` midpoints of pairs of ``M``'s rows, seeded as the replay's ``_midpoints``."""
    rng = np.random.default_rng(5)
    i, j = rng.integers(0, len(M), k), rng.integers(0, len(M), k)
    return (M[i] + M[np.where(i == j, (j + 1) % len(M), j)]) / 2


def main() -> None:
    d = load_breast_cancer()
    X, y = d.data, np.array(d.target_names)[d.target]
    B, yb = X[:400], y[:400]
    M = B[yb == "malignant"]
    fresh = X[400:485][y[400:485] == "malignant"]
    models = {
        "logistic regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "random forest": lambda: RandomForestClassifier(200, random_state=0),
    }
    cases: list[tuple[str, np.ndarray, slice]] = [("none (v1 alone)", X[:0], slice(400, 569))]
    cases += [(f"{k} midpoints of malignant pairs", midpoints(M, k), slice(400, 569)) for k in (14, 40, 80, 150)]
    cases.append(
        ("14 copies, own factor each 1.05-1.35", M[:14] * np.linspace(1.05, 1.35, 14)[:, None], slice(400, 569))
    )
    cases.append(("none (v1 alone), tested on 485-568", X[:0], slice(485, 569)))
    cases.append((f"{len(fresh)} fresh malignant (rows 400-484), tested on 485-568", fresh, slice(485, 569)))
    lines = [
        "# Training harm of base-class records under a listed class (attack review 33b, A33b-4)",
        "",
        f"Load average at start: {os.getloadavg()[0]:.1f}. `bench/attack33b_listed_class_harm.py`; base: first 400",
        "breast-cancer records; added records labelled `cat`; test: held-out rows as named.",
        "",
        "| added as `cat` | model | malignant recall | accuracy |",
        "|---|---|---|---|",
    ]
    for name, added, test in cases:
        Xt, yt = np.vstack([B, added]), np.concatenate([yb, ["cat"] * len(added)])
        H, yh = X[test], y[test]
        for model_name, model in models.items():
            p = model().fit(Xt, yt).predict(H)
            recall = (p[yh == "malignant"] == "malignant").mean()
            lines.append(f"| {name} | {model_name} | {recall:.2f} | {(p == yh).mean():.3f} |")
    lines += ["", f"Load average at end: {os.getloadavg()[0]:.1f}."]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
