"""Benchmark: the default gate's detector rules on clean batches in file order and on batches with 1-5% poison.

    python bench/gate_pass_rate.py [datasets, default digits,breast_cancer,cells,seattle_weather]
        [batches per dataset, default 6] [seed, default 0] [inorder|random, default inorder]

Writes bench/results/gate-pass-rate.md (gate-pass-rate-N-seedS.md for other batch counts
or seeds, gate-pass-rate-NAMES-N-seedS.md for other datasets), with ``uptime`` and the CPU time of the run, and prints it. The wider set quoted
in the README: ``... 10 0`` and ``... 12 1`` (88 clean + 88 poisoned batches). ``random`` takes
the same batches after one fixed shuffle of each file (seed 7): the i.i.d. case, where the
gate's outcomes move only with the noise of its statistics (gate-pass-rate-random-N-seedS.md).

For each real dataset (bench/real_datasets.py), batches of 100-400 records taken in file
order (the base is the file's first rows, the batch the next ones: new writers, later
dates, other plates), each scored twice: clean, and with 1-5% of its records replaced
by poison (at least 5 records; the attack cycles through the demo's catalogue,
provenance.demo.attacks, at its default parameters; planted against the base, drawn from
the batch). Deltas are built as the pipeline builds them (distinct records, copies
counted; relabels as relabels). The gate's detector rules are applied as the default
policy applies them (provenance.gate.detection): ``detectors.combined`` (beta-binomial
budget at fpr 0.01, alpha 0.001, overdispersion from the base's pseudo-batches, plus the
count of records beyond every reference record and of those far beyond it; provenance.detectors.budget), ``detectors.extreme`` (extreme p <= 0.01 / n) and
``detectors.drift`` (a warning: it never blocks) and (since session 14) ``detectors.relabels`` (the
relabels as a group: a Berk-Jones scan against the base's held-out pseudo-batches,
provenance.detectors.relabel_scan). The data carries no signatures, so the
lineage rules are not part of this benchmark. Prints pass / block counts with 95% Wilson
intervals, per dataset and per attack. Heavy-ish: run with ``nice``.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.demo.attacks import CATALOGUE
from provenance.detectors import Delta, run_detectors
from provenance.detectors.combine import combine
from provenance.detectors.drift import batch_drift
from provenance.detectors.extreme import DEFAULT_EXTREME_ALPHA, batch_label_support
from provenance.detectors.relabel_scan import profile_null, scan_delta
from provenance.gate.copies import Copies, MaxCopiesRate
from provenance.profiles.reference import build_profile

FPR, ALPHA = 0.01, 0.001


def plant_next_attack(Xb, yb, Xd, yd, attacks, turn, rate, rng):
    """The batch poisoned by the next attack in turn, ``(delta, poison, attack, turn)``: an attack the batch
    cannot host (no record of the class it needs) gives way to the next."""
    for _ in attacks:
        attack = attacks[turn % len(attacks)]
        turn += 1
        try:
            delta, poison = poisoned_delta(Xb, yb, Xd, yd, attack, rate, rng)
            return delta, poison, attack, turn
        except ValueError:
            continue
    raise ValueError("no attack fits this batch")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


COPIES_RATE, COPIES_LEAST = (s.default for s in MaxCopiesRate.settings[:2])


def copies_over(delta, base_rows: int, repeated: np.ndarray | None = None, clumping=None) -> bool:
    """Whether the default policy's ``copies.max_copies_rate`` blocks ``delta`` (provenance.gate.copies):
    its exact copies of base records and of its own new records, per class of how often the base holds
    the record copied, against the rows it adds and the base's own repetition (``repeated``: the rows
    of each record the base holds more than once; ``clumping``: its profile's within-pseudo-batch
    repetition, since session 23)."""
    kinds = np.asarray(delta.kinds)
    extra, held = np.asarray(delta.extra_copies), np.asarray(delta.base_copies)
    copied = extra > 0
    added = int((kinds == "added").sum()) + int(extra.sum())
    rep = np.zeros(0, np.int64) if repeated is None else np.asarray(repeated, np.int64)
    copies = Copies(extra[copied].astype(np.int64), held[copied].astype(np.int64), added, base_rows, rep, clumping)
    return copies.blocks(COPIES_RATE, COPIES_LEAST)


def base_repetition(base_digests) -> tuple[int, np.ndarray]:
    """``(rows, repeated)``: the base's rows and the rows of each record it holds more than once."""
    held = Counter(base_digests)
    return len(base_digests), np.array([c for c in held.values() if c > 1], dtype=np.int64)


