"""The delta's records, found by digest: what a report says about a record the detectors scored.

A diff keeps, for every added, relabeled and copied record, its label (and old label), its
source (as lineage attributes it), its lineage status and the manifest row of its first
copy. ``DeltaRecords.describe`` turns digests into what reports show of a record (never its
content): label, source, lineage, the kind of change, and, for the few records asked for,
the locator read from the manifest and the data file it points into.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from provenance.delta.attribution import record_named_by
from provenance.delta.digests import locate
from provenance.delta.statuses import LINEAGE_STATUSES
from provenance.names import is_row_number

KINDS = ("relabeled", "added", "rekeyed", "duplicates")  # a digest in several kinds is described by the first
CHANGE = {"relabeled": "relabeled", "added": "added", "rekeyed": "rekeyed", "duplicates": "copied"}


def location(dataset: dict | None, locator: str | None) -> dict | None:
    """Where a record is in the data: ``{"path": file, "row": n}`` for a table row, ``{"path": file}`` for a
    file of a tree; paths are relative to the store's folder (as the version's dataset spec records them).

    A table's locator is a row number (a single file) or ``file#row`` (a folder of files); a
    tree's is the file's path inside the tree. None when the dataset or the locator is unknown.
    """
    if not dataset or not dataset.get("path") or locator is None:
        return None
    root, text = str(dataset["path"]), str(locator)
    if dataset.get("kind") == "tree":
        return {"path": os.path.normpath(os.path.join(root, text))}
    if is_row_number(text):
        return {"path": root, "row": int(text)}
    file, sep, row = text.rpartition("#")
    if sep and is_row_number(row):
        return {"path": os.path.normpath(os.path.join(root, file)), "row": int(row)}
    return {"path": root}


def row_locators(rows, digests: Iterable[str] | None = None) -> dict[tuple[str, str], str]:
    """``{(digest hex, label): locator}`` of the rows the detectors scored (``delta.rows.DeltaRecords``, one per
    (record, label), at its first manifest row), so a report places each row at its own row (attack review
    10b, S10b-1); empty when they were not read (None). With ``digests`` (hex), only those records' rows: a
    report locates at most ``detection_report.LOCATED`` of a delta's 10,000 scored records."""
    if rows is None:
        return {}
    if digests is None:
        return {
            (d.hex(), label): str(loc)
            for d, label, loc in zip(rows.digests, rows.labels, rows.locators)
            if loc is not None
        }
    wanted = {bytes.fromhex(h) for h in digests}
    return {
        (d.hex(), label): str(loc)
        for d, label, loc in zip(rows.digests, rows.labels, rows.locators)
        if loc is not None and d in wanted
    }


