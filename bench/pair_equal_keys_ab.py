"""status_rekey's one-to-one pairing on equal keys: its old byte-string ranking (``_ranked``/``_match``, read from
OLD_TREE's provenance/status_rekey.py) against ``change_pairing.pair_equal_keys`` (tidy31), alternated in one process.

    python bench/pair_equal_keys_ab.py OLD_TREE [--rows 1000000] [--rounds 3]

The keys are what ``status_rekey._by_content`` pairs first: a digest id (a permutation: every record distinct) and a
label id (10 classes) a side, 10% of pairs equal. CPU seconds per call, the load before and after each round, to
bench/results/pair-equal-keys-ab.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from alternation import alternate, machine, utc_minute  # noqa: E402

from provenance.change_pairing import pair_equal_keys  # noqa: E402


def old_match(tree: Path):
    """The old ``_match`` (with its ``_ranked``), executed from ``tree``'s status_rekey.py: it needs numpy only."""
    source = (tree / "provenance/status_rekey.py").read_text()
    namespace: dict = {"np": np, "Pairs": tuple}
    exec(source[source.index("def _ranked(") : source.index("def _by_content(")], namespace)
    return namespace["_match"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.rows
    old_keys = [rng.permutation(n).astype(np.int64), rng.integers(0, 10, n)]
    new_keys = [rng.permutation(n).astype(np.int64), rng.integers(0, 10, n)]
    ways = {"byte-string ranks (old)": old_match(args.old), "pair_equal_keys": pair_equal_keys}
    pairs: dict[str, set] = {}

    def once(name: str) -> float:
        start = time.process_time()
        at_old, at_new = ways[name](old_keys, new_keys)
        spent = time.process_time() - start
        pairs[name] = set(zip(at_old.tolist(), at_new.tolist()))
        return spent

    started = utc_minute()
    seconds, loads = alternate(list(ways), once, args.rounds, swap=True)
    same = len({frozenset(p) for p in pairs.values()}) == 1
    lines = [
        f"# status_rekey's pairing on equal keys, alternated ({n:,} rows a side, {args.rounds} rounds)",
        "",
        f"bench/pair_equal_keys_ab.py; {machine()}; started {started}, ended {utc_minute()}. The same pairs both "
        f"ways: {same} ({len(next(iter(pairs.values()))):,} pairs). Load (1/5/15 min) before the first round and "
        f"after each: {'; '.join(loads)}.",
        "",
        "| way | CPU s per call (median) | each round |",
        "|---|---|---|",
        *(
            f"| {name} | {statistics.median(s):.2f} | {', '.join(f'{x:.2f}' for x in s)} |"
            for name, s in seconds.items()
        ),
    ]
    (HERE / "results" / "pair-equal-keys-ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert same, "the two ways paired different rows"


if __name__ == "__main__":
    main()