def combined_clauses(verdicts) -> list[str]:
    """The clauses of ``detectors.combined`` that block ``verdicts`` (its statistic's ``blocked_by``): more flags
    than the budget, more records beyond the trimmed reference, more far beyond it."""
    budget = verdicts.budget(len(verdicts.records), ALPHA)
    return [
        c
        for c, over in (
            ("flags", len(verdicts.flagged) > budget.flags),
            ("beyond", len(verdicts.beyond_reference) > budget.beyond),
            ("far", len(verdicts.far_beyond_reference) > budget.far),
        )
        if over
    ]


def gate(profile, delta, base_rows: int = 0, repeated: np.ndarray | None = None) -> dict:
    """The default policy's detector rules and its copies rule on one delta: which block, whether drift warns."""
    results = run_detectors(profile, delta, fpr=FPR)
    verdicts = combine(results, FPR, profile.sample_batches, batch_label_support(profile, delta))
    n = len(verdicts.records)
    flagged = len(verdicts.flagged)
    extreme = [i for i, v in enumerate(verdicts.records) if v.extreme_p <= DEFAULT_EXTREME_ALPHA / max(n, 1)]
    drift = batch_drift(profile, delta)
    budget = verdicts.budget(n, ALPHA)
    blocking = []
    clauses = combined_clauses(verdicts)
    if clauses:
        blocking.append(f"detectors.combined({'+'.join(clauses)})")
    if extreme:
        blocking.append("detectors.extreme")
    if copies_over(delta, base_rows, repeated, profile.within_batch_copies):
        blocking.append("copies.max_copies_rate")
    # detectors.relabels (since session 14), measured as run_detection measures its null: only with relabels
    null = profile_null(profile, results, FPR) if "relabeled" in delta.kinds else None
    if scan_delta(verdicts, results, delta.labels, delta.kinds, null, ALPHA).blocked:
        blocking.append("detectors.relabels")
    return {
        "blocking": blocking,
        "warned": any(s.shifted for s in drift),
        "flagged": flagged,
        "n": n,
        "flags": np.array([v.flagged for v in verdicts.records]),
        "p": np.array([v.p_value for v in verdicts.records]),
        # for bench/gate_misses.py: what the rules were applied to
        "results": results,
        "verdicts": verdicts,
        "budget": budget,
    }


@dataclass
class PoisonedBatch:
    """A batch with poison planted: the Delta prov scores, which of its entries are poison,
    and the rows appended to the base (``X_new``, ``y_new``; relabeled base records are
    ``relabeled``, indices into the base)."""

    delta: Delta
    poison: np.ndarray
    rows: np.ndarray  # per delta entry: its first row in X_new, or -1 for a relabeled base record
    X_new: np.ndarray
    y_new: np.ndarray
    relabeled: np.ndarray
    new_labels: np.ndarray


def poisoned_batch(Xb, yb, Xd, yd, attack, rate, rng) -> PoisonedBatch:
    """The batch with ``rate`` of it (at least 5 records) replaced by ``attack``'s poison."""
    k = max(5, int(round(rate * len(Xd))))
    planted = attack.plant(Xb, yb, Xd, yd, k, rng)
    added = np.array([kind == "added" for kind in planted.kinds])
    # a poison made from a batch record replaces it (a flipped label is that record, not a copy)
    taken = set(row_digests(planted.X[added]))
    keep = np.array([i for i, d in enumerate(row_digests(Xd)) if d not in taken], dtype=np.int64)
    X_new = np.vstack([Xd[keep], planted.X[added]]).astype(np.float32)
    y_new = np.concatenate([yd[keep].astype(str), np.asarray(planted.labels)[added].astype(str)])
    delta, rows = pipeline_delta(Xb, X_new, y_new)
    poison = rows >= len(keep)
    relabeled = np.flatnonzero(~added)
    base_index = {d: i for i, d in enumerate(row_digests(Xb))}
    relabeled_base = np.array([base_index.get(d, -1) for d in row_digests(planted.X[relabeled])], dtype=np.int64)
    new_labels = np.asarray(planted.labels)[relabeled].astype(str)
    if len(relabeled):
        digests = row_digests(planted.X[relabeled])
        delta = replace(
            delta,
            digests=delta.digests + digests,
            X=np.vstack([delta.X, planted.X[relabeled]]).astype(np.float32),
            labels=delta.labels + [str(v) for v in new_labels],
            sources=delta.sources + ["vendor"] * len(relabeled),
            kinds=delta.kinds + ["relabeled"] * len(relabeled),
            old_labels=delta.old_labels + [str(planted.old_labels[i]) for i in relabeled],
            extra_copies=np.concatenate([delta.extra_copies, np.zeros(len(relabeled), np.int64)]),
            base_copies=np.concatenate([delta.base_copies, np.ones(len(relabeled), np.int64)]),
            cache={},
        )
        poison = np.concatenate([poison, np.ones(len(relabeled), bool)])
        rows = np.concatenate([rows, -np.ones(len(relabeled), np.int64)])
    return PoisonedBatch(delta, poison, rows, X_new, y_new, relabeled_base, new_labels)


