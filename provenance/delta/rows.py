"""The delta's rows, taken from the merge: what detection reads and scores, in O(change).

The merge already found every added, relabeled and copied digest, with the manifest row
where its group of rows starts and how many rows the base had of it; only those rows'
labels, sources and locators are read from the new manifest (``Side.take``: the row groups
holding them alone), instead of loading both whole manifests again and re-checking their
Merkle roots (the diff has checked their signed object digests already).
``detectors.pipeline.delta_records`` is the reference this equals (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from provenance.delta.merge import Changes

ADDED, RELABELED, COPIED = "added", "relabeled", "copied"
ROW_COLUMNS = ["label", "source", "locator", "batch"]  # read for the delta's rows, in one pass
_PRECEDENCE = {COPIED: 0, ADDED: 1, RELABELED: 2}  # a copied record that is also added/relabeled is that


@dataclass
class DeltaRecords:
    """The delta's rows of the new manifest, one per (record, label), in manifest order:
    what detection reads and scores.

    ``kinds``: "added", "relabeled" or "copied" (a base record the new version has more
    rows of); ``old_labels``: the base's (first) label of a relabeled record, else None;
    ``extra_copies``: rows beyond the base's (beyond one for a new record), on the record's
    first label only; ``base_copies``: the base's rows of the record (0 if added).
    """

    digests: list[bytes]
    labels: list[str]
    old_labels: list[str | None]
    sources: list[str | None]
    kinds: list[str]
    locators: list[str]
    extra_copies: list[int] = field(default_factory=list)
    base_copies: list[int] = field(default_factory=list)


def _groups(changes: Changes) -> dict[str, np.ndarray]:
    """One entry per delta digest (keyed by the first manifest row of its group in the new version)."""
    parts = []
    for kind, rows_column in ((ADDED, "rows"), (RELABELED, "rows"), (COPIED, "new_rows")):
        source = "duplicates" if kind == COPIED else kind
        first = changes.array(source, "first_row").astype(np.int64)
        n = len(first)
        parts.append(
            {
                "first": first,
                "count": changes.array(source, rows_column).astype(np.int64),
                "rank": np.full(n, _PRECEDENCE[kind]),
                "digest": changes.array(source, "digests"),
                "old": changes.array(source, "old_label").astype(np.int64) if kind == RELABELED else np.full(n, -1),
                "extra": changes.array(source, "rows").astype(np.int64) if kind == COPIED else np.zeros(n, np.int64),
                "base": changes.array(source, "base_rows").astype(np.int64) if kind != ADDED else np.zeros(n, np.int64),
            }
        )
    # re-keyed by a schema change (delta/schema.py): scored as added, or as relabeled when the
    # base record at the same locator had another label
    first = changes.array("rekeyed", "first_row").astype(np.int64)
    if len(first):
        label, old = changes.array("rekeyed", "label"), changes.array("rekeyed", "old_label")
        differs = label != old
        parts.append(
            {
                "first": first,
                "count": changes.array("rekeyed", "rows").astype(np.int64),
                "rank": np.where(differs, _PRECEDENCE[RELABELED], _PRECEDENCE[ADDED]),
                "digest": changes.array("rekeyed", "digests"),
                "old": np.where(differs, old, -1).astype(np.int64),
                "extra": np.zeros(len(first), np.int64),
                "base": np.zeros(len(first), np.int64),
            }
        )
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((-merged["rank"], merged["first"]))  # by group; the strongest kind first
    merged = {k: v[order] for k, v in merged.items()}
    first_of_group = np.r_[True, merged["first"][1:] != merged["first"][:-1]] if len(order) else np.zeros(0, bool)
    # a digest's extra copies come from its "copied" entry, wherever that sorted
    extra = np.zeros(len(order), np.int64)
    group_id = np.cumsum(first_of_group) - 1
    np.add.at(extra, group_id[merged["extra"] > 0], merged["extra"][merged["extra"] > 0])
    out = {k: v[first_of_group] for k, v in merged.items()}
    out["extra"] = extra[: int(first_of_group.sum())]
    return out


def delta_records_of(
    changes: Changes,
    take: Callable[[np.ndarray, list[str]], dict[str, list]],
    located: Callable[[np.ndarray, list], None] | None = None,
) -> DeltaRecords:
    """Rows of the added, relabeled and copied digests of a finished merge, read through
    ``take`` (``Side.take`` of the new side). Every row of such a digest is read; a
    (record, label) carried by several rows is kept once, at its first row. ``located(rows,
    locators)``, if given, is handed every row read and its locator (the report's
    ``records.DeltaRecords.remember_locators``: the flagged records' locators are then not read again)."""
    g = _groups(changes)
    if not len(g["first"]):
        return DeltaRecords([], [], [], [], [], [])
    count = g["count"]
    group = np.repeat(np.arange(len(count)), count)  # each row's digest group, rows in manifest order
    rows = g["first"][group] + (np.arange(len(group)) - np.repeat(np.cumsum(count) - count, count))
    found = take(rows, ROW_COLUMNS)  # batch too: the report's listed records are among these rows (RowMemo)
    if located is not None:
        located(rows, found["locator"])
    kinds = [k for k, _ in sorted(_PRECEDENCE.items(), key=lambda kv: kv[1])]
    labels = changes.labels.values
    # each group's values as Python objects once (numpy scalars cost more than the loop itself)
    raw = np.ascontiguousarray(g["digest"]).tobytes()
    digests = [raw[i * 32 : i * 32 + 32] for i in range(len(g["digest"]))]
    group_kind = [kinds[r] for r in g["rank"].tolist()]
    old, extra, base = g["old"].tolist(), g["extra"].tolist(), g["base"].tolist()
    if bool((count == 1).all()):  # one row per digest (no copies): every row kept, in group order
        return DeltaRecords(
            digests,
            list(found["label"]),
            [labels[o] if kind == RELABELED else None for o, kind in zip(old, group_kind)],
            list(found["source"]),
            group_kind,
            list(found["locator"]),
            extra,
            base,
        )
    out = DeltaRecords([], [], [], [], [], [])
    seen: set[tuple[int, str]] = set()
    counted: set[int] = set()
    for i, label, source, locator in zip(group.tolist(), found["label"], found["source"], found["locator"]):
        if (i, label) in seen:  # one copy per (record, label) is enough to score; the count goes with it
            continue
        seen.add((i, label))
        kind = group_kind[i]
        out.digests.append(digests[i])
        out.labels.append(label)
        out.sources.append(source)
        out.kinds.append(kind)
        out.old_labels.append(labels[old[i]] if kind == RELABELED else None)
        out.locators.append(locator)
        out.extra_copies.append(0 if i in counted else extra[i])  # once per digest, on its first label
        counted.add(i)
        out.base_copies.append(base[i])
    return out


class RowMemo:
    """A side's ``take``, remembering the rows of its first read, so a second read of those rows
    asks nothing of the file.

    A diff that will score its delta reads the delta's rows first (``delta_records_of``, every
    column of ``ROW_COLUMNS``); the report's listed records of the new version (``fill_rows``) and
    the flagged records' locators (``records.DeltaRecords.describe``) are among those rows. Each
    read of a manifest object decodes whole row groups, and a delta spread over the digest order
    touches every one: without the memo the locator column of the whole new manifest was decoded
    twice (~0.4 s of CPU at 10 M records). The values come from the same verified object either way.
    """

    def __init__(self, take: Callable[[np.ndarray, list[str]], dict[str, list]]):
        self._take = take
        self._rows: np.ndarray | None = None  # sorted row numbers of the first read
        self._values: dict[str, np.ndarray] = {}  # column -> object array, one value per remembered row

    def take(self, rows: np.ndarray, columns: list[str]) -> dict[str, list]:
        """``columns`` of sorted manifest ``rows``, as the side's ``take``: remembered rows from
        memory, the others read (the first read is remembered)."""
        rows = np.asarray(rows, np.int64)
        if not len(rows):
            return self._take(rows, columns)
        hit, pos = np.zeros(len(rows), bool), np.zeros(len(rows), np.int64)
        if self._rows is not None and len(self._rows) and all(c in self._values for c in columns):
            pos = np.minimum(np.searchsorted(self._rows, rows), len(self._rows) - 1)
            hit = self._rows[pos] == rows
        if hit.all():
            return {c: self._values[c][pos].tolist() for c in columns}
        read = self._take(rows[~hit], columns)
        if self._rows is None:
            self._rows = rows[~hit].copy()
            self._values = {c: _objects(read[c]) for c in columns}
        if not hit.any():
            return read
        out = {}
        for c in columns:
            values = np.empty(len(rows), object)
            values[hit] = self._values[c][pos[hit]]
            values[~hit] = _objects(read[c])
            out[c] = values.tolist()
        return out

    def fetch(self, rows: np.ndarray) -> tuple[list, list]:
        """Locators and batches of sorted manifest rows (``Side.fetch``), through ``take``."""
        found = self.take(rows, ["locator", "batch"])
        return found["locator"], found["batch"]


def _objects(values: list) -> np.ndarray:
    """A list as a 1-d object array (``np.array`` would make a string array of it)."""
    out = np.empty(len(values), object)
    out[:] = values
    return out


def rows_taker(changes: Changes, found: dict[str, np.ndarray], outside):
    """``take(rows, columns)`` over the delta object's rows of the new manifest (``Side.take``'s shape).

    Rows the object does not hold (a release gate lists a whole version's unattributed records) are
    read through ``outside(rows, columns)``: the new side's own ``take`` after hashing its manifest
    object, so they too come from signed bytes."""
    labels, sources = changes.labels.values, changes.sources.values
    held = found["row"]

    def take(rows: np.ndarray, columns: list[str]) -> dict[str, list]:
        rows = np.asarray(rows, np.int64)
        pos = np.minimum(np.searchsorted(held, rows), max(len(held) - 1, 0))
        hit = held[pos] == rows if len(held) else np.zeros(len(rows), bool)
        if not hit.all():
            read = outside(rows[~hit], columns)
            if not hit.any():
                return read
        out: dict[str, list] = {}
        for c in columns:
            if c == "label":
                values = [labels[i] for i in found["label"][pos[hit]].tolist()]
            elif c == "source":
                values = [sources[i] for i in found["source"][pos[hit]].tolist()]
            else:
                values = found[c][pos[hit]].tolist()
            if hit.all():
                out[c] = values
            else:
                merged = np.empty(len(rows), object)
                merged[np.flatnonzero(hit)] = _objects(values)
                merged[np.flatnonzero(~hit)] = _objects(read[c])
                out[c] = merged.tolist()
        return out

    return take
