"""The copies rule's anchor test (issue 14, the ratchet) on the gate bench's batches, before and after, batch by batch.

    python bench/anchor_copies.py [datasets, default digits,breast_cancer,cells,seattle_weather,spam7,doctor_aus]
        [batches per dataset, default 6] [seed, default 0] [inorder|random, default inorder]
        [oldest|two|oldest-held|two-held|default-candidate|default-base, default oldest]

The batches are bench/gate_pass_rate.py's (same starts, sizes and poison for the same seed), read through its
``inspect`` hook: each batch's outcome there is the gate *before* (the copies rule against the base alone). The
base of batch i (the file's first ``start_i`` rows) stands for a release whose history is a chain of clean
releases since an anchor: ``oldest`` takes the anchor at the first batch's start (the oldest version of the
chain: the cumulative delta grows to about twice the anchor), ``two`` at the start of the batch two before
(``copies.anchor`` two versions back); ``-held`` counts only copies of records the anchor holds (what the
rule does: ``provenance/gate/copies_anchor.py``), without it every copy since the anchor (the first sketch).
``default-candidate`` and ``default-base`` take the rule's default anchor over the chain of the batches' starts so
far (each a signed version), copies of records it holds only: the oldest start ``copies_anchor.large_enough``
for the candidate's rows (base and batch: session 26, which attack review 26h's A26h-1 slid) or for the base's
rows (session 27, the fix); none but the base, no anchor test. *After*
adds the anchor test (``provenance.gate.copies.Copies`` on the
rows added since the anchor, clean history plus this batch, clean or poisoned, against the anchor's rates and
its own file-order clumping). The anchor test only adds blocks: the lines list every batch whose outcome
changes. Writes bench/results/anchor27-DATASETS-N-seedS-ORDER-ANCHOR.md (anchor26-* before session 27). A few seconds of CPU per dataset.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_pass_rate import COPIES_LEAST, COPIES_RATE, RANDOM_ORDER_SEED, logged_run, run, wilson
from real_datasets import LOADERS, row_digests

from provenance.gate.copies import Copies
from provenance.gate.copies_anchor import large_enough
from provenance.profiles.batch_copies import COPY_PSEUDO_BATCHES, batch_copies, batches_of_ranks


def clumping_of(digests: list[bytes]):
    """The within-pseudo-batch repetition of rows ``digests`` in file order (``profiles.batch_copies``), as the
    check counts it from the anchor's manifest."""
    if not digests:
        return None
    keys = np.array(digests, dtype="S32")
    order = np.argsort(keys, kind="stable")
    _, groups = np.unique(keys[order], return_inverse=True)
    batches = batches_of_ranks(order, COPY_PSEUDO_BATCHES, len(digests))
    return batch_copies(groups, batches, COPY_PSEUDO_BATCHES)


def anchor_copies(anchor: list[bytes], added: Counter, clumping, held_only: bool = False) -> Copies:
    """The copies rule's input for every row added since the anchor (``added``: rows per digest); ``held_only``:
    copies of records the anchor holds only."""
    held = Counter(anchor)
    keys = [k for k, v in added.items() if held[k] or (v > 1 and not held_only)]
    extra = np.array([added[k] - (0 if held[k] else 1) for k in keys], np.int64)
    of = np.array([held[k] for k in keys], np.int64)
    rows = sum(1 for k in added if not held[k]) + int(extra.sum())
    repeated = np.array([v for v in held.values() if v > 1], np.int64)
    return Copies(extra, of, rows, len(anchor), repeated, clumping)


def batch_rows(delta) -> Counter:
    """Rows per digest a Delta's batch appends (an added record once plus its copies, a copied base record its
    copies; a relabel appends none)."""
    out: Counter = Counter()
    for d, kind, extra in zip(delta.digests, delta.kinds, np.asarray(delta.extra_copies).tolist(), strict=True):
        if kind == "added":
            out[d] += 1 + extra
        elif kind == "copied":
            out[d] += extra
    return out