def poisoned_delta(Xb, yb, Xd, yd, attack, rate, rng):
    """The batch with ``rate`` of it (at least 5 records) replaced by ``attack``'s poison; the delta and a poison mask."""
    batch = poisoned_batch(Xb, yb, Xd, yd, attack, rate, rng)
    return batch.delta, batch.poison


RANDOM_ORDER_SEED = 7


@dataclass
class Batch:
    """One batch of the run, for ``run``'s ``inspect``: the dataset, where the batch starts in the
    (possibly shuffled) file, the base's profile, the clean delta and its gate outcome (``gate``'s dict),
    the poisoned delta, its poison mask, the attack's name and its gate outcome."""

    dataset: str
    start: int
    profile: object
    clean: Delta
    clean_outcome: dict
    poisoned: Delta
    poison: np.ndarray
    attack: str
    poisoned_outcome: dict


def run(names, per_dataset=6, seed=0, out=print, order="inorder", inspect=None):
    """Score ``per_dataset`` batches of each dataset clean and poisoned, in file order or (``order``
    "random") after a fixed shuffle of the file; ``out`` gets each line. ``inspect``, when given, is
    called once per batch as ``inspect(Batch)`` (bench/gate_misses.py reads what each rule saw)."""
    print = out  # noqa: A001 - every line goes to the results file as well
    rng = np.random.default_rng(seed)
    clean_pass = clean_warn = clean_n = 0
    poison_block = poison_n = 0
    genuine = 0  # poisoned batches blocked whose clean twin passes
    by_attack = defaultdict(lambda: [0, 0])
    blocked_by = defaultdict(int)
    attacks = list(CATALOGUE)
    turn = 0
    for name in names:
        X, y = LOADERS[name]()
        if order == "random":
            shuffle = np.random.default_rng(RANDOM_ORDER_SEED).permutation(len(X))
            X, y = X[shuffle], y[shuffle]
        y = y.astype(str)
        d_pass = d_block = 0
        starts = np.linspace(0.3 * len(X), 0.85 * len(X), per_dataset).astype(int)
        for start in starts:
            size = int(min(rng.integers(100, 401), len(X) - start))
            Xb, yb, Xd, yd = X[:start], y[:start], X[start : start + size], y[start : start + size]
            base_digests = row_digests(Xb)
            profile = build_profile(Xb, yb, base_digests, featurizer="x", positions=np.arange(len(Xb)))
            base_facts = base_repetition(base_digests)
            clean, _ = pipeline_delta(Xb, Xd, yd)
            g = gate(profile, clean, *base_facts)
            clean_n += 1
            passed = not g["blocking"]
            clean_pass += passed
            clean_warn += g["warned"]
            d_pass += passed
            for rule in g["blocking"]:
                blocked_by[rule] += 1
            rate = float(rng.uniform(0.01, 0.05))
            delta, poison, attack, turn = plant_next_attack(Xb, yb, Xd, yd, attacks, turn, rate, rng)
            p = gate(profile, delta, *base_facts)
            poison_n += 1
            blocked = bool(p["blocking"])
            poison_block += blocked
            genuine += blocked and passed
            d_block += blocked
            by_attack[attack.name][0] += blocked
            by_attack[attack.name][1] += 1
            if inspect is not None:
                inspect(Batch(name, int(start), profile, clean, g, delta, poison, attack.name, p))
            print(
                f"{name:16s} start {start:5d} n {g['n']:3d}: clean {'pass' if passed else 'BLOCK ' + ','.join(g['blocking'])}"
                f"{' (warned)' if g['warned'] else ''} [{g['flagged']} flagged]; {attack.name} x{int(poison.sum())}: "
                f"{'BLOCK ' + ','.join(p['blocking']) if blocked else 'pass'} [{int(p['flags'][poison].sum())}/{int(poison.sum())} poison flagged]",
                flush=True,
            )
        print(
            f"{name:16s} clean {'in order' if order == 'inorder' else 'at random'} passed {d_pass}/{len(starts)}; "
            f"poisoned blocked {d_block}/{len(starts)}",
            flush=True,
        )
    lo, hi = wilson(clean_pass, clean_n)
    mode = "in-order" if order == "inorder" else "random-order"
    print(
        f"clean {mode} batches passed: {clean_pass}/{clean_n} = {clean_pass / clean_n:.1%} "
        f"(95% Wilson {lo:.1%}-{hi:.1%}); warned {clean_warn}"
    )
    print("  blocked by: " + (", ".join(f"{k} {v}" for k, v in sorted(blocked_by.items())) or "-"))
    lo, hi = wilson(poison_block, poison_n)
    print(
        f"batches with 1-5% poison blocked: {poison_block}/{poison_n} = {poison_block / poison_n:.1%} (95% Wilson {lo:.1%}-{hi:.1%})"
    )
    print(f"  of them genuine (the clean twin passes): {genuine}/{poison_n}")
    for attack, (k, n) in sorted(by_attack.items()):
        print(f"  {attack:22s} blocked {k}/{n}")


