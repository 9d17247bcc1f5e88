"""What does reading ``ColumnFindings.changed()`` by identity cost against reading it by equality (attack review 26f,
R26f-4: a Decimal or a 0-d array equal to the column's float passed unchecked)? A built-in's findings of a 1% delta
of a 1 M-row store: 10,000 records, every finding made (as the combined verdict makes them), none changed.

Per round, alternately: ``changed()`` as ``provenance.detectors.base`` reads it (``operator.is_``), and the equality
read it replaced (whole tuples compared, copied here as the baseline). CPU seconds of 20 calls, medians.

    nice -n 5 python bench/changed_identity.py [--records 10000] [--rounds 7]

Writes bench/results/changed-identity.json and .md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from operator import itemgetter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, median_lines, uptime, write_results  # noqa: E402

from provenance.detectors.base import _DIGEST, _FLAG, _SCORE, ColumnFindings  # noqa: E402


class ByEquality(ColumnFindings):
    """``changed()`` as it read before fix26f: by equality."""

    def _changed_at(self):
        if not self._made_at:
            return []
        at = tuple(self._made_at)
        pick = itemgetter(*at) if len(at) > 1 else lambda column: (column[at[0]],)
        found = pick(self._made)
        columns = ((_DIGEST, self._hexes), (_SCORE, self._scores), (_FLAG, self._flags))
        if all(tuple(map(read, found)) == pick(column) for read, column in columns):
            return []
        return [(j, f) for j, f in zip(at, found) if any((read(f),) != (column[j],) for read, column in columns)]


def findings(kind: type[ColumnFindings], records: int) -> ColumnFindings:
    rng = random.Random(0)
    hexes = [f"{rng.getrandbits(256):064x}" for _ in range(records)]
    scores = [rng.random() for _ in range(records)]
    made = kind(hexes, "outlier", scores, [s > 0.99 for s in scores], {}, "")
    for i in range(records):
        made[i]
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sides = {"identity": findings(ColumnFindings, args.records), "equality": findings(ByEquality, args.records)}

    def once(side: str) -> float:
        read = sides[side].changed
        started = time.process_time()
        for _ in range(20):
            assert read() == []
        return time.process_time() - started

    before = uptime()
    results, loads = alternate(("equality", "identity"), once, args.rounds, swap=True)
    after = uptime()
    medians = {side: round(statistics.median(v), 5) for side, v in results.items()}
    out = {
        "records": args.records,
        "calls_per_round": 20,
        "cpu_s": {side: [round(x, 5) for x in v] for side, v in results.items()},
        "median_cpu_s": medians,
        "ratio": round(medians["identity"] / medians["equality"], 2),
        "load_per_round": loads,
        "uptime_before": before,
        "uptime_after": after,
    }
    lines = median_lines(
        f"ColumnFindings.changed() of {args.records} made findings, by identity and by equality (review 26f, R26f-4)",
        f"CPU seconds of 20 calls, median of {args.rounds} alternated rounds (`bench/changed_identity.py`).",
        "read",
        medians,
        [
            f"Ratio identity/equality: {out['ratio']}x. Load before: `{before}`; after: `{after}`; per round: "
            f"{', '.join(loads)}."
        ],
    )
    write_results("changed-identity", out, lines)


if __name__ == "__main__":
    main()
