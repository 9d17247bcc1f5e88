"""The delta object's content part: the table rows detection scores, stored at commit (``signed_delta``).

``prov diff PARENT V --detect`` scores the delta's added, relabeled and copied records: one per
(record, label), at its first manifest row (``rows.delta_records_of``). On the merge path their
content columns are read again from the data file (``sources.records.read_table_records``), which
at 10 M records touches every row group of the file. A commit of a table stores those rows instead:
``part = "content"`` rows of the delta object, one per scored record in detection's order, with
its ``digest`` and ``locator``, and the ``content`` column, an Arrow struct of the signed schema's
content columns as the re-read decoded them (null on every other row). The footer's ``content``
names the columns and the row count (``None``: no content part, detection re-reads the data).

Trust: the object's bytes are hashed against the SHA-256 the version signs, and every content
row is encoded again with the version's signed row encoding (``encoding.table_digest_blob``, the
encoder every manifest digest comes from) and must hash to the digest its record has in the
delta's change arrays, so the detectors score bytes whose SHA-256 is the manifest's digest, whoever
wrote the object. File trees keep no content (re-reading changed files is already O(change)); nor
does a table read by id column (its records cannot be re-read by locator), or a delta of more than
``CONTENT_CAP`` scored records (detection re-reads them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from provenance.delta.merge import Changes
from provenance.delta.rows import DeltaRecords, delta_records_of
from provenance.delta.signed_objects import parquet_take
from provenance.errors import NotRereadable, VerificationError

FIELD = "content"  # the struct column
PART = "content"  # the rows' part
CONTENT_CAP = 100_000  # scored records kept with their content; a larger delta is re-read from the data
READ, LISTED, NONE = "read", "listed", "none"  # for_commit: content read from the data, only its rows, none


@dataclass
class Content:
    """A delta object's content part: the scored ``entries`` (digests, locators), the signed
    ``columns`` kept, and their ``table`` (one row per entry; None when only the rows are recomputed)."""

    entries: DeltaRecords
    columns: list[str]
    table: pa.Table | None = None


def scored_records(changes: Changes, new_manifest) -> DeltaRecords:
    """The records ``prov diff --detect`` scores for ``changes``, read from the new version's open
    manifest Parquet file (``rows.delta_records_of``, the function detection itself calls)."""
    return delta_records_of(changes, lambda rows, columns: parquet_take(new_manifest, rows, columns))


def content_planned(pred: dict, kind: str, entries: DeltaRecords) -> list[str] | None:
    """The content columns a delta keeps for ``entries`` of a version whose predicate is ``pred``
    (signed schema ``columns``, dataset options), or None where it keeps none: a tree, a table
    read by id column, no content columns, no scored record or more than ``CONTENT_CAP``."""
    schema = pred.get("schema") or {}
    columns = schema.get("columns") or []
    options = ((pred.get("dataset") or {}).get("options")) or {}
    if schema.get("kind", kind) == "tree" or options.get("id_column") or not columns:
        return None
    if not entries.digests or len(entries.digests) > CONTENT_CAP:
        return None
    return list(columns)


def read_content(store, row: dict, pred: dict, entries: DeltaRecords, columns: list[str]) -> pa.Table | None:
    """At commit: the content ``columns`` of ``entries`` read from the version's data where and as its
    predicate says (``sources.records.read_records``: each row re-hashed against its digest), or None
    when the data cannot be re-read by locator. Raises ``VerificationError`` (exit 1) for a record
    changed since it was hashed."""
    from provenance.sources.records import read_table_records
    from provenance.version_facts import dataset_from_predicate

    try:
        spec = dataset_from_predicate(store, row, pred)
        return read_table_records(spec, entries.locators, entries.digests, columns).table
    except NotRereadable:
        return None


def planned(store, row: dict, pred: dict, changes: Changes, new_manifest, mode: str) -> Content | None:
    """The content part ``signed_delta.for_commit`` writes in ``mode`` (``READ``, ``LISTED``, ``NONE``) for
    ``changes`` of the version ``row`` (``pred`` its predicate; ``new_manifest`` its open manifest Parquet
    file), or None for none. Raises ``VerificationError`` (exit 1) for a record changed since it was hashed."""
    if mode == NONE:
        return None
    entries = scored_records(changes, new_manifest)
    columns = content_planned(pred, row.get("kind", "table"), entries)
    if columns is None:
        return None
    if mode == LISTED:
        return Content(entries, columns)
    table = read_content(store, row, pred, entries, columns)
    return None if table is None else Content(entries, columns, table)


def content_column(before: int, table: pa.Table) -> pa.Array:
    """The ``content`` struct column: ``before`` null rows, then one struct per row of ``table``."""
    fields = [pa.field(name, table.schema.field(name).type) for name in table.column_names]
    struct = pa.StructArray.from_arrays([table.column(n).combine_chunks() for n in table.column_names], fields=fields)
    return pa.concat_arrays([pa.nulls(before, struct.type), struct])


def is_content_field(field: pa.Field) -> bool:
    """Whether ``field`` is a delta object's ``content`` column (a struct)."""
    return field.name == FIELD and pa.types.is_struct(field.type)


