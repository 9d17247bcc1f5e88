"""``prov status`` of data whose columns changed type since the version: the records the change re-keyed.

A record's digest includes its column types, so a column retyped (``int64 -> double``, a number column now text)
gives every record a new digest, and status said "178 added, 178 removed" of data whose every value was the
version's (newcomer review 29). The records are paired here as ``prov diff`` pairs them (``delta/schema.py``):
by content where the data's records re-encode without loss under the version's signed types
(``delta.bridge``, the diff's re-encoding), else by locator (the same row), with the reason content could not
pair them; ``report.schema_words.rekeyed_text`` then words them as the diff does.

Only the records no longer in the version are read again (each re-hashed against the digest just computed), and
only when the data's column types or columns differ from the signed schema.

The pairing is not the diff's to the letter, and not ``change_pairing.pair``'s (tidy31 compared them): it pairs rows
one to one, the k-th row of a key (a re-encoded digest and label, a digest, a locator) in manifest order with the
k-th of the data's (``change_pairing.pair_equal_keys``, built from ``pair``'s own grouping, ranking and partnering).
The diff pairs digests instead: a digest's copies are one entry, a re-encoded digest two added records share pairs
with neither (``delta.content_pairs``), and by locator it keeps one digest per locator a side (``delta.schema``);
``pair`` ranks a record's copies in natural locator order and pairs at most one added and one removed record per
locator. Where no record is copied and no locator repeats, all three pair the same records.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.change_pairing import pair_equal_keys, pair_same_label_first
from provenance.changes import MAX_LISTED, natural_key
from provenance.delta.bridge import bridged_digests, dropped, not_bridgeable, on_shared_columns
from provenance.delta.content_pairs import BaseNotReread, shared_column_keys
from provenance.errors import NotRereadable
from provenance.sources.interface import DatasetSpec, HashedDataset
from provenance.sources.schema_delta import schema_problem

ReadSigned = Callable[[list, list], pa.Table]  # (locators, digests) -> the version's records, re-hashed


@dataclasses.dataclass(frozen=True)
class Rekeyed:
    """The records a schema change re-keyed: ``signed_rows`` (the version's manifest rows) paired one to one with
    ``current_rows`` (the data's), ``by`` ``"content"`` or ``"locator"``, ``note`` why not by content (None when by
    content); ``relabeled`` how many pairs have another label (a relabel when paired by content, a hint when by
    locator, whose row order is the writer's); ``relabels`` the first ``MAX_LISTED`` content-paired relabels as
    ``changes.Changes`` lists them; ``sources_changed`` how many pairs of one label are under another source (a missing
    source and a named one differ; a relabel is counted as one only)."""

    signed_rows: np.ndarray
    current_rows: np.ndarray
    by: str
    note: str | None
    relabeled: int
    relabels: list[dict]
    sources_changed: int = 0

    def summary(self) -> dict:
        """The diff summary's names for them (``rekeyed``, ``rekeyed_relabeled``, ``rekeyed_by``, ``rekeyed_note``),
        which ``report.schema_words.rekeyed_text`` words; ``schemas/status.schema.json``."""
        return {
            "rekeyed": len(self.signed_rows),
            "rekeyed_relabeled": self.relabeled,
            "rekeyed_by": self.by,
            "rekeyed_note": self.note,
            "rekeyed_sources_changed": self.sources_changed,
        }


def rekeyed_records(
    signed_schema: dict,
    hashed: HashedDataset,
    signed: pa.Table,
    spec: DatasetSpec,
    tag: str,
    read_signed: ReadSigned | None = None,
) -> Rekeyed | None:
    """Pair the version's records (``signed``: its manifest table) with the data's (``hashed``) that a schema change
    re-keyed; None when the columns and their types are the signed ones (``signed_schema``: the version's signed
    ``schema`` fact; its columns alone when it signed no types), when it is malformed, or when no record of either
    side lacks its digest on the other. ``spec`` says where the data is read again. Raises what
    ``sources.records.read_records`` raises (``VerificationError`` when a record read again is not the one just
    hashed, ``InputError`` when the data no longer reads); data not re-readable by design (an id column) pairs by
    locator.

    Data that DROPPED a column of the version (``delta.bridge.dropped``) re-keys every record with nothing to cast:
    with ``read_signed(locators, digests)`` (the version's records at its signed location, each re-hashed against
    its digest) both sides are re-encoded on the columns they share and paired as ``prov diff`` pairs them
    (``delta.content_pairs.shared_column_keys``); when the version's records cannot be read again (``InputError``:
    its file overwritten by this very data, gone), or without ``read_signed``, they pair by locator, saying why."""
    now = hashed.schema_fact()
    if schema_problem(signed_schema) is not None:
        return None
    # a version signed before column types were can show a change of columns, never a retype: an edit is not one
    typed = "types" in signed_schema
    signed_columns = (signed_schema.get("types") if typed else None, signed_schema.get("columns"))
    if signed_columns == (now.get("types") if typed else None, now.get("columns")):
        return None
    current = hashed.manifest.table
    old = _only_in(signed, current)
    new = _only_in(current, signed)
    if not len(old) or not len(new):
        return None
    gone = dropped(signed_schema, now) if read_signed is not None else []
    on = on_shared_columns(signed_schema, gone) if gone else signed_schema
    why = not_bridgeable(on, now) if now["kind"] == "table" else "file trees have no column types"
    if why is None:
        try:
            reading = functools.partial(_read_signed_rows, read_signed, signed, old) if read_signed and gone else None
            paired = _by_content(signed, current, old, new, signed_schema, now, spec, gone, reading, tag)
        except BaseNotReread as exc:  # the version's records are gone or were overwritten: by locator, as diff does
            why = str(exc)
        except NotRereadable as exc:
            why = f"the records of {spec.path} could not be read again ({exc})"
        else:
            if len(paired[0]):
                return _result(signed, current, paired, "content", None)
            if not gone:
                # a bridgeable cast that paired nothing re-keyed nothing (int64 -> int32 leaves every digest): the
                # records lacking their digest are edits, left to the changes row by row (attack review 30b, A30b-5)
                return None
            why = not_bridgeable(signed_schema, now)  # a dropped column no record pairs on: say what is gone
    return _result(signed, current, _by_locator(signed, current, old, new), "locator", why)


Pairs = tuple[np.ndarray, np.ndarray]  # the version's manifest rows, the data's, paired one to one


def _only_in(table: pa.Table, other: pa.Table) -> np.ndarray:
    """Rows of ``table`` whose digest ``other`` does not hold."""
    held = pc.is_in(table.column("digest"), value_set=other.column("digest").combine_chunks())
    return np.flatnonzero(~np.asarray(held.to_numpy(zero_copy_only=False), dtype=bool))


def _ids(old: pa.Array | pa.ChunkedArray, new: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The values of two columns of one type as int64 ids that are equal exactly where the values are."""
    both = pa.chunked_array([*_chunks(old), *_chunks(new)])
    codes = pc.dictionary_encode(both).combine_chunks().indices
    ids = np.asarray(codes.to_numpy(zero_copy_only=False), np.int64)
    return ids[: len(old)], ids[len(old) :]


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


def _by_content(
    signed: pa.Table,
    current: pa.Table,
    old: np.ndarray,
    new: np.ndarray,
    signed_schema: dict,
    now: dict,
    spec: DatasetSpec,
    gone: list[str],
    read_old: Callable[[], pa.Table] | None,
    tag: str,
) -> Pairs:
    """Pairs of a version's row and a data's row whose content, re-encoded under the signed types without loss, is
    the version's record (with ``gone``, columns the data dropped: both re-encoded on the columns they share, the
    version's rows read by ``read_old``): those of one label first, then the rest by content alone (relabels)."""
    from provenance.sources.records import read_records

    rows = current.take(pa.array(new, pa.int64()))
    digests = rows.column("digest").to_pylist()
    table = read_records(spec, "table", rows.column("locator").to_pylist(), digests, list(now["columns"])).table
    assert table is not None  # a table's records
    theirs = signed.take(pa.array(old, pa.int64()))
    if gone:
        assert read_old is not None
        candidates, exact, old_keys = shared_column_keys(signed_schema, now, gone, table, read_old, tag)
        old_column = _s32_array(old_keys)
    else:
        candidates, exact = bridged_digests(table, signed_schema, now)
        old_column = theirs.column("digest")
    at = np.flatnonzero(exact)
    old_content, new_content = _ids(old_column, _s32_array(candidates[at]))
    old_label, new_label = _ids(theirs.column("label"), rows.column("label").take(pa.array(at, pa.int64())))
    paired_old, paired_new = pair_same_label_first(old_content, old_label, new_content, new_label)
    return old[paired_old], new[at[paired_new]]


def _s32_array(keys: np.ndarray) -> pa.Array:
    """``S32`` digests (numpy) as an Arrow ``binary(32)`` array, comparable with a manifest's digest column."""
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(keys), [None, pa.py_buffer(keys.tobytes())])