HEADER = """# The default gate on clean batches in file order and on batches with 1-5% poison (generated by bench/gate_pass_rate.py)

Per dataset, batches of 100-400 records in file order (base = the file's first rows, batch =
the next ones). Each batch is checked clean, then with 1-5% of it poisoned (at least 5
records; the attack cycles through the demo catalogue, provenance/demo/attacks.py, default
parameters). The default policy's detector rules are applied to the library's verdicts:
`detectors.combined` (beta-binomial budget at fpr 0.01, alpha 0.001, its overdispersion
measured on the base's own pseudo-batches and capped, plus the count of records beyond every
record of the reference trimmed of its most extreme pseudo-batch, and of those far beyond it;
provenance/detectors/budget.py),
`detectors.extreme` (extreme p <= 0.01 / n), `detectors.drift` (warns, never blocks), (since session
14) `detectors.relabels` (the relabels as a group, a Berk-Jones scan against the base's held-out
pseudo-batches at alpha 0.001; provenance/detectors/relabel_scan.py), and (since session 12)
`copies.max_copies_rate` (provenance/gate/copies.py: exact copies per class of how often the
base holds the record copied, each against its binomial quantile at the base's own rate; before
session 22 one allowance for all copies against the rows added and the base's repeated records).
The data carries no signatures, so lineage rules are not part of it. `xN` counts the distinct
poisoned records in the delta (an exact-copy flood is one record with its copies). 2-CPU machine shared
by several engineers; load on the `uptime` lines, CPU time of the run at the end.
"""


def logged_run(filename: str, header: str, body) -> None:
    """Run ``body(out)``, where ``out(text)`` prints a line and keeps it, between two ``uptime``
    lines and the run's CPU time, and write ``header`` and the lines to bench/results/``filename``."""
    lines: list[str] = []

    def out(text: str) -> None:
        lines.append(text)
        print(text, flush=True)

    out(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cpu = time.process_time()
    body(out)
    out(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    out(f"CPU time of the run: {time.process_time() - cpu:.0f} s")
    path = Path(__file__).resolve().parent / "results" / filename
    path.write_text(header + "\n```\n" + "\n".join(lines) + "\n```\n")


DEFAULT_DATASETS = "digits,breast_cancer,cells,seattle_weather"


def main(argv: list[str]) -> None:
    """Run the benchmark and write bench/results/gate-pass-rate.md."""
    names = (argv[0] if argv else DEFAULT_DATASETS).split(",")
    per_dataset = int(argv[1]) if len(argv) > 1 else 6
    seed = int(argv[2]) if len(argv) > 2 else 0
    order = argv[3] if len(argv) > 3 else "inorder"
    if order not in ("inorder", "random"):
        raise SystemExit(f"order must be inorder or random, not {order!r}")
    lines: list[str] = []

    def out(*parts: object, **_: object) -> None:
        text = " ".join(str(p) for p in parts)
        lines.append(text)
        print(text, flush=True)

    out(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cpu = time.process_time()
    run(names, per_dataset, seed, out=out, order=order)
    out(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    out(
        f"CPU time of the run: {time.process_time() - cpu:.0f} s (BLAS threads: {os.environ.get('OMP_NUM_THREADS', 'default')})"
    )
    name = "gate-pass-rate.md" if (per_dataset, seed) == (6, 0) else f"gate-pass-rate-{per_dataset}-seed{seed}.md"
    if names != DEFAULT_DATASETS.split(","):  # another set of datasets (spam7, attrition, doctor_aus): its own file
        name = name.replace("gate-pass-rate", "gate-pass-rate-" + "-".join(names))
    if order == "random":
        name = name.replace("gate-pass-rate", "gate-pass-rate-random")
    results = Path(__file__).resolve().parent / "results" / name
    header = HEADER
    if order == "random":
        header = HEADER.replace("on clean batches in file order", "on clean batches at random").replace(
            "in file order (base = the file's first rows, batch =\nthe next ones)",
            "after one fixed shuffle of each file (seed 7; base = the first rows, batch =\nthe next ones)",
        )
    results.write_text(header + "\n```\n" + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main(sys.argv[1:])
