"""Lineage statuses of a diff, joined to the merge's result after it.

A version's signed lineage object has one row per manifest row, in manifest order, so
its ``status`` column alone (one int8 rank per row: 10 MB at 10 M rows) says each
record's lineage. The merge walks the manifests without it and records only what the
statuses need: each change's manifest rows (``first_row``, ``rows``) and each digest
with several rows. The statuses are joined afterwards (``apply_statuses``), so a diff
hashes and reads the lineage objects while the manifests are being merged.

A digest's status is the worst of its rows' (ranks in ``LINEAGE_STATUSES`` order).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from provenance.errors import VerificationError

LINEAGE_STATUSES = ("attested", "relabeled_after_source", "unattributed")  # ranks 0, 1, 2: worst wins
UNATTRIBUTED = np.int8(2)
STATUS_KINDS = {"added": "new", "removed": "base", "relabeled": "new"}  # change arrays with a status, and their side


def row_runs(first: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Every row number of the runs ``[first[i], first[i] + rows[i])``, run after run (int64)."""
    first, rows = np.asarray(first, np.int64), np.asarray(rows, np.int64)
    if not len(rows):
        return np.zeros(0, np.int64)
    offsets = np.cumsum(rows) - rows
    return np.repeat(first - offsets, rows) + np.arange(int(rows.sum()), dtype=np.int64)


def worst_of_runs(status: np.ndarray, first: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The worst status rank (int8) of each run of manifest rows ``[first[i], first[i] + rows[i])``."""
    rows = np.asarray(rows, np.int64)
    if not len(rows):
        return np.zeros(0, np.int8)
    if np.all(rows == 1):
        return status[np.asarray(first, np.int64)]
    return np.maximum.reduceat(status[row_runs(first, rows)], np.cumsum(rows) - rows)


def _common(status: np.ndarray, only: tuple[np.ndarray, np.ndarray], repeated: tuple[np.ndarray, np.ndarray]):
    """Statuses of the digests on both sides, in digest order: rows of digests on this side only
    dropped, each repeated digest's rows collapsed to its first row, carrying the worst."""
    s = status.copy()
    first, rows = repeated
    if len(first):
        s[first] = worst_of_runs(status, first, rows)
    drop = np.concatenate([row_runs(*only), row_runs(first + 1, rows - 1)])
    return np.delete(s, drop) if len(drop) else s


def apply_statuses(changes, base: np.ndarray | None, new: np.ndarray | None, base_name: str, new_name: str) -> None:
    """Give a merge's result (``merge.Changes``) its lineage: the ``status`` of each added,
    removed and relabeled record, and the ``transitions`` of digests in both versions.

    ``base``/``new`` are each side's int8 status ranks, one per manifest row in manifest
    order, or None for a version without lineage (every row ``unattributed``).

    Raises:
        VerificationError (exit 1): a side's lineage has fewer or more rows than its manifest.
    """
    ranks = {}
    for side, status, name in (("base", base, base_name), ("new", new, new_name)):
        n = changes.rows[side]
        if status is None:
            status = np.full(n, UNATTRIBUTED, np.int8)
        elif len(status) != n:
            lineage = f"lineage of {name.removeprefix('manifest of ')}"
            raise VerificationError(f"{lineage} has {'fewer' if len(status) < n else 'more'} rows than the manifest")
        ranks[side] = status
    for kind, side in STATUS_KINDS.items():
        for part in changes.arrays.get(kind, []):
            part["status"] = worst_of_runs(ranks[side], part["first_row"], part["rows"])
    before, after = (
        _common(
            ranks[side],
            (changes.array(only, "first_row"), changes.array(only, "rows")),
            (changes.array(f"repeated_{side}", "first_row"), changes.array(f"repeated_{side}", "rows")),
        )
        for side, only in (("base", "removed"), ("new", "added"))
    )
    if len(before) != len(after):  # the merge's own bookkeeping: never from data
        raise AssertionError(f"diff: {len(before)} base and {len(after)} new statuses of the digests in both")
    moved = np.flatnonzero(before != after)
    transitions: Counter = Counter()
    if len(moved):
        pairs = before[moved].astype(np.int64) * len(LINEAGE_STATUSES) + after[moved]
        for key, n in zip(*(x.tolist() for x in np.unique(pairs, return_counts=True))):
            old, new_rank = divmod(key, len(LINEAGE_STATUSES))
            transitions[f"{LINEAGE_STATUSES[old]} -> {LINEAGE_STATUSES[new_rank]}"] += n
    changes.transitions = transitions
