"""``prov status`` of data whose columns changed type since the version: the records the change re-keyed.

A record's digest includes its column types, so a column retyped (``int64 -> double``, a number column now text)
gives every record a new digest, and status said "178 added, 178 removed" of data whose every value was the
version's (newcomer review 29). The records are paired here as ``prov diff`` pairs them (``delta/schema.py``):
by content where the data's records re-encode without loss under the version's signed types
(``delta.bridge``, the diff's re-encoding), else by locator (the same row), with the reason content could not
pair them; ``report.schema_words.rekeyed_text`` then words them as the diff does.

Only the records no longer in the version are read again (each re-hashed against the digest just computed), and
only when the data's column types or columns differ from the signed schema.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.changes import MAX_LISTED, natural_key
from provenance.delta.bridge import bridged_digests, not_bridgeable
from provenance.errors import NotRereadable
from provenance.sources.interface import DatasetSpec, HashedDataset


@dataclasses.dataclass(frozen=True)
class Rekeyed:
    """The records a schema change re-keyed: ``pairs`` of (version's manifest row, data's manifest row), paired
    ``by`` ``"content"`` or ``"locator"``, ``note`` why not by content (None when by content); ``relabeled`` how
    many pairs have another label (a relabel when paired by content, a hint when by locator, whose row order is
    the writer's); ``relabels`` the first ``MAX_LISTED`` content-paired relabels as ``changes.Changes`` lists them."""

    pairs: list[tuple[int, int]]
    by: str
    note: str | None
    relabeled: int
    relabels: list[dict]

    def summary(self) -> dict:
        """The diff summary's names for them (``rekeyed``, ``rekeyed_relabeled``, ``rekeyed_by``, ``rekeyed_note``),
        which ``report.schema_words.rekeyed_text`` words; ``schemas/status.schema.json``."""
        return {
            "rekeyed": len(self.pairs),
            "rekeyed_relabeled": self.relabeled,
            "rekeyed_by": self.by,
            "rekeyed_note": self.note,
        }


def rekeyed_records(
    signed_schema: dict, hashed: HashedDataset, signed: pa.Table, spec: DatasetSpec, tag: str
) -> Rekeyed | None:
    """Pair the version's records (``signed``: its manifest table) with the data's (``hashed``) that a schema change
    re-keyed; None when the columns and their types are the signed ones (``signed_schema``: the version's signed
    ``schema`` fact) or no record of either side lacks its digest on the other. ``spec`` says where the data is read
    again. Raises what ``sources.records.read_records`` raises (``VerificationError`` when a record read again is not
    the one just hashed, ``InputError`` when the data no longer reads); data not re-readable by design (an id column)
    pairs by locator."""
    now = hashed.schema_fact()
    if (signed_schema.get("types"), signed_schema.get("columns")) == (now.get("types"), now.get("columns")):
        return None
    current = hashed.manifest.table
    old = _only_in(signed, current)
    new = _only_in(current, signed)
    if not len(old) or not len(new):
        return None
    why = not_bridgeable(signed_schema, now) if now["kind"] == "table" else "file trees have no column types"
    if why is None:
        try:
            paired = _by_content(signed, current, old, new, signed_schema, now, spec)
        except NotRereadable as exc:
            why = f"the records of {spec.path} could not be read again ({exc})"
        else:
            if paired:
                return _result(signed, current, paired, "content", None)
            why = f"no record of {spec.path} re-encodes without loss under {tag}'s signed types"
    return _result(signed, current, _by_locator(signed, current, old, new), "locator", why)


def _only_in(table: pa.Table, other: pa.Table) -> np.ndarray:
    """Rows of ``table`` whose digest ``other`` does not hold."""
    held = pc.is_in(table.column("digest"), value_set=other.column("digest").combine_chunks())
    return np.flatnonzero(~np.asarray(held.to_numpy(zero_copy_only=False), dtype=bool))


def _by_content(
    signed: pa.Table,
    current: pa.Table,
    old: np.ndarray,
    new: np.ndarray,
    signed_schema: dict,
    now: dict,
    spec: DatasetSpec,
) -> list[tuple[int, int]]:
    """Pairs of a version's row and a data's row whose content, re-encoded under the signed types without loss, is
    the version's record; a version's record of one label pairs first with a data row of that label."""
    from provenance.sources.records import read_records

    rows = current.take(pa.array(new, pa.int64()))
    digests = rows.column("digest").to_pylist()
    table = read_records(spec, "table", rows.column("locator").to_pylist(), digests, list(now["columns"])).table
    assert table is not None  # a table's records
    candidates, exact = bridged_digests(table, signed_schema, now)
    theirs = signed.take(pa.array(old, pa.int64()))
    pool: dict[bytes, list[tuple[int, str]]] = defaultdict(list)
    for i, d, label in zip(old.tolist(), theirs.column("digest").to_pylist(), theirs.column("label").to_pylist()):
        pool[d].append((i, label))
    labels = rows.column("label").to_pylist()
    pairs = []
    for k in np.flatnonzero(exact).tolist():
        waiting = pool.get(candidates[k : k + 1].tobytes())
        if not waiting:
            continue
        same = next((w for w in waiting if w[1] == labels[k]), waiting[0])
        waiting.remove(same)
        pairs.append((same[0], int(new[k])))
    return pairs


def _by_locator(signed: pa.Table, current: pa.Table, old: np.ndarray, new: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of a version's row and a data's row at the same locator (each paired once)."""
    at: dict[str, list[int]] = defaultdict(list)
    for i, loc in zip(old.tolist(), signed.column("locator").take(pa.array(old, pa.int64())).to_pylist()):
        at[loc].append(i)
    pairs = []
    for j, loc in zip(new.tolist(), current.column("locator").take(pa.array(new, pa.int64())).to_pylist()):
        if at.get(loc):
            pairs.append((at[loc].pop(0), j))
    return pairs


def _result(signed: pa.Table, current: pa.Table, pairs: list[tuple[int, int]], by: str, note: str | None) -> Rekeyed:
    """The pairs with their relabels counted and, when paired by content, the first ``MAX_LISTED`` listed."""
    theirs = signed.column("label").take(pa.array([i for i, _ in pairs], pa.int64())).to_pylist()
    ours = current.select(["digest", "label", "locator"]).take(pa.array([j for _, j in pairs], pa.int64())).to_pylist()
    relabels = [
        {"locator": row["locator"], "digest": row["digest"].hex(), "signed_label": was, "label": row["label"]}
        for was, row in zip(theirs, ours)
        if was != row["label"]
    ]
    relabels.sort(key=lambda c: natural_key(c["locator"]))
    return Rekeyed(pairs, by, note, len(relabels), relabels[:MAX_LISTED] if by == "content" else [])
