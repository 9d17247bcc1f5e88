"""What the pending-version-entry refusal costs a signing write (attack review 26e, A26e-5): a checkpoint signed over a
log of ``--entries`` audit entries, of which every 100th is a ``commit`` entry, the way it was before (signed alone)
and the way every write given a checkpoint key signs it now (``vouched.refusal`` first, then the signing).

One store, built once: ``prov init``, ``--entries`` entries appended with ``audit.append`` (``batch.add`` details of
the size ``prov add`` writes, one in 100 a ``commit`` detail), then one checkpoint over them all, as the honest flow
leaves every commit entry covered. Each round signs one forced checkpoint each way, alternately, inside a write that
is rolled back (nothing stays), in CPU seconds; then the refusal alone. Then a commit's two refusals and its
checkpoint: the refusal before the work (``vouched.refuse``) and, in the write, again reading the log (before) or
handed the first's answer because the state the write began on (``vouched.log_state``, read as ``Store.write``
reads it) is the one it cleared (now, ``vouched.refuse_at_write``). Medians, with the machine's load.

    nice -n 5 python bench/vouched_cost.py [--entries 10000] [--rounds 7]

Writes bench/results/vouched-cost.json and .md.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, built_store, median_lines, rolled_back, uptime, write_results  # noqa: E402
from checkpoint_chain_cost import build as batch_log  # noqa: E402

from provenance.store import audit, checkpoints, vouched  # noqa: E402
from provenance.store.store import Store  # noqa: E402


def build(folder: Path, entries: int) -> tuple[Store, checkpoints.CheckpointKey]:
    """``checkpoint_chain_cost``'s store of ``batch.add`` entries, one in 100 of the ``entries`` a ``commit`` entry
    instead (appended last: the refusal's cost does not depend on where they are), all under one checkpoint."""
    commits = entries // 100
    store, signer = batch_log(folder, entries - commits)
    detail = {"merkle_root": "cd" * 32, "manifest": "ef" * 32, "envelope": "01" * 32, "keyid": "ab" * 32}
    with store.write():
        for i in range(commits):
            audit.append(store.db, "commit", f"v{i}", {**detail, "parent": None, "dataset": "{}"})
        checkpoints.sign_checkpoint(store, signer.private, signer.name)
    return store, signer


SIDES = (
    "before (signing alone)",
    "now (vouched.refusal first)",
    "the refusal alone",
    "a commit's two refusals, the log read twice",
    "a commit's two refusals, the second handed over",
)


def once(store: Store, signer: checkpoints.CheckpointKey, side: str) -> float:
    """CPU seconds of one side: a forced checkpoint over the whole log, the refusal first or not (rolled back), or
    the refusal alone."""
    started = time.process_time()
    refuse, sign = side in SIDES[1:3], side != SIDES[2]
    if side in SIDES[3:]:
        vouched.refuse(store)  # the commit's first refusal, before its work
    with rolled_back(store):
        before = audit.head(store.db)[0]
        if side == SIDES[3]:
            vouched.refuse(store, before)
        elif side == SIDES[4]:
            vouched.refuse_at_write(store, before, vouched.log_state(store, before))
        if refuse:
            assert vouched.refusal(store, before) is None
        if sign:
            checkpoints.sign_checkpoint(store, signer.private, signer.name, force=True)
    return time.process_time() - started


def main() -> None:
    with built_store(__doc__.splitlines()[0], build) as (args, store, signer):
        loads = [uptime()]
        results, loads[1:] = alternate(SIDES, lambda side: once(store, signer, side), args.rounds, swap=True)
        loads.append(uptime())
    medians = {side: round(statistics.median(v), 4) for side, v in results.items()}
    ratio = round(medians[SIDES[1]] / medians[SIDES[0]], 2)
    handed = round(medians[SIDES[4]] / medians[SIDES[3]], 2)
    title = f"Checkpoint over a log of {args.entries} entries ({args.entries // 100} commits)"
    write_results(
        "vouched-cost",
        {
            "entries": args.entries,
            "rounds": args.rounds,
            "cpu_s": results,
            "median_cpu_s": medians,
            "ratio_now_to_before": ratio,
            "ratio_handed_over_to_read_twice": handed,
            "load": loads,
        },  # fmt: skip
        median_lines(
            f"{title}: with and without the pending-version-entry refusal (attack review 26e, A26e-5)",
            f"CPU seconds, median of {args.rounds} alternated rounds (`bench/vouched_cost.py`); the refusal reads "
            "checkpoints only, as in the honest flow.",
            "signing",
            medians,
            [
                f"Ratio now / before: {ratio}.",
                f"A commit's two refusals and its checkpoint, the second handed over / the log read twice: {handed}.",
                f"Load (uptime, then 1/5/15 min per round): {'; '.join(loads)}.",
            ],
        ),
    )


if __name__ == "__main__":
    main()
