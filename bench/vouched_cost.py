"""What the pending-version-entry refusal costs a signing write (attack review 26e, A26e-5): a checkpoint signed over a
log of ``--entries`` audit entries, of which every 100th is a ``commit`` entry, the way it was before (signed alone)
and the way every write given a checkpoint key signs it now (``vouched.refusal`` first, then the signing).

One store, built once: ``prov init``, ``--entries`` entries appended with ``audit.append`` (``batch.add`` details of
the size ``prov add`` writes, a ``commit`` detail every 100th), then one checkpoint over them all, as the honest flow
leaves every commit entry covered. Each round signs one forced checkpoint each way, alternately, inside a write that
is rolled back (nothing stays), in CPU seconds; then the refusal alone. Medians, with the machine's load.

    nice -n 5 python bench/vouched_cost.py [--entries 10000] [--rounds 7]

Writes bench/results/vouched-cost.json and .md.
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

from provenance import keys  # noqa: E402
from provenance.store import audit, checkpoints, vouched  # noqa: E402
from provenance.store.store import Store  # noqa: E402


class _RolledBack(Exception):
    """Raised at the end of a timed write so that it leaves nothing behind."""


def build(folder: Path, entries: int) -> tuple[Store, checkpoints.CheckpointKey]:
    """A store whose log holds ``entries`` entries under one checkpoint, and the key that signed it."""
    store = Store.init(folder)
    pair = keys.generate(folder / "maintainer")
    signer = checkpoints.CheckpointKey.load(pair.private_path)
    detail = {"source": "vendor", "signed": True, "keyid": "ab" * 32, "merkle_root": "cd" * 32, "records": 1000}
    commit = {"merkle_root": "cd" * 32, "manifest": "ef" * 32, "envelope": "01" * 32, "keyid": "ab" * 32}
    with store.write():
        for i in range(entries):
            if i % 100 == 99:
                audit.append(store.db, "commit", f"v{i}", {**commit, "parent": None, "dataset": "{}"})
            else:
                audit.append(store.db, "batch.add", f"vendor@{i:012x}", {**detail, "envelope": f"{i:064x}"})
        checkpoints.sign_checkpoint(store, signer.private, signer.name)
    return store, signer


def sign_once(store: Store, signer: checkpoints.CheckpointKey, refuse: bool) -> float:
    """CPU seconds of one forced checkpoint over the whole log, with or without the refusal first, rolled back."""
    started = time.process_time()
    try:
        with store.write():
            if refuse:
                assert vouched.refusal(store, audit.head(store.db)[0]) is None
            checkpoints.sign_checkpoint(store, signer.private, signer.name, force=True)
            raise _RolledBack
    except _RolledBack:
        pass
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, signer = build(Path(tmp), args.entries)
        before = uptime()
        sides = ("before (signing alone)", "now (vouched.refusal first)")
        results, loads = alternate(
            sides, lambda side: sign_once(store, signer, side.startswith("now")), args.rounds, swap=True
        )
        alone = []
        for _ in range(args.rounds):
            started = time.process_time()
            vouched.refusal(store, audit.head(store.db)[0])
            alone.append(time.process_time() - started)
        after = uptime()
        store.close()
    medians = {side: round(statistics.median(v), 4) for side, v in results.items()}
    out = {
        "entries": args.entries,
        "commit_entries": args.entries // 100,
        "rounds": args.rounds,
        "cpu_s": {side: [round(x, 4) for x in v] for side, v in results.items()},
        "median_cpu_s": medians,
        "ratio_now_to_before": round(medians[sides[1]] / medians[sides[0]], 2),
        "refusal_alone_median_cpu_s": round(statistics.median(alone), 4),
        "load_per_round": loads,
        "uptime_before": before,
        "uptime_after": after,
    }
    lines = median_lines(
        f"Checkpoint over a log of {args.entries} entries ({args.entries // 100} commits): with and without the "
        "pending-version-entry refusal (attack review 26e, A26e-5)",
        f"CPU seconds of one checkpoint signed over the whole log, median of {args.rounds} alternated rounds "
        "(`bench/vouched_cost.py`).",
        "signing",
        medians,
        [
            f"Ratio now / before: {out['ratio_now_to_before']}. The refusal alone (`vouched.refusal`, checkpoints "
            f"only, as in the honest flow): {out['refusal_alone_median_cpu_s']} s.",
            f"Load before: `{before}`; after: `{after}`; per round (1/5/15 min): {', '.join(loads)}.",
        ],
    )
    write_results("vouched-cost", out, lines)


if __name__ == "__main__":
    main()
