"""Benchmark (issue 14, fpr31): why the base's own pseudo-batches under-estimate how much a clean next batch in
file order repeats records, and the copies rule's level with and without the base's clumping ratio.

    python bench/fpr31_clumping.py [datasets, default doctor_aus,spam7,attrition] [batches, default 12] [seed, default 1]
        [table|outcomes|both, default both]

The batches are bench/gate_pass_rate.py's (the same starts, sizes and planted attacks), in file order and after its
one fixed shuffle. Part 1 (``table``), per clean batch: the candidate's copies per row added (``cand``), the same
share in the base's last file-order pseudo-batch (``last``) and in the most clumped but one (``trimmed``: what the
copies rule raised its rates to before fpr31, ``BatchCopies.worst_total_rate``), the ``trend`` level (below), the
base's clumping ratio (``gate.copies_ratio``), how many of the candidate's copies of base records copy a record with
a row in the base's last tenth (is the clumping local to the end of the base?), the gate's rules that block it and,
for a batch the copies rule blocks before fpr31, ``factor``: the least multiple of that level (its cap lifted) at
which the rule passes it. Part 2 (``outcomes``), the gate's outcomes under four levels for the copies rule:

- ``before``: each class's rate (and the total's) raised to its most clumped pseudo-batch's but one (session 23);
- ``after``: the library's: that, or every class's rate times the base's clumping ratio when more (fpr31);
- ``trend``: ``before``, or a least-squares line through the pseudo-batches' rates but the last, read at the next
  batch's place, when more (the last left out so that a flood appended at the end of the base widens nothing);
- ``x2``: ``before`` doubled, its cap lifted (what a looser level costs on the poisoned batches).

``trend`` and ``x2`` are variants patched into ``BatchCopies`` for the run only. Clean batches passed, poisoned
batches blocked and the genuine blocks among them (the clean twin passes), with 95% Wilson intervals;
bench/results/fpr31-clumping-*.md.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as gpr
from real_datasets import LOADERS, row_digests

import provenance.gate.copies as copies_rule
import provenance.gate.copies_ratio as copies_ratio
from provenance.profiles.batch_copies import BatchCopies

LEVELS = ("before", "after", "trend", "x2")
COPIES_RULE = "copies.max_copies_rate"


def trend_level(rates: np.ndarray) -> np.ndarray:
    """(K,) per column of ``rates`` (B, K), file order: the least-squares line through all rows but the last, at
    row ``B`` (the next batch's place), never below 0; zeros with fewer than 4 rows."""
    count = len(rates)
    if count < 4:
        return np.zeros(rates.shape[1])
    x = np.arange(count - 1, dtype=np.float64)
    kept = rates[:-1]
    centred = x - x.mean()
    slope = (centred[:, None] * (kept - kept.mean(axis=0))).sum(axis=0) / (centred**2).sum()
    return np.maximum(kept.mean(axis=0) + slope * (count - x.mean()), 0.0)


def class_rates(copies: BatchCopies) -> np.ndarray:
    """(B, K) copies per row of each pseudo-batch and class."""
    return copies.copies / np.maximum(copies.rows, 1)[:, None]


def total_rates(copies: BatchCopies) -> np.ndarray:
    """(B, 1) copies per row of each pseudo-batch, classes together."""
    return (copies.copies.sum(axis=1) / np.maximum(copies.rows, 1))[:, None]


@contextmanager
def level(name: str) -> Iterator[None]:
    """The copies rule's clumping level ``name`` (module docstring) while the block runs."""
    worst, worst_total = BatchCopies.worst_rates, BatchCopies.worst_total_rate
    cap = copies_rule.CLUMPING_CAP
    if name.startswith("x"):  # the current level times a factor, its cap lifted (factor_needed)
        factor = float(name[1:])
        copies_rule.CLUMPING_CAP = float("inf")
        BatchCopies.worst_rates = lambda self: factor * worst(self)  # type: ignore[method-assign]
        BatchCopies.worst_total_rate = lambda self: factor * worst_total(self)  # type: ignore[method-assign]
    ratio = copies_rule.clumping_ratio
    if name != "after":  # every level but the library's own is measured without the clumping ratio (fpr31)
        copies_rule.clumping_ratio = lambda *args: 0.0
    if name == "trend":
        BatchCopies.worst_rates = lambda self: np.maximum(worst(self), trend_level(class_rates(self)))  # type: ignore[method-assign]
        BatchCopies.worst_total_rate = lambda self: float(  # type: ignore[method-assign]
            max(worst_total(self), trend_level(total_rates(self))[0])
        )
    try:
        yield
    finally:
        BatchCopies.worst_rates, BatchCopies.worst_total_rate = worst, worst_total  # type: ignore[method-assign]
        copies_rule.CLUMPING_CAP = cap
        copies_rule.clumping_ratio = ratio


FACTORS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0)


def factor_needed(delta, base_rows: int, repeated: np.ndarray, clumping: BatchCopies) -> str:
    """The least of ``FACTORS`` times the clumped level at which the copies rule passes ``delta`` ("-": none)."""
    for factor in FACTORS:
        with level(f"x{factor}"):
            if not gpr.copies_over(delta, base_rows, repeated, clumping):
                return f"{factor:g}"
    return "-"


