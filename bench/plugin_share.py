"""What a plug-in detector beside the built-ins costs and can do to their combined verdict (attack review 26i).

    python bench/plugin_share.py

On digits (the first 1,200 records the base, the other 597 five deliveries in file order), each delivery
clean, with five far outliers planted, and with five labels flipped: the combined verdict's flags with the
built-ins alone, and beside one plug-in whose p-values are uniform (an honest detector that knows nothing)
and whose reference p-values are (a) uniform too, (b) all 0 (the review's attack: before the fix no record
was flagged), (c) uniform, its smallest on the reference records the built-ins find most normal (the worst
a plug-in's reference can do to a common conformal calibration). The plug-in's p-values are the same in
every case, so any difference between (a), (b) and (c) would be its reference p-values moving the
built-ins' evidence: the fix makes them equal. The cost of running one is the built-ins' share of the rate
(W / (W + 1)). Writes bench/results/plugin-share.md.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provenance.detectors import Delta, run_detectors
from provenance.detectors.base import DetectorResult, Finding
from provenance.detectors.combine import combine, weight_of
from provenance.detectors.extreme import batch_label_support
from provenance.profiles.reference import build_profile

FPR = 0.01
OUT = Path(__file__).resolve().parent / "results" / "plugin-share.md"


def digests(X: np.ndarray) -> list[bytes]:
    return [hashlib.sha256(r.tobytes()).digest() for r in np.ascontiguousarray(X, np.float32)]


def plug_in(delta: Delta, p: np.ndarray, reference_p: np.ndarray) -> DetectorResult:
    findings = [Finding(h, "zz_plug", float(1 - v), bool(v <= FPR), "") for h, v in zip(delta.hexes, p)]
    result = DetectorResult("zz_plug", "ran", None, 0.5, findings, p_values=p, reference_p=reference_p)
    result.plug_in = True  # as the runner marks a detector that is not one of provenance's own
    return result


def references(results: list[DetectorResult], m: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    scored = [r for r in results if r.status == "ran" and r.reference_p is not None]
    R = np.column_stack([np.asarray(r.reference_p) / (2.0 if r.detector == "knn_label" else 1.0) for r in scored])
    T = np.nanmin(np.where(np.isfinite(R), R, np.inf), axis=1)
    ranks = np.empty(m)
    ranks[np.argsort(-T, kind="stable")] = (np.arange(m) + 1.0) / (m + 1.0)
    return {"uniform": rng.uniform(size=m), "zeros": np.zeros(m), "on the built-ins' normal records": ranks}


def planted(verdicts, case: str) -> int | None:
    """How many of the five planted records (the delivery's first five) are flagged; None for a clean one."""
    return None if case == "clean" else sum(r.flagged for r in verdicts.records[:5])


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X, y = X.astype(np.float32), np.array([str(v) for v in y])
    profile = build_profile(X[:1200], y[:1200], digests(X[:1200]), featurizer="x", positions=np.arange(1200))
    m, rng = len(profile.sample_batches), np.random.default_rng(0)
    rows = []
    for b, rows_at in enumerate(np.array_split(np.arange(1200, len(X)), 5)):
        for case in ("clean", "5 outliers", "5 flips"):
            Xd, yd = X[rows_at].copy(), y[rows_at].copy()
            if case == "5 outliers":
                Xd[:5] = 16.0
            elif case == "5 flips":
                yd[:5] = np.array([str((int(v) + 1) % 10) for v in yd[:5]])
            n = len(Xd)
            delta = Delta(digests(Xd), Xd, list(yd), ["vendor"] * n, ["added"] * n, [None] * n)
            results = run_detectors(profile, delta, fpr=FPR)
            support = batch_label_support(profile, delta)
            alone = combine(results, FPR, profile.sample_batches, support, delta.hexes)
            p = rng.uniform(size=n)
            weight = sum(weight_of(r) for r in results if r.status == "ran" and r.reference_p is not None)
            theirs = {i for i, r in enumerate(alone.records) if r.p_value <= FPR * weight / (weight + 1.0)}
            counts = [(len(alone.flagged), len(alone.flagged), planted(alone, case))]
            for reference in references(results, m, rng).values():
                v = combine([*results, plug_in(delta, p, reference)], FPR, profile.sample_batches, support, delta.hexes)
                built_ins = len(theirs & {i for i, r in enumerate(v.records) if r.flagged})  # by position: copies
                counts.append((len(v.flagged), built_ins, planted(v, case)))
            rows.append((b, case, n, counts))
    lines = [
        "# A plug-in beside the built-ins: flags of the combined verdict (bench/plugin_share.py)",
        "",
        f"digits, base 1,200 records, five deliveries in file order, fpr {FPR}; a plug-in with uniform p-values",
        "and reference p-values uniform, all 0 (attack review 26i's R26i-1), or uniform with its smallest on the",
        "reference records the built-ins find most normal. Each cell: records flagged, of them on the built-ins'",
        "evidence at their share of the rate (W / (W + 1)), and the planted ones flagged of 5. The built-ins' part is",
        "the same whatever the plug-in's reference; what differs is the plug-in's own flags (none with all-0",
        "reference p-values: they weaken its own evidence only).",
        "",
        "| delivery | case | n | built-ins alone | + plug-in, uniform ref | + plug-in, zeros ref | + plug-in, adversarial ref |",
        "|---|---|---|---|---|---|---|",
    ]
    totals = np.zeros(4)
    for b, case, n, c in rows:
        cells = [
            f"{total}" + (f", built-ins' {own}" if i else "") + (f" ({k} of 5)" if k is not None else "")
            for i, (total, own, k) in enumerate(c)
        ]
        lines.append(f"| {b} | {case} | {n} | " + " | ".join(cells) + " |")
        if case == "clean":
            totals += [total for total, _, _ in c]
    clean_n = sum(n for _, case, n, _ in rows if case == "clean")
    lines += [
        "",
        f"Clean records flagged over the five clean deliveries ({clean_n}): "
        + ", ".join(f"{int(t)} ({t / clean_n:.1%})" for t in totals)
        + " (built-ins alone, then beside the plug-in with each reference).",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
