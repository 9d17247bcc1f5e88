"""Benchmark: budget variants of ``detectors.combined`` replayed on the gate bench's batches (session 16).

    python bench/gate_budget_variants.py [batches per dataset, default 6] [seed, default 0] [inorder|random]
    python bench/gate_budget_variants.py whole

Session 15 (bench/results/gate-misses.md) put one group of the default gate's misses down to the budget:
poisoned batches with records flagged, but fewer than a budget widened for drift allows. This replays
the batches of bench/gate_pass_rate.py (same datasets, seeds, attacks, its ``run`` with an ``inspect``
hook: the real detectors, ``combine``, the other rules' outcomes) through variants of the budget's counts,
each computed with the library's own functions (``budget.upper_limit``, ``budget.overdispersion``,
``beyond.held_out_p_values``, ``beyond.trimmed_reference``). A variant changes only the
``detectors.combined`` clause; ``detectors.extreme``, ``copies`` and ``detectors.relabels`` keep their
outcomes. ``baseline`` reproduces the gate (the file's first line says so, or the run stops).

Variants (``VARIANTS``):

- ``rho_cap_C``: ``RHO_CAP`` lowered to C for both counts (the finite reference's 1 / (m + 2) stays);
- ``rho_at_fpr``: the flags' overdispersion counted at ``fpr`` itself, not where the reference holds 20
  records (``combine.dispersion_level``);
- ``beyond_own_rho``: the count beyond the trimmed reference judged with the spread the base's held-out
  pseudo-batches show for *that* count (``beyond.out_of_fold``'s counts, the batch with the most left out,
  capped at ``RHO_CAP``) where it is below the flags' one; ``+finite`` adds the trimmed reference's
  1 / (m' + 2);
- ``bar_xF``: a fourth count, records below F times the trimmed bar, at the rate and spread the held-out
  batches show for it (as the far count, ``beyond.FAR_FACTOR``, is judged);
- ``level_L``: a fourth count, records at combined p <= L, against the rate and spread of the held-out
  batches' records at p <= L (each scored against the others' calibration); ``+finite`` as above;
  ``level_0.01`` is the flag count itself judged that way;
- ``binomial``: not a candidate (no drift, no finite reference: it blocks clean batches); the most any
  narrower budget can add.

For each poisoned batch the gate passes it also prints the plain binomial tail p-value of its flag count
and of its count beyond the reference, beside its clean twin's: a batch whose count fits even the
binomial allowance at alpha cannot be blocked by narrowing the drift term.

``whole``: clean deltas larger than the bench's batches (base = the first 40-70% of each dataset, delta =
the rest, in file order and after the bench's shuffle), the candidate ``beyond_own_rho+finite`` against
the gate's beyond allowance (bench/delta_size.py's question for this variant), and whether a lowered
``RHO_CAP`` would block any of them.

Writes bench/results/gate-budget-variants[-random]-N-seedS.md (or gate-budget-variants-whole.md).
Heavy-ish: run with ``nice``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench
from real_datasets import LOADERS, pipeline_delta, row_digests

from provenance.detectors import run_detectors
from provenance.detectors.beyond import held_out_p_values, trimmed_reference, values_order, weighted_statistic
from provenance.detectors.budget import RHO_CAP, effective_rho, overdispersion, tail_p, upper_limit
from provenance.detectors.combine import DETECTOR_WEIGHTS, combine, combined_p_values
from provenance.detectors.extreme import batch_label_support
from provenance.profiles.reference import build_profile

FPR, ALPHA = bench.FPR, bench.ALPHA


@dataclass
class Outcome:
    """What one gate outcome's variants read: its counts, its delta's and reference's statistics, and the
    base's pseudo-batches each held out (``held``: per batch, its records' T against the others'
    calibration and the others' trimmed bar)."""

    blocking: list[str]
    n: int
    flagged: int
    beyond: int
    far: int
    p: np.ndarray
    ref_T: np.ndarray
    batches: np.ndarray
    verdicts: object
    held: list[tuple[np.ndarray, np.ndarray, float]] | None = None

    @property
    def other_rules(self) -> bool:
        """Whether a rule other than ``detectors.combined`` blocks (variants do not change those)."""
        return any(not b.startswith("detectors.combined") for b in self.blocking)


