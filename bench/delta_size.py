"""Benchmark: does a clean delta larger than the base's pseudo-batches block because of its size?

    python bench/delta_size.py [datasets, default digits,breast_cancer,cells,seattle_weather] [base fraction, default 0.6]

Issue 14, "no false blocks". The demo's clean v2 (719 new-writer digits against v1's
1,078: the first 60% of scikit-learn's digits as base, the rest as delta, in file order)
blocks on "beyond every reference record" (16 against 15 allowed). The diagnosis to test
(report-detect6.md): the delta is about 7 times a pseudo-batch, and each delta-level
reference (spectral's shared direction, the near-copy counts) was built at the
pseudo-batch's size, not the delta's.

For each real dataset (bench/real_datasets.py): base = the file's first rows (``base
fraction``), delta = the rest, in file order, clean. The default gate's detector rules
(as bench/gate_pass_rate.py applies them: ``detectors.combined``'s flag budget and its
"beyond the reference" count, ``detectors.extreme``) are applied twice: to the whole
delta, and to the same records cut into consecutive chunks of the base's pseudo-batch
size (its sample over ``PSEUDO_BATCHES``). If the size were the cause, the records beyond
the reference in the whole delta would not be beyond in its chunks. For every record
beyond, the detector with the smallest p-value is named. Writes
bench/results/delta-size.md with ``uptime`` and the CPU time of the run, and prints it.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.detectors import run_detectors
from provenance.detectors.budget import flag_budget
from provenance.detectors.combine import combine
from provenance.detectors.extreme import DEFAULT_EXTREME_ALPHA, batch_label_support
from provenance.profiles.reference import PSEUDO_BATCHES, build_profile

FPR, ALPHA = 0.01, 0.001


def gate(profile, delta) -> dict:
    """The default policy's detector rules on one delta, and the records beyond the reference by deepest detector."""
    results = run_detectors(profile, delta, fpr=FPR)
    verdicts = combine(results, FPR, profile.sample_batches, batch_label_support(profile, delta))
    n = len(verdicts.records)
    budget = flag_budget(
        n, FPR, ALPHA, verdicts.beyond_size, verdicts.reference_batch_sizes, verdicts.reference_batch_flags
    )
    scored = [r for r in results if r.p_values is not None]
    beyond = [i for i, v in enumerate(verdicts.records) if v.flagged and v.p_value < verdicts.beyond_p]
    by = collections.Counter(min((float(r.p_values[i]), r.detector) for r in scored)[1] for i in beyond)
    extreme = sum(v.extreme_p <= DEFAULT_EXTREME_ALPHA / max(n, 1) for v in verdicts.records)
    flagged = len(verdicts.flagged)
    return {
        "n": n,
        "flagged": flagged,
        "allowed": budget.flags,
        "beyond": len(beyond),
        "beyond_allowed": budget.beyond,
        "extreme": extreme,
        "blocked": flagged > budget.flags or len(beyond) > budget.beyond or extreme > 0,
        "by": by,
        "beyond_digests": {delta.digests[i] for i in beyond},
    }


def subset(delta, idx: np.ndarray):
    """The delta restricted to entries ``idx`` (in that order)."""
    return replace(
        delta,
        digests=[delta.digests[i] for i in idx],
        X=delta.X[idx],
        labels=[delta.labels[i] for i in idx],
        sources=[delta.sources[i] for i in idx],
        kinds=[delta.kinds[i] for i in idx],
        old_labels=[delta.old_labels[i] for i in idx],
        extra_copies=delta.extra_copies[idx],
        base_copies=delta.base_copies[idx],
        cache={},
    )


def describe(g: dict) -> str:
    by = ", ".join(f"{k} {v}" for k, v in sorted(g["by"].items(), key=lambda kv: (-kv[1], kv[0]))) or "-"
    return (
        f"flagged {g['flagged']}/{g['allowed']}, beyond {g['beyond']}/{g['beyond_allowed']}, extreme {g['extreme']}"
        f" -> {'BLOCK' if g['blocked'] else 'pass'} (beyond by deepest detector: {by})"
    )


def run(names: list[str], base_fraction: float, out=print) -> None:
    for name in names:
        X, y = LOADERS[name]()
        s = int(round(base_fraction * len(X)))
        Xb, yb, Xd, yd = X[:s], y[:s], X[s:], y[s:]
        profile = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(len(Xb)))
        delta, rows = pipeline_delta(Xb, Xd, yd)
        size = max(1, len(profile.sample_Z) // PSEUDO_BATCHES)
        whole = gate(profile, delta)
        out(f"{name}: base {len(Xb)} rows (sample {len(profile.sample_Z)}, pseudo-batch ~{size}), delta {whole['n']}")
        out(f"  whole delta: {describe(whole)}")
        order = np.argsort(rows, kind="stable")  # file order
        chunks = [c for c in np.array_split(order, max(1, round(len(order) / size))) if len(c)]
        total = collections.Counter()
        seen: set = set()
        blocked = 0
        for idx in chunks:
            g = gate(profile, subset(delta, idx))
            total.update(g["by"])
            seen |= g["beyond_digests"]
            blocked += g["blocked"]
            out(f"    chunk of {g['n']}: {describe(g)}")
        by = ", ".join(f"{k} {v}" for k, v in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"
        out(
            f"  in {len(chunks)} chunks: {blocked} blocked; {len(seen)} beyond in all ({by}); "
            f"{len(seen & whole['beyond_digests'])} of the whole delta's {whole['beyond']} beyond are beyond in their chunk"
        )


HEADER = """# Clean deltas larger than a pseudo-batch: whole vs cut into pseudo-batch-sized chunks

Generated by `bench/delta_size.py` (see its docstring). Clean data, base = the file's first
rows, delta = the rest in file order; the default gate's detector rules on the whole delta
and on its consecutive chunks of the base's pseudo-batch size. Counts, so the machine's
load changes only the time; load on the `uptime` lines, CPU time at the end.
"""


def main(argv: list[str]) -> None:
    names = argv[1].split(",") if len(argv) > 1 else ["digits", "breast_cancer", "cells", "seattle_weather"]
    base_fraction = float(argv[2]) if len(argv) > 2 else 0.6
    lines: list[str] = []

    def out(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    out(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cpu = time.process_time()
    run(names, base_fraction, out)
    out(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    out(
        f"CPU time of the run: {time.process_time() - cpu:.0f} s (BLAS threads: {os.environ.get('OMP_NUM_THREADS', 'default')})"
    )
    suffix = "" if base_fraction == 0.6 else f"-{base_fraction:g}"
    results = Path(__file__).resolve().parent / "results" / f"delta-size{suffix}.md"
    results.write_text(HEADER + "\n```\n" + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main(sys.argv)
