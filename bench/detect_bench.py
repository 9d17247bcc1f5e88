"""Benchmark: prov's delta detectors against whole-version baselines.

    python bench/detect_bench.py [--quick] [--out bench/results]
    python bench/detect_bench.py --part combined [--batches 3] [--prov-only]   # issue 14's benchmark: detect-bench.md

``--part combined`` (bench/detect_combined.py) is the benchmark at prov's operating point:
recall of the combined verdict per attack family with Wilson intervals, clean false alarms
in file order and at random, the default gate's pass/block rates, cleanlab, IsolationForest
and spectral signatures side by side, on four real datasets. The parts below are the
earlier per-detector benchmark (detect.md), kept for its scaling figures.

Quality: sklearn's packaged real datasets (digits, breast cancer, wine, iris); a trusted
base of 60%, the other 40% is the clean part of each delta, and planted attacks make up
1%, 5% and 10% of the delta. prov builds the reference profile of the base once (as at
commit) and runs its detectors on the delta; the baselines run on the whole new version
(cleanlab with cross-validated LogisticRegression probabilities, spectral signatures,
IsolationForest, ECOD). Metrics are computed on the delta's records: AUROC and recall at
1% FPR (threshold at the 99th percentile of the clean delta records' scores), plus
prov's own calibrated flags, and false alarms on clean deltas.

Speed: synthetic Gaussian mixtures; a fixed delta of 10k records against bases of 10k,
100k and 1M; prov's detection time (profile built beforehand, at "commit") against each
baseline on the whole version. Results: bench/results/detect.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import BASELINES  # noqa: E402
from report import write_markdown  # noqa: E402

from provenance.demo.attacks import ATTACKS  # noqa: E402
from provenance.detectors import Delta, get_detector, run_detectors  # noqa: E402
from provenance.profiles.reference import build_profile  # noqa: E402

FPR = 0.01
RATES = (0.01, 0.05, 0.10)
LOADERS = {
    "digits": datasets.load_digits,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "iris": datasets.load_iris,
}


def digests_of(X: np.ndarray) -> list[bytes]:
    return [hashlib.sha256(row.tobytes()).digest() for row in np.ascontiguousarray(X, dtype=np.float32)]


def recall_at_fpr(clean: np.ndarray, poison: np.ndarray, fpr: float = FPR) -> float:
    threshold = np.quantile(clean, 1 - fpr, method="higher")
    return float((poison > threshold).mean())


def auroc(clean: np.ndarray, poison: np.ndarray) -> float:
    truth = np.r_[np.zeros(len(clean)), np.ones(len(poison))]
    return float(roc_auc_score(truth, np.r_[clean, poison]))


def family_detectors(family: str) -> list[str]:
    names = ["knn_label", "outlier", "duplicates", "volume", "spectral", "collision", "gradient"]
    return [n for n in names if family in get_detector(n).families]


def one_trial(name, X, y, seed, attacks, rates):
    """Every attack and rate for one split of one dataset; the profile is built once."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    n_base = int(round(0.6 * len(X)))
    base, pool = order[:n_base], order[n_base:]
    Xb, yb, Xp, yp = X[base], y[base], X[pool], y[pool]
    base_digests = digests_of(Xb)
    t0 = time.perf_counter()
    profile = build_profile(Xb, yb.astype(str), base_digests, featurizer="numeric/v1", sources=["vendor"] * len(Xb))
    profile_seconds = time.perf_counter() - t0
    rows = []
    for attack in [None, *attacks]:
        for rate in [0.0] if attack is None else rates:
            n_poison = 0 if attack is None else max(1, int(round(rate / (1 - rate) * len(pool))))
            family = "clean" if attack is None else ATTACKS[attack].family
            if attack is None:
                PX, Plab, kinds, old, base_rows = (
                    np.zeros((0, X.shape[1]), np.float32),
                    np.zeros(0, y.dtype),
                    [],
                    [],
                    np.zeros(0, int),
                )
            else:
                PX, Plab, kinds, old, base_rows = ATTACKS[attack].plant(
                    Xb, yb, Xp, yp, n_poison, np.random.default_rng(seed * 1000 + n_poison)
                )
            DX = np.vstack([Xp, PX]).astype(np.float32)
            dlabels = np.r_[yp, Plab].astype(str)
            ddigests = digests_of(Xp) + digests_of(PX)
            delta = Delta(
                ddigests,
                DX,
                list(dlabels),
                ["vendor"] * len(DX),
                ["added"] * len(Xp) + list(kinds),
                [None] * len(Xp) + [None if o is None else str(o) for o in old],
            )
            t0 = time.perf_counter()
            results = run_detectors(profile, delta, fpr=FPR)
            prov_seconds = time.perf_counter() - t0
            errors = [r.detector for r in results if r.status != "ran"]
            if errors:
                raise RuntimeError(f"detectors failed: {[(r.detector, r.error) for r in results if r.status != 'ok']}")
            scores = {r.detector: np.array([f.score for f in r.findings]) for r in results}
            flags = {r.detector: np.array([f.flagged for f in r.findings]) for r in results}
            is_poison = np.r_[np.zeros(len(Xp), bool), np.ones(len(PX), bool)]
            covering = family_detectors(family) if attack else list(scores)
            prov_family = np.max([scores[d] for d in covering], axis=0)
            prov_all = np.max([scores[d] for d in scores], axis=0)
            flag_family = np.any([flags[d] for d in covering], axis=0)
            flag_all = np.any([flags[d] for d in flags], axis=0)

            # The whole new version for the baselines: relabels change base rows in place.
            yb_new = yb.copy()
            relabeled = base_rows[base_rows >= 0] if len(base_rows) else np.zeros(0, int)
            new_only = base_rows < 0 if len(base_rows) else np.zeros(0, bool)
            if len(relabeled):
                yb_new[relabeled] = Plab[~new_only]
            VX = np.vstack([Xb, Xp, PX[new_only]]).astype(np.float64)
            Vy = np.r_[yb_new, yp, Plab[new_only]]
            delta_rows_in_version = np.r_[
                np.arange(n_base, n_base + len(Xp)),
                relabeled,
                np.arange(n_base + len(Xp), n_base + len(Xp) + new_only.sum()),
            ]
            poison_in_version = np.r_[np.zeros(len(Xp), bool), np.ones(len(relabeled) + new_only.sum(), bool)]

            row = {
                "dataset": name,
                "seed": seed,
                "attack": attack or "clean",
                "family": family,
                "rate": rate,
                "n_base": int(n_base),
                "n_delta": int(len(DX)),
                "n_poison": int(len(PX)),
                "profile_seconds": profile_seconds,
                "prov_seconds": prov_seconds,
                "methods": {},
                "shared_direction_ratio": next(
                    r.summary.get("shared_direction_ratio") for r in results if r.detector == "gradient"
                ),
            }
            clean_idx, poison_idx = ~is_poison, is_poison
            for label, s, f in (("prov_family", prov_family, flag_family), ("prov_all", prov_all, flag_all)):
                row["methods"][label] = _metrics(s[clean_idx], s[poison_idx], f[clean_idx], f[poison_idx])
            for det in scores:
                row["methods"]["prov:" + det] = _metrics(
                    scores[det][clean_idx], scores[det][poison_idx], flags[det][clean_idx], flags[det][poison_idx]
                )
            for base_name, baseline in BASELINES.items():
                t0 = time.perf_counter()
                s, f = baseline(VX, Vy, seed)
                seconds = time.perf_counter() - t0
                s, f = s[delta_rows_in_version], (f[delta_rows_in_version] if f is not None else None)
                m = _metrics(
                    s[~poison_in_version],
                    s[poison_in_version],
                    f[~poison_in_version] if f is not None else None,
                    f[poison_in_version] if f is not None else None,
                )
                m["seconds"] = seconds
                row["methods"][base_name] = m
            rows.append(row)
    return rows