def outcome_of(g: dict, profile) -> Outcome:
    """An ``Outcome`` from ``bench.gate``'s dict."""
    v = g["verdicts"]
    scored = [r for r in g["results"] if r.status == "ran" and r.p_values is not None and r.reference_p is not None]
    weights = np.array([DETECTOR_WEIGHTS.get(r.detector, 1.0) for r in scored])
    ref_T = weighted_statistic([np.asarray(r.reference_p, dtype=np.float64) for r in scored], weights)
    batches = np.asarray(profile.sample_batches)
    raws = [r.reference_raw for r in scored]
    held = None
    if all(raw is not None for raw in raws) and len(np.unique(batches)) >= 4:
        raws_f = [np.asarray(raw, dtype=np.float64) for raw in raws if raw is not None]
        by_value = values_order(raws_f)
        held = []
        for b in np.unique(batches):
            out = batches == b
            h, k = held_out_p_values(raws_f, out, FPR, by_value)
            T_out, T_kept = weighted_statistic(h, weights), weighted_statistic(k, weights)
            trimmed = trimmed_reference(T_kept, batches[~out])
            held.append((T_out[np.isfinite(T_out)], T_kept[np.isfinite(T_kept)], trimmed.bar if trimmed.size else 0.0))
    counts = len(v.flagged), len(v.beyond_reference), len(v.far_beyond_reference)
    return Outcome(g["blocking"], g["n"], *counts, g["p"], ref_T, batches, v, held)


def kept_rate_rho(counts: list[tuple[int, int]], cap: float = RHO_CAP) -> tuple[float, float]:
    """(add-one rate, overdispersion) of per-batch (count, scored), the batch with the largest share left
    out, as ``beyond.out_of_fold`` measures its rates."""
    worst = max(range(len(counts)), key=lambda i: (counts[i][0] / max(counts[i][1], 1), counts[i][0]))
    kept = [c for i, c in enumerate(counts) if i != worst]
    rate = (1.0 + sum(k for k, _ in kept)) / (1.0 + sum(s for _, s in kept))
    return rate, overdispersion([s for _, s in kept if s > 0], [k for k, s in kept if s > 0], cap=cap)


def flag_rho(o: Outcome, cap: float = RHO_CAP, level: float | None = None) -> float:
    """The flags' rho as ``budget.flag_budget`` computes it, with another cap or counted at ``level``."""
    v = o.verdicts
    sizes, flags = v.reference_batch_sizes, v.reference_batch_flags
    if level is not None:
        ok = np.isfinite(o.ref_T)
        p = np.full(len(o.ref_T), np.nan)
        p[ok] = combined_p_values(o.ref_T[ok], o.ref_T[ok])
        groups = np.unique(o.batches[ok])
        sizes = [int((ok & (o.batches == b)).sum()) for b in groups]
        flags = [int((ok & (o.batches == b) & (p <= level)).sum()) for b in groups]
    rho = effective_rho(overdispersion(sizes, flags, cap=cap) if len(sizes) else 0.0, o.n)
    return rho + (1.0 / (v.reference_size + 2.0) if v.reference_size > 0 else 0.0)


def own_beyond_rho(o: Outcome) -> float | None:
    """The spread of the held-out batches' counts beyond their trimmed bar (None: not measured)."""
    if o.held is None:
        return None
    return kept_rate_rho([(int((T < bar).sum()), len(T)) for T, _, bar in o.held])[1]


def combined_blocks(
    o: Outcome, cap: float = RHO_CAP, level: float | None = None, beyond_rho: str = "flags", binomial: bool = False
) -> bool:
    """``detectors.combined``'s three counts under a variant of their overdispersion."""
    v, n = o.verdicts, o.n
    if n == 0:
        return False
    rho = 0.0 if binomial else flag_rho(o, cap, level)
    rho_beyond = rho
    own = own_beyond_rho(o) if beyond_rho != "flags" else None
    if own is not None:
        own = effective_rho(own, n) + (1.0 / (v.beyond_size + 2.0) if beyond_rho == "own+finite" else 0.0)
        rho_beyond = min(rho, own)
    beyond_rate = v.beyond_rate or 1.0 / (v.beyond_size + 1.0)
    far = upper_limit(n, v.far_rate, ALPHA, effective_rho(v.far_rho, n)) if v.far_rate > 0 else n
    return (
        o.flagged > upper_limit(n, FPR, ALPHA, rho)
        or o.beyond > upper_limit(n, beyond_rate, ALPHA, rho_beyond)
        or o.far > far
    )


def bar_count_blocks(o: Outcome, factor: float) -> bool:
    """Records below ``factor`` times the trimmed bar against the held-out batches' rate and spread there."""
    if o.held is None or o.verdicts.beyond_size <= 0:
        return False
    rate, rho = kept_rate_rho([(int((T < bar * factor).sum()), len(T)) for T, _, bar in o.held])
    trimmed = trimmed_reference(o.ref_T, o.batches)
    p_bar = float(combined_p_values(np.array([trimmed.bar * factor]), o.ref_T)[0])
    count = int(((o.p <= FPR) & (o.p < p_bar)).sum())
    return count > upper_limit(o.n, min(rate, FPR), ALPHA, effective_rho(rho, o.n))