def file_rows(name: str, order: str) -> np.ndarray:
    """The dataset's feature rows as gate_pass_rate.run takes them (shuffled once for ``random``)."""
    X, _ = LOADERS[name]()
    if order == "random":
        X = X[np.random.default_rng(gpr.RANDOM_ORDER_SEED).permutation(len(X))]
    return X


def clumping_table(name: str, order: str, batches: int, seed: int, out) -> None:
    """Part 1 (module docstring) for one dataset and order."""
    X = file_rows(name, order)
    out(
        f"{name} {order}: start rows_added cand last trimmed trend ratio | copies of base records, of them of records in its last tenth | gate"
    )

    def inspect(batch: gpr.Batch) -> None:
        base = row_digests(X[: batch.start])
        tail = Counter(base[int(0.9 * len(base)) :])
        delta = batch.clean
        extra, held = np.asarray(delta.extra_copies), np.asarray(delta.base_copies)
        rows_added = int((np.asarray(delta.kinds) == "added").sum() + extra.sum())
        of_base = int(extra[held > 0].sum())
        of_tail = sum(int(e) for e, h, d in zip(extra, held, delta.digests) if h > 0 and d in tail)
        clumping = batch.profile.within_batch_copies
        total = total_rates(clumping)
        outcome = ",".join(batch.clean_outcome["blocking"]) or "pass"
        base_rows, repeated = gpr.base_repetition(base)
        with level("before"):
            blocked_before = gpr.copies_over(delta, base_rows, repeated, clumping)
        if blocked_before:
            outcome += " (before: copies blocks, factor " + factor_needed(delta, base_rows, repeated, clumping) + ")"
        ratio = copies_ratio.clumping_ratio(clumping, base_rows, repeated)
        out(
            f"  {batch.start:5d} {rows_added:4d} {extra.sum() / rows_added:.3f} {total[-1, 0]:.3f} "
            f"{clumping.worst_total_rate():.3f} {trend_level(total)[0]:.3f} {ratio:.2f} | {of_base:4d} {of_tail:4d} "
            f"({of_tail / max(of_base, 1):.0%}) | {outcome}"
        )

    gpr.run([name], batches, seed, out=lambda *a, **k: None, order=order, inspect=inspect)


def outcomes(names: list[str], order: str, batches: int, seed: int, out, totals: Counter) -> None:
    """Part 2 (module docstring): per level, clean passed (and those the copies rule blocks), poisoned blocked;
    ``totals`` gains each (order, level, count)."""
    for name in names:
        for which in LEVELS:
            seen = Counter()

            def inspect(batch: gpr.Batch, seen: Counter = seen) -> None:
                seen["batches"] += 1
                seen["clean passed"] += not batch.clean_outcome["blocking"]
                seen["clean blocked by copies"] += COPIES_RULE in batch.clean_outcome["blocking"]
                seen["poisoned blocked"] += bool(batch.poisoned_outcome["blocking"])
                seen["genuine"] += bool(batch.poisoned_outcome["blocking"]) and not batch.clean_outcome["blocking"]

            with level(which):
                gpr.run([name], batches, seed, out=lambda *a, **k: None, order=order, inspect=inspect)
            n = seen["batches"]
            parts = []
            for key in ("clean passed", "poisoned blocked"):
                lo, hi = gpr.wilson(seen[key], n)
                parts.append(f"{key} {seen[key]}/{n} ({lo:.0%}-{hi:.0%})")
            out(
                f"  {name:11s} {order:8s} {which:8s}: {parts[0]}; clean blocked by copies {seen['clean blocked by copies']}/{n}; "
                f"{parts[1]}, genuine {seen['genuine']}/{n}"
            )
            for key in ("batches", "clean passed", "poisoned blocked", "genuine"):
                totals[(order, which, key)] += seen[key]


def main(argv: list[str]) -> None:
    """Run both parts and write bench/results/fpr31-clumping-NAMES-N-seedS.md."""
    names = (argv[0] if argv else "doctor_aus,spam7,attrition").split(",")
    batches = int(argv[1]) if len(argv) > 1 else 12
    seed = int(argv[2]) if len(argv) > 2 else 1
    header = (
        "# "
        + (__doc__ or "").strip().splitlines()[0]
        + " (generated by bench/fpr31_clumping.py)\n\n"
        + ("\n".join((__doc__ or "").strip().splitlines()[4:]) + "\n")
    )

    parts = argv[3] if len(argv) > 3 else "both"

    def body(out) -> None:
        if parts in ("table", "both"):
            for name in names:
                for order in ("inorder", "random"):
                    clumping_table(name, order, batches, seed, out)
        if parts in ("outcomes", "both"):
            out("gate outcomes by the copies rule's clumping level (95% Wilson intervals):")
            totals: Counter = Counter()
            for order in ("inorder", "random"):
                outcomes(names, order, batches, seed, out, totals)
            for order in ("inorder", "random"):
                for which in ("before", "after"):
                    n = totals[(order, which, "batches")]
                    got = [totals[(order, which, k)] for k in ("clean passed", "poisoned blocked", "genuine")]
                    out(
                        f"  all {order:8s} {which:7s}: clean passed {got[0]}/{n}, poisoned blocked {got[1]}/{n}, genuine {got[2]}/{n}"
                    )

    suffix = "" if parts == "both" else f"-{parts}"
    gpr.logged_run(f"fpr31-clumping-{'-'.join(names)}-{batches}-seed{seed}{suffix}.md", header, body)


if __name__ == "__main__":
    main(sys.argv[1:])