def _read_signed_rows(read_signed: ReadSigned, signed: pa.Table, old: np.ndarray) -> pa.Table:
    """The version's records at manifest rows ``old``, read again by ``read_signed`` (re-hashed against their digests)."""
    theirs = signed.take(pa.array(old, pa.int64()))
    return read_signed(theirs.column("locator").to_pylist(), theirs.column("digest").to_pylist())


def _by_locator(signed: pa.Table, current: pa.Table, old: np.ndarray, new: np.ndarray) -> Pairs:
    """Pairs of a version's row and a data's row at the same locator (each paired once)."""
    old_at, new_at = _ids(
        signed.column("locator").take(pa.array(old, pa.int64())),
        current.column("locator").take(pa.array(new, pa.int64())),
    )
    paired_old, paired_new = pair_equal_keys([old_at], [new_at])
    return old[paired_old], new[paired_new]


def _result(signed: pa.Table, current: pa.Table, pairs: Pairs, by: str, note: str | None) -> Rekeyed:
    """The pairs with their relabels counted and, when paired by content, the first ``MAX_LISTED`` listed."""
    signed_rows, current_rows = pairs
    was = signed.column("label").take(pa.array(signed_rows, pa.int64()))
    ours = current.select(["digest", "label", "locator", "source"]).take(pa.array(current_rows, pa.int64()))
    differs = np.asarray(pc.not_equal(was, ours.column("label")).to_numpy(zero_copy_only=False), bool)
    # a source changed among the pairs is a change too, as changes.same_records says it without a retype (A30b-3)
    was_source = signed.column("source").take(pa.array(signed_rows, pa.int64())).to_pylist()
    moved = sum(1 for x, y, d in zip(was_source, ours.column("source").to_pylist(), differs) if x != y and not d)
    relabels = []
    if by == "content" and differs.any():
        at = pa.array(np.flatnonzero(differs), pa.int64())
        relabels = [
            {"locator": row["locator"], "digest": row["digest"].hex(), "signed_label": label, "label": row["label"]}
            for label, row in zip(was.take(at).to_pylist(), ours.take(at).to_pylist())
        ]
        relabels.sort(key=lambda c: natural_key(c["locator"]))
    return Rekeyed(signed_rows, current_rows, by, note, int(differs.sum()), relabels[:MAX_LISTED], moved)
