"""What a commit's two pending-version-entry refusals cost, with and without the hand-off: the refusal before the
work (``vouched.refuse``) and again under the lock, where it now skips reading the log when the state the write
began on (``vouched.log_state``) is the one the first refusal cleared (``vouched.refuse_at_write``).

``vouched_cost``'s store (``--entries`` audit entries, one in 100 a ``commit`` entry, all under one checkpoint).
Each round runs each side once, alternately: the first refusal, then a write (rolled back: nothing stays) that
reads the refusal's state as ``Store.write`` does, refuses again (before: always reading; now: handed over) and
signs a forced checkpoint over the log. CPU seconds, medians, with the machine's load.

    nice -n 5 python bench/vouched_handoff.py [--entries 10000] [--rounds 7]

Writes bench/results/vouched-handoff.json and .md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, median_lines, uptime, write_results  # noqa: E402
from vouched_cost import Undone, build  # noqa: E402

from provenance.store import checkpoints, vouched  # noqa: E402
from provenance.store.store import Store  # noqa: E402

SIDES = ("before (the log read twice)", "now (the second refusal handed over)")


def once(store: Store, signer: checkpoints.CheckpointKey, side: str) -> float:
    """CPU seconds of a commit's two refusals and its checkpoint, one side (the write rolled back)."""
    started = time.process_time()
    vouched.refuse(store)
    try:
        with store.write():
            before = store.audit_head()[0]
            if side == SIDES[0]:
                vouched.refuse(store, before)
            else:
                vouched.refuse_at_write(store, before, vouched.log_state(store, before))
            checkpoints.sign_checkpoint(store, signer.private, signer.name, force=True)
            raise Undone
    except Undone:
        pass
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, signer = build(Path(tmp), args.entries)
        loads = [uptime()]
        results, loads[1:] = alternate(SIDES, lambda side: once(store, signer, side), args.rounds, swap=True)
        loads.append(uptime())
        store.close()
    medians = {side: round(statistics.median(v), 4) for side, v in results.items()}
    ratio = round(medians[SIDES[1]] / medians[SIDES[0]], 2)
    title = f"A commit's two refusals and its checkpoint over a log of {args.entries} entries"
    write_results(
        "vouched-handoff",
        {
            "entries": args.entries,
            "rounds": args.rounds,
            "cpu_s": results,
            "median_cpu_s": medians,
            "ratio_now_to_before": ratio,
            "load": loads,
        },  # fmt: skip
        median_lines(
            f"{title}: the second refusal reading the log again, or handed the first's result",
            f"CPU seconds, median of {args.rounds} alternated rounds (`bench/vouched_handoff.py`); the log did not "
            "grow between the two, as in a commit nobody raced.",
            "refusals and signing",
            medians,
            [f"Ratio now / before: {ratio}.", f"Load (uptime, then 1/5/15 min per round): {'; '.join(loads)}."],
        ),
    )


if __name__ == "__main__":
    main()
