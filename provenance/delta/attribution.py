"""Name a diff's records of no source column by the source of the lineage batch that carries them.

A dataset without a source column gives every manifest row the source "no source", yet
lineage knows the batch each record came from (``prov add DATA --source S``): the version's
signed lineage object has one row per manifest row, in manifest order, with the matched
batch's ``source``. A diff of such a version reads that column beside the manifest and
names a record by it, so the tour's scraper batch is "scraper" in every report, not
"(no source)". The data's own source column, where a row has one, always wins; a record of
no batch stays "(no source)". The manifest and its Merkle root are untouched: this is how
a report *names* records, not what was signed about them.

How a source was named is kept beside the name (``origins``), because the two are not
equally strong: ``signed batch`` (the version's lineage attested the record: a trusted
source's key signed this content), ``unsigned batch`` (the batch's source name is what
whoever ran ``prov add --unsigned`` declared, a claim no source key signed) and
``source column`` (the data's column).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance.errors import VerificationError

SOURCE_COLUMN = "source column"
SIGNED_BATCH = "signed batch"
UNSIGNED_BATCH = "unsigned batch"
SIGNED_STATUSES = ("attested", "relabeled_after_source")  # a trusted source's key signed the record's content


def attributed_batches(
    manifest_batches: Callable[[], Iterator[pa.RecordBatch]],
    lineage_reader: Callable[[], pq.ParquetFile],
    origins: dict[str, set[str]],
    name: str,
) -> Callable[[], Iterator[pa.RecordBatch]]:
    """``manifest_batches`` with each row's missing source filled from the lineage batch's source.

    Args:
        manifest_batches: streams the manifest's ``digest``, ``label``, ``source`` in manifest order.
        lineage_reader: opens the version's signed lineage object (already hashed against its signed
            SHA-256) as a new ``ParquetFile``; its rows follow the manifest's one for one.
        origins: filled while streaming: each source name → how it was named (``SOURCE_COLUMN``,
            ``SIGNED_BATCH``, ``UNSIGNED_BATCH``).
        name: the lineage object as errors name it.

    Returns:
        A callable giving the same batches (same lengths, same columns), the ``source`` column
        dictionary-encoded. Raises ``VerificationError`` (exit 1) if the lineage object holds
        fewer rows than the manifest.
    """

    def stream() -> Iterator[pa.RecordBatch]:
        lineage = _lineage_rows(lineage_reader())
        pending: list[pa.RecordBatch] = []
        held = 0
        for batch in manifest_batches():
            n = batch.num_rows
            while held < n:
                more = next(lineage, None)
                if more is None:
                    raise VerificationError(f"{name}: holds fewer rows than the manifest")
                pending.append(more)
                held += more.num_rows
            rows = pa.Table.from_batches(pending).combine_chunks()
            now, rest = rows.slice(0, n), rows.slice(n)
            pending, held = rest.to_batches(), rest.num_rows
            yield _fill(batch, now.column("source").chunk(0), now.column("status").chunk(0), origins)

    return stream


def _lineage_rows(parquet: pq.ParquetFile) -> Iterator[pa.RecordBatch]:
    for batch in parquet.iter_batches(columns=["source", "status"], use_threads=False):
        yield pa.RecordBatch.from_arrays(
            [pc.cast(batch.column(0), pa.string()), pc.cast(batch.column(1), pa.string())], ["source", "status"]
        )


def _fill(
    batch: pa.RecordBatch, lineage_source: pa.Array, status: pa.Array, origins: dict[str, set[str]]
) -> pa.RecordBatch:
    column = pc.cast(batch.column("source"), pa.string())
    from_column = column.is_valid()
    filled = pc.coalesce(column, lineage_source)
    if from_column.true_count:
        for value in pc.unique(column.filter(from_column)).to_pylist():
            origins.setdefault(value, set()).add(SOURCE_COLUMN)
    by_batch = pc.and_(pc.invert(from_column), lineage_source.is_valid())
    if by_batch.true_count:
        pairs = pa.table({"source": lineage_source.filter(by_batch), "status": status.filter(by_batch)})
        for row in pairs.group_by(["source", "status"]).aggregate([]).to_pylist():
            kind = SIGNED_BATCH if row["status"] in SIGNED_STATUSES else UNSIGNED_BATCH
            origins.setdefault(row["source"], set()).add(kind)
    columns = [filled.dictionary_encode() if name == "source" else batch.column(name) for name in batch.schema.names]
    return pa.RecordBatch.from_arrays(columns, batch.schema.names)


def named_by(source: str | None, origins: dict[str, set[str]]) -> list[str]:
    """How ``source`` was named, sorted: ``[]`` for no source, ``["source column"]`` when nothing else is known."""
    if source is None or source == "":
        return []
    return sorted(origins.get(source) or {SOURCE_COLUMN})


def record_named_by(source: str | None, lineage: str | None, source_origins: list[str]) -> str | None:
    """How one record's source was named: ``None`` (no source), ``"source column"``, or the batch's
    kind by the record's own lineage (``"signed batch"`` when attested or relabeled after source,
    else ``"unsigned batch"``). ``source_origins`` is :func:`named_by` of its source."""
    if source is None or source == "" or not source_origins:
        return None
    if source_origins == [SOURCE_COLUMN] or lineage is None:
        return source_origins[0]
    return SIGNED_BATCH if lineage in SIGNED_STATUSES else UNSIGNED_BATCH


def side_uses_lineage_sources(signed_sources: dict | None, has_lineage: bool) -> bool:
    """Whether a version's records need their source from lineage: it signed rows of no source
    (``""`` in its per-source counts) and has a signed lineage object."""
    return has_lineage and bool((signed_sources or {}).get("", 0))