def _metrics(clean, poison, clean_flags=None, poison_flags=None):
    out = {}
    if len(poison):
        out["auroc"] = auroc(clean, poison)
        out["recall_at_1pct_fpr"] = recall_at_fpr(clean, poison)
        if poison_flags is not None:
            out["flag_recall"] = float(np.mean(poison_flags))
    if clean_flags is not None:
        out["false_alarm_rate"] = float(np.mean(clean_flags))
    return out


def gaussian_mixture(n, dim, classes, rng):
    centres = np.random.default_rng(7).normal(0, 3.0, (classes, dim))  # same mixture at every size
    y = rng.integers(classes, size=n)
    return (centres[y] + rng.normal(0, 1.0, (n, dim))).astype(np.float32), y


def scaling(sizes, delta_size, dim, classes, baselines, max_per_class):
    rows = []
    for n_base in sizes:
        rng = np.random.default_rng(n_base)
        Xb, yb = gaussian_mixture(n_base, dim, classes, rng)
        Xd, yd = gaussian_mixture(delta_size, dim, classes, rng)
        flips = rng.choice(delta_size, delta_size // 20, replace=False)  # 5% flips, to check it still finds them
        yd[flips] = (yd[flips] + 1) % classes
        base_digests = [hashlib.sha256(i.to_bytes(8, "big") + b"base").digest() for i in range(n_base)]
        t0 = time.perf_counter()
        profile = build_profile(Xb, yb.astype(str), base_digests, featurizer="numeric/v1", max_per_class=max_per_class)
        profile_seconds = time.perf_counter() - t0
        delta = Delta(
            [hashlib.sha256(i.to_bytes(8, "big") + b"delta").digest() for i in range(delta_size)],
            Xd,
            list(yd.astype(str)),
            [None] * delta_size,
            ["added"] * delta_size,
            [None] * delta_size,
        )
        # Best of two for every method below 1M records (one run at 1M, to keep the bench
        # short): the machine may be shared; a fresh Delta each time so nothing cached helps.
        repeats = 2 if n_base < 1_000_000 else 1
        detect_seconds = float("inf")
        for _ in range(repeats):
            fresh = Delta(delta.digests, delta.X, delta.labels, delta.sources, delta.kinds, delta.old_labels)
            t0 = time.perf_counter()
            results = run_detectors(profile, fresh, fpr=FPR)
            detect_seconds = min(detect_seconds, time.perf_counter() - t0)
        knn = next(r for r in results if r.detector == "knn_label")
        flip_recall = float(np.mean([knn.findings[i].flagged for i in flips]))
        row = {
            "n_base": n_base,
            "n_delta": delta_size,
            "dim": dim,
            "classes": classes,
            "profile_sample": profile.sample_size,
            "profile_bytes": len(profile.to_bytes()),
            "profile_seconds": profile_seconds,
            "prov_detect_seconds": detect_seconds,
            "prov_flip_recall": flip_recall,
            "baselines": {},
        }
        VX, Vy = np.vstack([Xb, Xd]), np.r_[yb, yd]
        for name in baselines:
            seconds = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                BASELINES[name](VX, Vy, 0)
                seconds = min(seconds, time.perf_counter() - t0)
            row["baselines"][name] = {"seconds": seconds, "ratio_to_prov": seconds / detect_seconds}
        rows.append(row)
        print(
            f"scaling n_base={n_base}: prov {detect_seconds:.2f}s, "
            + ", ".join(f"{k} {v['seconds']:.2f}s" for k, v in row["baselines"].items()),
            flush=True,
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, fewer sizes: a smoke run")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument(
        "--part",
        choices=("all", "quality", "scaling", "combined"),
        default="all",
        help="run one part and keep the other's saved results; combined: the benchmark at prov's operating point "
        "(bench/detect_combined.py -> results/detect-bench.md)",
    )
    parser.add_argument("--batches", type=int, default=3, help="combined: batches per dataset and mode")
    parser.add_argument(
        "--prov-only",
        action="store_true",
        help="combined: prov's columns only, no baselines (a quick before/after; -> results/detect-bench-prov.md)",
    )
    parser.add_argument("--render-only", action="store_true", help="rewrite detect.md from detect.json")
    args = parser.parse_args(argv)
    if args.part == "combined":
        from detect_combined import main as combined

        combined(Path(args.out), args.batches, args.prov_only)
        return
    if args.render_only:
        saved = json.loads((Path(args.out) / "detect.json").read_text())
        write_markdown(Path(args.out) / "detect.md", saved["meta"], saved["quality"], saved["scaling"])
        return
    seeds = (0,) if args.quick else (0, 1, 2)
    started = time.perf_counter()
    out = Path(args.out)
    saved = json.loads((out / "detect.json").read_text()) if (out / "detect.json").exists() else {}
    quality = [] if args.part != "scaling" else saved.get("quality", [])
    for name, loader in LOADERS.items() if args.part != "scaling" else []:
        X, y = loader(return_X_y=True)
        for seed in seeds:
            quality += one_trial(name, X.astype(np.float32), y, seed, list(ATTACKS), RATES)
        print(f"quality {name}: done ({time.perf_counter() - started:.0f}s)", flush=True)
    scaling_rows = saved.get("scaling", []) if args.part == "quality" else []
    if args.part != "quality":
        sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
        scaling_rows = scaling(
            sizes, 10_000, 32, 5, ["spectral_sig", "ecod", "iforest", "cleanlab"], max_per_class=2000
        )
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "fpr": FPR,
        "rates": RATES,
        "seeds": list(seeds),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "total_seconds": time.perf_counter() - started,
        "quick": args.quick,
        "load_average_at_end": list(__import__("os").getloadavg()),
    }
    if args.part != "all":
        previous = saved.get("meta", {})
        meta[f"{args.part}_seconds"] = meta["total_seconds"]
        other = "scaling" if args.part == "quality" else "quality"
        meta[f"{other}_seconds"] = previous.get(f"{other}_seconds", previous.get("total_seconds"))
        meta["total_seconds"] = sum(v for k, v in meta.items() if k in ("quality_seconds", "scaling_seconds") and v)
    (out / "detect.json").write_text(json.dumps({"meta": meta, "quality": quality, "scaling": scaling_rows}, indent=1))
    write_markdown(out / "detect.md", meta, quality, scaling_rows)
    print(f"wrote {out / 'detect.md'} in {meta['total_seconds']:.0f}s")


if __name__ == "__main__":
    main()