@dataclass
class DeltaRecords:
    """Added, relabeled, re-keyed and copied records of a diff, by kind, each kind's arrays sorted by digest.

    ``arrays[kind]`` holds ``digests`` (S32), ``label``/``source`` ids (and ``old_label`` for
    relabeled), ``status`` (rank in ``LINEAGE_STATUSES``; absent for copies, whose lineage is then not
    said) and ``first_row`` (manifest row of the record's first copy in the new version).
    ``labels``/``sources`` map ids to text; ``fetch(rows)`` reads locators of
    sorted manifest rows of the new version; ``dataset`` is its ``{"path", "kind"}``.
    """

    arrays: dict[str, dict[str, np.ndarray]]
    labels: list
    sources: list
    fetch: Callable[[np.ndarray], tuple[list, list]] | None = None
    dataset: dict | None = None
    # each source → how its name was learned (the diff's ``by_source[].named_by``, delta.attribution)
    origins: dict = field(default_factory=dict)
    _located: dict[int, str | None] = field(default_factory=dict, repr=False)

    def _find_all(self, hexdigests: list[str]) -> dict[str, tuple[str, int]]:
        """``{hex digest: (kind, position in that kind's arrays)}`` for the digests in the delta, in the
        order given; a digest in several kinds is found in the first of ``KINDS``. One vectorised
        search per kind (a report describes thousands of findings)."""
        if not hexdigests:
            return {}
        needles = np.frombuffer(bytes.fromhex("".join(hexdigests)), dtype="S32")
        if len(needles) != len(hexdigests):
            raise ValueError("digests must be 64 hex characters (SHA-256)")
        hits: dict[int, tuple[str, int]] = {}
        todo = np.arange(len(needles))
        for kind in KINDS:
            arrays = self.arrays.get(kind)
            if arrays is None or not len(arrays["digests"]) or not len(todo):
                continue
            pos = locate(needles[todo], arrays["digests"])
            hit = pos >= 0
            hits.update((i, (kind, p)) for i, p in zip(todo[hit].tolist(), pos[hit].tolist()))
            todo = todo[~hit]
        return {hexdigests[i]: hits[i] for i in range(len(hexdigests)) if i in hits}

    def describe(self, digests: Iterable[str], locate_rows: Iterable[str] = ()) -> dict[str, dict]:
        """For hex ``digests``: ``{"label", "source", "source_named_by", "lineage", "change"}`` and, for a relabel,
        ``"old_label"``; for the digests also in ``locate_rows``, ``"locator"`` and ``"location"``
        (read from the manifest, so ask only for the records a report lists). Digests that are
        not in the delta are left out.
        """
        found = self._find_all(list(dict.fromkeys(digests)))
        # each kind's columns as Python values once, and one attribution per (source, lineage):
        # a report describes every flagged record (3,120 of the 10,000 scored in the bench's 1% delta of 1 M)
        columns: dict[str, tuple[list, list, list | None, list | None]] = {}
        named_by: dict[tuple, str | None] = {}
        out = {}
        for hexdigest, (kind, pos) in found.items():
            if kind not in columns:
                a = self.arrays[kind]
                columns[kind] = (
                    a["label"].tolist(),
                    a["source"].tolist(),
                    a["status"].tolist() if "status" in a else None,
                    a["old_label"].tolist() if "old_label" in a else None,
                )
            label_ids, source_ids, statuses, old_ids = columns[kind]
            source = self.sources[source_ids[pos]]
            lineage = LINEAGE_STATUSES[statuses[pos]] if statuses is not None else None
            key = (source, lineage)
            if key not in named_by:
                named_by[key] = record_named_by(source, lineage, self.origins.get(source, []))
            item = {
                "label": self.labels[label_ids[pos]],
                "source": source,
                "lineage": lineage,
                "change": CHANGE[kind],
                "source_named_by": named_by[key],
            }
            if old_ids is not None and (kind == "relabeled" or old_ids[pos] != label_ids[pos]):
                item["old_label"] = self.labels[old_ids[pos]]  # a re-keyed record: its base partner's, if it differs
            out[hexdigest] = item
        wanted = [d for d in dict.fromkeys(locate_rows) if d in found]
        rows = {d: int(self.arrays[found[d][0]]["first_row"][found[d][1]]) for d in wanted}
        self._read_locators(set(rows.values()))
        for d, row in rows.items():
            locator = self._located.get(row)
            out[d]["locator"] = locator
            out[d]["location"] = location(self.dataset, locator)
        return out

    def remember_locators(self, rows: np.ndarray, locators: list) -> None:
        """Locators of manifest rows of the new version already read (``rows.delta_records_of``), so
        ``describe`` does not read them again. They come from the same verified manifest object."""
        self._located.update({int(r): None if loc is None else str(loc) for r, loc in zip(rows.tolist(), locators)})

    def _read_locators(self, rows: set[int]) -> None:
        todo = np.array(sorted(r for r in rows if r not in self._located), dtype=np.int64)
        if self.fetch is None or not len(todo):
            return
        locators, _ = self.fetch(todo)
        self._located.update({int(r): None if loc is None else str(loc) for r, loc in zip(todo.tolist(), locators)})
