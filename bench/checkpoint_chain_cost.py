"""What the broken-log refusal costs a checkpoint (review 24b, item 1): ``prov audit checkpoint`` over a log of
``--entries`` audit entries, signed the way it was before (the RFC 9162 leaves and root, no chain check) and the way it
is now (``checkpoints.signable_entries`` first: the hash chain of every entry).

One store, built once: ``prov init``, then ``--entries`` ``batch.add``-sized entries appended with ``audit.append``
(a detail of the size ``prov add`` writes). Each round signs one checkpoint each way, alternately, inside a write that
is rolled back (nothing stays), and times the whole write in CPU seconds; then the check alone. Medians, with the
machine's load before and after each round (``alternation.alternate``).

    nice -n 5 python bench/checkpoint_chain_cost.py [--entries 10000] [--rounds 7]

Writes bench/results/checkpoint-chain-cost.json and .md.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, built_store, median_lines, rolled_back, uptime, write_results  # noqa: E402

from provenance import keys  # noqa: E402
from provenance.store import audit, checkpoints  # noqa: E402
from provenance.store.store import Store  # noqa: E402


def build(folder: Path, entries: int) -> tuple[Store, checkpoints.CheckpointKey]:
    """A store whose log holds ``entries`` entries, and the key that signs checkpoints over it."""
    store = Store.init(folder)
    pair = keys.generate(folder / "maintainer")
    signer = checkpoints.CheckpointKey.load(pair.private_path)
    detail = {"source": "vendor", "signed": True, "keyid": "ab" * 32, "merkle_root": "cd" * 32, "records": 1000}
    with store.write():
        for i in range(entries):
            audit.append(store.db, "batch.add", f"vendor@{i:012x}", {**detail, "envelope": f"{i:064x}"})
    return store, signer


def sign_once(store: Store, signer: checkpoints.CheckpointKey, check: bool) -> float:
    """CPU seconds of one forced checkpoint over the whole log, with or without the chain check, rolled back."""
    started = time.process_time()
    with rolled_back(store):
        if check:
            checkpoints.sign_checkpoint(store, signer.private, signer.name, force=True)
        else:  # the steps sign_checkpoint took before review 24b
            checkpoints.register_signing_key(store, signer.private, signer.name)
            rows, hashes = checkpoints.leaves(store.db)
            checkpoints.create_checkpoints_table(store.db)
            checkpoints.covering(store, signer.private.public_key(), rows, hashes)
            checkpoints._signed_tree_head(signer.private, rows, hashes)
    return time.process_time() - started


def main() -> None:
    with built_store(__doc__.splitlines()[0], build) as (args, store, signer):
        before = uptime()
        sides = ("before (no chain check)", "now (signable_entries first)")
        results, loads = alternate(
            sides, lambda side: sign_once(store, signer, side.startswith("now")), args.rounds, swap=True
        )
        check_alone = []
        for _ in range(args.rounds):
            started = time.process_time()
            checkpoints.signable_entries(store)
            check_alone.append(time.process_time() - started)
        after = uptime()
    medians = {side: round(statistics.median(v), 4) for side, v in results.items()}
    out = {
        "entries": args.entries,
        "rounds": args.rounds,
        "cpu_s": {side: [round(x, 4) for x in v] for side, v in results.items()},
        "median_cpu_s": medians,
        "ratio_now_to_before": round(medians[sides[1]] / medians[sides[0]], 2),
        "chain_check_alone_median_cpu_s": round(statistics.median(check_alone), 4),
        "load_per_round": loads,
        "uptime_before": before,
        "uptime_after": after,
    }
    lines = median_lines(
        f"Checkpoint over a log of {args.entries} entries: with and without the broken-log check (review 24b)",
        f"CPU seconds of one checkpoint signed over the whole log, median of {args.rounds} alternated rounds "
        "(`bench/checkpoint_chain_cost.py`).",
        "signing",
        medians,
        [
            f"Ratio now / before: {out['ratio_now_to_before']}. The check alone (`checkpoints.signable_entries`): "
            f"{out['chain_check_alone_median_cpu_s']} s.",
            f"Load before: `{before}`; after: `{after}`; per round (1/5/15 min): {', '.join(loads)}.",
        ],
    )
    write_results("checkpoint-chain-cost", out, lines)


if __name__ == "__main__":
    main()
