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

import pyarrow as pa
import pyarrow.compute as pc

from provenance.delta.content_types import plain_column, require_signed_types
from provenance.delta.merge import Changes
from provenance.delta.rows import DeltaRecords, delta_records_of
from provenance.delta.signed_objects import parquet_take
from provenance.errors import NotRereadable, VerificationError

FIELD = "content"  # the struct column
PART = "content"  # the rows' part
CONTENT_CAP = 100_000  # scored records kept with their content; a larger delta is re-read from the data
READ, LISTED, NONE = "read", "listed", "none"  # for_commit: content read from the data, only its rows, none
BATCH_ROWS = 1024  # rows of a delta object decoded at once while its content part is read


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
    """The ``content`` struct column: ``before`` null rows, then one struct per row of ``table``, each
    column as its plain type (``content_types.plain_column``: no dictionary, no ``large_`` variant), the
    one type a reader takes for its signed type name."""
    arrays = [plain_column(table.column(n)) for n in table.column_names]
    fields = [pa.field(name, array.type) for name, array in zip(table.column_names, arrays)]
    struct = pa.StructArray.from_arrays(arrays, fields=fields)
    return pa.concat_arrays([pa.nulls(before, struct.type), struct])


def is_content_field(field: pa.Field) -> bool:
    """Whether ``field`` is a delta object's ``content`` column (a struct)."""
    return field.name == FIELD and pa.types.is_struct(field.type)


def content_rows(parquet, where: str, schema: pa.Schema | None = None) -> pa.Table:
    """The ``part``, ``digest``, ``locator`` and ``content`` columns of the content part's rows of an open,
    hashed delta object, in file order. Streamed ``BATCH_ROWS`` rows at a time, keeping only the content
    rows, so memory follows the content part, not the object's other rows. Raises ``VerificationError``
    naming ``where`` at the first batch holding content on a row outside the content part: a commit writes
    null there, and values there are no delta a commit makes (attack review 21d, findings 1 and 3).
    ``schema``: ``parquet.schema_arrow`` where the caller has it (``SignedParquet.schema``), else converted here."""
    columns = ["part", "digest", "locator", FIELD]
    kept = []
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False):
        mine = pc.fill_null(pc.equal(batch.column("part"), PART), False)
        if pc.any(pc.and_(pc.invert(mine), batch.column(FIELD).is_valid())).as_py():
            raise VerificationError(f"{where} holds content on rows outside its content part")
        kept.append(batch.filter(mine))
    whole = parquet.schema_arrow if schema is None else schema
    return pa.Table.from_batches(kept, schema=pa.schema([whole.field(c) for c in columns]))


def signed_content_rows(
    parquet, columns: list[str], types: dict | None, where: str, schema: pa.Schema | None = None
) -> pa.Table:
    """:func:`content_rows` of an open, hashed delta object whose footer names a content part, after checking
    (before a row is read) that it holds the ``content`` column (:func:`require_field`) and that each of the
    signed ``columns`` there is of the plain type its signed type name allows (``types``: the version's signed
    ``schema.types``; ``content_types.require_signed_types``). Raises ``VerificationError`` naming ``where``.
    ``schema``: ``parquet.schema_arrow`` where the caller has it (``SignedParquet.schema``)."""
    schema = parquet.schema_arrow if schema is None else schema
    require_field(schema, where)
    require_signed_types(schema.field(FIELD).type, types, columns, where)
    return content_rows(parquet, where, schema)


def check_content(rows: pa.Table, columns: list[str], encoding: str, where: str) -> None:
    """Every content row of a delta object (``rows``: :func:`signed_content_rows`) must hold ``columns`` and
    hash, under ``encoding``, to the digest on its row. Raises ``VerificationError`` naming ``where`` (the
    object's path and name)."""
    locators = rows.column("locator").to_pylist()
    _rehashed(_columns(rows, columns, where), columns, encoding, _digests(rows), locators, where)


def content_reader(
    parquet, meta: dict | None, types: dict | None, where: str, schema: pa.Schema | None = None
) -> Callable[..., pa.Table] | None:
    """``read(locators, digests, columns, encoding)``: the content of the scored records at
    ``locators`` from an open, hashed delta object (``parquet``; ``meta``: its footer's ``content``;
    ``types``: the version's signed ``schema.types``), each row re-hashed under the version's signed
    ``encoding`` and checked against its signed digest; None when the object keeps no content. Only the
    content part's rows are kept (:func:`content_rows`). The read raises ``VerificationError`` (exit 1)
    naming ``where`` for a record it holds no content of, content of another type than the signed one,
    content on rows outside the content part, or content that does not hash to the digest. ``schema``:
    ``parquet.schema_arrow`` where the caller has it (``SignedParquet.schema``)."""
    if not meta:
        return None
    whole = parquet.schema_arrow if schema is None else schema
    require_field(whole, where)

    def read(locators: list[str], digests: list[bytes], columns: list[str], encoding: str) -> pa.Table:
        rows = signed_content_rows(parquet, columns, types, where, whole)
        held = {loc: i for i, loc in enumerate(rows.column("locator").to_pylist())}
        missing = [loc for loc in locators if loc not in held]
        if missing:
            raise VerificationError(f"{where} holds no content of the record(s) at {', '.join(missing[:5])}")
        chosen = rows.take(pa.array([held[loc] for loc in locators], pa.int64()))
        if _digests(chosen) != list(digests):
            raise VerificationError(f"{where} holds content under other digests than its records' (at {locators[0]})")
        content = _columns(chosen, columns, where)
        _rehashed(content, columns, encoding, list(digests), locators, where)
        return content

    return read


def require_field(schema: pa.Schema, where: str) -> None:
    """Raise ``VerificationError`` naming ``where`` unless the open delta object (``schema``: its Arrow schema)
    has its ``content`` struct column (its footer says it keeps content)."""
    if FIELD not in schema.names or not is_content_field(schema.field(FIELD)):
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