def level_count_blocks(o: Outcome, level: float, finite: bool = False) -> bool:
    """Records at combined p <= ``level`` against the held-out batches' rate and spread at that level."""
    if o.held is None:
        return False
    counts = [(int((combined_p_values(T, kept) <= level).sum()), len(T)) for T, kept, _ in o.held]
    rate, rho = kept_rate_rho(counts)
    rho = effective_rho(rho, o.n) + (1.0 / (o.verdicts.reference_size + 2.0) if finite else 0.0)
    return int((o.p <= level).sum()) > upper_limit(o.n, rate, ALPHA, rho)


VARIANTS: dict[str, Callable[[Outcome], bool]] = {
    "baseline": lambda o: combined_blocks(o),
    **{f"rho_cap_{c:g}": (lambda o, c=c: combined_blocks(o, cap=c)) for c in (0.0075, 0.005, 0.0025, 0.0)},
    "rho_at_fpr": lambda o: combined_blocks(o, level=FPR),
    "beyond_own_rho": lambda o: combined_blocks(o, beyond_rho="own"),
    "beyond_own_rho+finite": lambda o: combined_blocks(o, beyond_rho="own+finite"),
    **{f"bar_x{f:g}": (lambda o, f=f: combined_blocks(o) or bar_count_blocks(o, f)) for f in (0.1, 0.01)},
    **{f"level_{lv:g}": (lambda o, lv=lv: combined_blocks(o) or level_count_blocks(o, lv)) for lv in (0.0005, 0.005)},
    "level_0.005+finite": lambda o: combined_blocks(o) or level_count_blocks(o, 0.005, finite=True),
    "level_0.01": lambda o: combined_blocks(o) or level_count_blocks(o, FPR),
    "binomial (not a candidate)": lambda o: combined_blocks(o, binomial=True),
}


def binomial_margins(clean: Outcome, poisoned: Outcome) -> str:
    """The binomial tail p-values of a poisoned batch's flag and beyond counts, beside its clean twin's."""

    def tails(o: Outcome) -> tuple[float, float]:
        v = o.verdicts
        rate = v.beyond_rate or 1.0 / (v.beyond_size + 1.0)
        return tail_p(o.flagged, o.n, FPR, 0.0), tail_p(o.beyond, o.n, rate, 0.0)

    (pf, pb), (cf, cb) = tails(poisoned), tails(clean)
    return (
        f"flags {poisoned.flagged} of {poisoned.n}: binomial p {pf:.2g} (clean twin {clean.flagged}, {cf:.2g}); "
        f"beyond {poisoned.beyond}: {pb:.2g} (twin {clean.beyond}, {cb:.2g})"
    )


def main(argv: list[str]) -> None:
    """Run the benchmark and write its results file."""
    if argv[:1] == ["whole"]:
        bench.logged_run("gate-budget-variants-whole.md", WHOLE_HEADER, whole)
        return
    per_dataset = int(argv[0]) if argv else 6
    seed = int(argv[1]) if len(argv) > 1 else 0
    order = argv[2] if len(argv) > 2 else "inorder"
    if order not in ("inorder", "random"):
        raise SystemExit(f"order must be inorder or random, not {order!r}")
    tally = {name: [0, 0, []] for name in VARIANTS}  # clean passed, poisoned blocked, changed batches
    misses: list[str] = []
    batches = 0

    def inspect(batch: bench.Batch) -> None:
        nonlocal batches
        batches += 1
        clean = outcome_of(batch.clean_outcome, batch.profile)
        poisoned = outcome_of(batch.poisoned_outcome, batch.profile)
        where = f"{batch.dataset} start {batch.start}"
        for name, blocks in VARIANTS.items():
            c_now, p_now = clean.other_rules or blocks(clean), poisoned.other_rules or blocks(poisoned)
            if name == "baseline" and (c_now, p_now) != (bool(clean.blocking), bool(poisoned.blocking)):
                raise SystemExit(f"the replay does not reproduce the gate on {where}")
            tally[name][0] += not c_now
            tally[name][1] += p_now
            if c_now != bool(clean.blocking):
                tally[name][2].append(f"clean {where} now {'BLOCKED' if c_now else 'passes'}")
            if p_now != bool(poisoned.blocking):
                tally[name][2].append(f"{batch.attack} {where} now {'blocked' if p_now else 'PASSES'}")
        if not poisoned.blocking:
            misses.append(f"  {where:24s} {batch.attack:22s} {binomial_margins(clean, poisoned)}")

    def body(out) -> None:
        names = bench.DEFAULT_DATASETS.split(",")
        bench.run(names, per_dataset, seed, out=lambda *a, **k: None, order=order, inspect=inspect)
        out(f"{batches} clean and {batches} poisoned batches ({order}, {per_dataset} per dataset, seed {seed})")
        out("baseline reproduces the gate on every batch")
        out("")
        for name, (passed, blocked, changed) in tally.items():
            lo, hi = bench.wilson(blocked, batches)
            clo, chi = bench.wilson(passed, batches)
            out(
                f"{name:28s} clean passed {passed}/{batches} (95% Wilson {clo:.1%}-{chi:.1%}); "
                f"poisoned blocked {blocked}/{batches} ({lo:.1%}-{hi:.1%})"
            )
            for change in changed:
                out(f"    {change}")
        out("")
        out("Poisoned batches the gate passes: their counts' plain binomial tail p-values (alpha 0.001):")
        for line in misses:
            out(line)

    name = f"gate-budget-variants{'-random' if order == 'random' else ''}-{per_dataset}-seed{seed}.md"
    bench.logged_run(name, HEADER, body)