def main(argv: list[str]) -> None:
    names = (argv[0] if argv else "digits,breast_cancer,cells,seattle_weather,spam7,doctor_aus").split(",")
    per = int(argv[1]) if len(argv) > 1 else 6
    seed = int(argv[2]) if len(argv) > 2 else 0
    order = argv[3] if len(argv) > 3 else "inorder"
    which = argv[4] if len(argv) > 4 else "oldest"
    data: dict[str, list[bytes]] = {}
    starts: dict[str, list[int]] = {}
    tally = Counter()

    def digests_of(name: str) -> list[bytes]:
        if name not in data:
            X, _ = LOADERS[name]()
            if order == "random":
                X = X[np.random.default_rng(RANDOM_ORDER_SEED).permutation(len(X))]
            data[name] = row_digests(X)
        return data[name]

    held_only = which.endswith("held") or which.startswith("default")

    def body(out) -> None:
        def default_anchor(seen: list[int], rows: int) -> int | None:
            """The oldest start in ``seen`` (the chain, oldest first; the last is the base) that can anchor by
            ``rows`` (the candidate's or the base's, per ``which``); None when only the base can."""
            first = next((s for s in seen if large_enough(s, rows)), None)
            return None if first is None or first == seen[-1] else first

        def judged(b, delta, anchor_at: int | None) -> tuple[bool, Copies | None]:
            """Whether the anchor test blocks ``delta`` (a Delta of batch ``b``), anchored at ``anchor_at`` (None
            or the base: no test), and its input."""
            if anchor_at is None or anchor_at >= b.start:
                return False, None
            d = digests_of(b.dataset)
            anchor, history = d[:anchor_at], Counter(d[anchor_at : b.start])
            c = anchor_copies(anchor, history + batch_rows(delta), clumping_of(anchor), held_only)
            return c.blocks(COPIES_RATE, COPIES_LEAST), c

        def inspect(b) -> None:
            seen = starts.setdefault(b.dataset, [])
            seen.append(b.start)
            before_clean = bool(b.clean_outcome["blocking"])
            before_poison = bool(b.poisoned_outcome["blocking"])
            if which.startswith("default"):
                by_base = which == "default-base"
                at = [
                    default_anchor(seen, b.start if by_base else b.start + sum(batch_rows(delta).values()))
                    for delta in (b.clean, b.poisoned)
                ]
            else:
                at = [seen[0] if which.startswith("oldest") else seen[max(0, len(seen) - 3)]] * 2
            (c_block, clean), (p_block, _) = judged(b, b.clean, at[0]), judged(b, b.poisoned, at[1])
            after_clean, after_poison = before_clean or c_block, before_poison or p_block
            words = "no anchor test (the base is the anchor)" if at[0] is None or at[0] >= b.start else ""
            if clean is not None:
                assert at[0] is not None
                ex = clean.excess(COPIES_RATE, COPIES_LEAST)
                words = (
                    f"anchor at {at[0]}, {clean.rows_added} rows since (t {clean.rows_added / at[0]:.2f}): "
                    f"clean copies {clean.total} total quantile {ex[3]['quantile']}+{ex[1]} excess {ex[0]}"
                    f"{' BLOCK' if c_block else ''}"
                )
            p_words = "no anchor test" if at[1] is None or at[1] >= b.start else f"anchor at {at[1]}"
            words += f"; poisoned {p_words} {'BLOCK' if p_block else 'pass'}"
            tally["clean_before"] += not before_clean
            tally["clean_after"] += not after_clean
            tally["poison_before"] += before_poison
            tally["poison_after"] += after_poison
            tally["n"] += 1
            changed = (after_clean != before_clean) or (after_poison != before_poison)
            out(
                f"{b.dataset:16s} start {b.start:5d}: clean {'BLOCK' if before_clean else 'pass'}->"
                f"{'BLOCK' if after_clean else 'pass'}; {b.attack} {'BLOCK' if before_poison else 'pass'}->"
                f"{'BLOCK' if after_poison else 'pass'}{'  CHANGED' if changed else ''}; {words}"
            )

        run(names, per, seed, out=lambda *_, **__: None, order=order, inspect=inspect)
        n = tally["n"]
        for what in ("clean_before", "clean_after", "poison_before", "poison_after"):
            lo, hi = wilson(tally[what], n)
            verb = "passed" if what.startswith("clean") else "blocked"
            out(f"{what.replace('_', ' ')}: {verb} {tally[what]}/{n} (95% Wilson {lo:.1%}-{hi:.1%})")

    name = f"anchor27-{'-'.join(names)}-{per}-seed{seed}-{order}-{which}.md"
    header = (
        "# The copies rule's anchor test on the gate bench's batches, before and after "
        "(generated by bench/anchor_copies.py; see its docstring)\n"
    )
    logged_run(name, header, body)


if __name__ == "__main__":
    main(sys.argv[1:])