def check_content(table: pa.Table, columns: list[str], encoding: str, where: str) -> None:
    """Every ``content`` row of a delta object's ``table`` (``part``, ``digest``, ``locator``,
    ``content``) must hold ``columns`` and hash, under ``encoding``, to the digest on its row.
    Raises ``VerificationError`` naming ``where`` (the object's path and name)."""
    at = np.flatnonzero(table.column("part").to_numpy(zero_copy_only=False) == PART)
    _require_null_outside(table, at, where)
    chosen = table.take(pa.array(at))
    digests = _digests(chosen)
    _rehashed(_columns(chosen, columns, where), columns, encoding, digests, chosen.column("locator").to_pylist(), where)


def _require_null_outside(table: pa.Table, at: np.ndarray, where: str) -> None:
    """Raise ``VerificationError`` naming ``where`` unless the ``content`` column is null on every row but the
    content rows ``at``, as a commit writes it: values elsewhere are no delta a commit makes, and a recomputed
    delta, compared on its other columns, would not see them (attack review 21d, finding 1)."""
    content = table.column(FIELD)
    if content.null_count != table.num_rows - len(at):
        raise VerificationError(f"{where} holds content on rows outside its content part")


def content_reader(parquet, meta: dict | None, where: str) -> Callable[..., pa.Table] | None:
    """``read(locators, digests, columns, encoding)``: the content of the scored records at
    ``locators`` from an open, hashed delta object (``parquet``; ``meta``: its footer's ``content``),
    each row re-hashed under the version's signed ``encoding`` and checked against its signed digest;
    None when the object keeps no content. The read raises ``VerificationError`` (exit 1) naming
    ``where`` for a record it holds no content of, or content that does not hash to the digest."""
    if not meta:
        return None
    require_field(parquet, where)

    def read(locators: list[str], digests: list[bytes], columns: list[str], encoding: str) -> pa.Table:
        table = parquet.read(columns=["part", "digest", "locator", FIELD])
        at = np.flatnonzero(table.column("part").to_numpy(zero_copy_only=False) == PART)
        _require_null_outside(table, at, where)
        held = {loc: int(i) for loc, i in zip(table.column("locator").take(pa.array(at)).to_pylist(), at)}
        missing = [loc for loc in locators if loc not in held]
        if missing:
            raise VerificationError(f"{where} holds no content of the record(s) at {', '.join(missing[:5])}")
        chosen = table.take(pa.array([held[loc] for loc in locators], pa.int64()))
        if _digests(chosen) != list(digests):
            raise VerificationError(f"{where} holds content under other digests than its records' (at {locators[0]})")
        content = _columns(chosen, columns, where)
        _rehashed(content, columns, encoding, list(digests), locators, where)
        return content

    return read


def require_field(parquet, where: str) -> None:
    """Raise ``VerificationError`` naming ``where`` unless the open delta object has its ``content`` struct
    column (its footer says it keeps content)."""
    names = parquet.schema_arrow.names
    if FIELD not in names or not is_content_field(parquet.schema_arrow.field(FIELD)):
        raise VerificationError(f"{where}: its footer names a content part it does not hold")


def _digests(table: pa.Table) -> list[bytes]:
    values = table.column("digest").to_pylist()
    return [v if isinstance(v, bytes) else b"" for v in values]


def _columns(table: pa.Table, columns: list[str], where: str) -> pa.Table:
    """The ``content`` struct's ``columns`` of ``table``'s rows, as a table."""
    struct = table.column(FIELD).combine_chunks()
    names = [struct.type.field(i).name for i in range(struct.type.num_fields)]
    if sorted(names) != sorted(columns) or struct.null_count:
        raise VerificationError(f"{where} holds content columns {names}, the version signs {columns}")
    flat = dict(zip(names, struct.flatten()))
    return pa.table({c: flat[c] for c in columns})


def _rehashed(content: pa.Table, columns: list[str], encoding: str, digests: list, locators: list, where: str) -> None:
    from provenance.encoding import table_digest_blob

    try:
        blob = table_digest_blob(content, columns, encoding)
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"{where} holds content that does not encode ({exc})") from exc
    wrong = [loc for i, loc in enumerate(locators) if blob[i * 32 : i * 32 + 32] != digests[i]]
    if wrong:
        raise VerificationError(
            f"{where}: the content of {len(wrong)} record(s) does not hash to its signed digest "
            f"(at {', '.join(map(str, wrong[:5]))})"
        )