def whole(out) -> None:
    """Clean deltas of 30-60% of each dataset: the candidate's beyond allowance against the gate's."""
    for order in ("inorder", "random"):
        for name in bench.DEFAULT_DATASETS.split(","):
            X, y = LOADERS[name]()
            if order == "random":
                shuffle = np.random.default_rng(bench.RANDOM_ORDER_SEED).permutation(len(X))
                X, y = X[shuffle], y[shuffle]
            y = y.astype(str)
            for fraction in (0.4, 0.5, 0.6, 0.7):
                start = int(fraction * len(X))
                profile = build_profile(
                    X[:start], y[:start], row_digests(X[:start]), featurizer="x", positions=np.arange(start)
                )
                delta, _ = pipeline_delta(X[:start], X[start:], y[start:])
                results = run_detectors(profile, delta, fpr=FPR)
                v = combine(results, FPR, profile.sample_batches, batch_label_support(profile, delta))
                n = len(v.records)
                o = outcome_of({"blocking": [], "n": n, "verdicts": v, "results": results, "p": np.zeros(0)}, profile)
                rho = flag_rho(o)
                own = own_beyond_rho(o)
                rho_beyond = rho if own is None else min(rho, effective_rho(own, n) + 1.0 / (v.beyond_size + 2.0))
                rate = v.beyond_rate or 1.0 / (v.beyond_size + 1.0)
                gate, candidate = upper_limit(n, rate, ALPHA, rho), upper_limit(n, rate, ALPHA, rho_beyond)
                k = len(v.beyond_reference)
                capped = {c: combined_blocks(o, cap=c) for c in (0.0075, 0.005, 0.0025)}
                verdict = "; BLOCKS under the candidate only" if gate >= k > candidate else ""
                if not combined_blocks(o) and any(capped.values()):
                    verdict += "; BLOCKS under " + ", ".join(f"rho_cap_{c:g}" for c, b in capped.items() if b)
                out(
                    f"{order:8s} {name:16s} base {start:4d} delta {n:4d}: flags {len(v.flagged)}/"
                    f"{upper_limit(n, FPR, ALPHA, rho)}, beyond {k}, allowed {gate} (gate) / {candidate} "
                    f"(beyond_own_rho+finite){verdict}"
                )


HEADER = """# Budget variants of `detectors.combined` replayed on the gate bench (generated by bench/gate_budget_variants.py)

The batches of bench/gate_pass_rate.py (same datasets, seeds and attacks), each clean and poisoned
outcome replayed through variants of the combined rule's counts (the module's docstring); the other
rules keep their outcomes. Session 16's conclusion is in bench/results/gate-misses.md. 2-CPU machine
shared by several engineers; load on the `uptime` lines.
"""

WHOLE_HEADER = """# Clean deltas of 30-60% of each dataset under the beyond count's own spread (generated by bench/gate_budget_variants.py whole)

Base = the first 40-70% of each dataset, delta = the rest, clean, in file order and after the gate
bench's shuffle (seed 7). The count beyond the trimmed reference and its allowance under the gate's
budget and under session 16's candidate `beyond_own_rho+finite` (the module's docstring), and whether
the `rho_cap_C` variants block the delta where the gate passes it. Counts, so the load changes only the time.
"""


if __name__ == "__main__":
    main(sys.argv[1:])
