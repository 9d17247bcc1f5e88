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
equally strong: ``signed batch`` (the version's signed lineage attested the record: a source
key the committer trusted signed this content; whether the reader's pins still trust that key
is the record's lineage status, judged under the pins by ``lineage.judged``), ``unsigned
batch`` (the batch's source name is what whoever ran ``prov add --unsigned`` declared, a claim
no source key signed) and ``source column`` (the data's column).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
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
    """The lineage object's ``source`` and ``status`` columns, dictionary-encoded (codes, not strings)."""
    for batch in parquet.iter_batches(columns=["source", "status"], use_threads=False):
        yield pa.RecordBatch.from_arrays([_encoded(batch.column(0)), _encoded(batch.column(1))], ["source", "status"])


def _encoded(column: pa.Array) -> pa.Array:
    return column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)


def _fill(
    batch: pa.RecordBatch, lineage_source: pa.Array, status: pa.Array, origins: dict[str, set[str]]
) -> pa.RecordBatch:
    """``batch`` with its null sources taken from ``lineage_source``; records how each name was learned.

    The common case, no source column at all, hands the lineage's dictionary column on as it
    is (the merge reads dictionary codes); only rows of no batch stay null."""
    column = batch.column("source")
    if column.null_count == len(column):
        filled, by_batch = lineage_source, lineage_source.is_valid()
    else:
        from_column = column.is_valid()
        for value in pc.unique(pc.cast(column.filter(from_column), pa.string())).to_pylist():
            origins.setdefault(value, set()).add(SOURCE_COLUMN)
        filled = pc.coalesce(pc.cast(column, pa.string()), pc.cast(lineage_source, pa.string())).dictionary_encode()
        by_batch = pc.and_(pc.invert(from_column), lineage_source.is_valid())
    if by_batch.true_count:
        mask = by_batch.to_numpy(zero_copy_only=False)
        names, kinds = lineage_source.dictionary.to_pylist(), status.dictionary.to_pylist()
        codes = lineage_source.indices.fill_null(0).to_numpy(zero_copy_only=False)[mask].astype(np.int64)
        ranks = status.indices.fill_null(0).to_numpy(zero_copy_only=False)[mask].astype(np.int64)
        for pair in np.unique(codes * len(kinds) + ranks).tolist():
            kind = SIGNED_BATCH if kinds[pair % len(kinds)] in SIGNED_STATUSES else UNSIGNED_BATCH
            origins.setdefault(names[pair // len(kinds)], set()).add(kind)
    columns = [filled if name == "source" else batch.column(name) for name in batch.schema.names]
    return pa.RecordBatch.from_arrays(columns, batch.schema.names)


def named_by(source: str | None, origins: dict[str, set[str]]) -> list[str]:
    """How ``source`` was named, sorted: ``[]`` for no source, ``["source column"]`` when nothing else is known."""
    if source is None or source == "":
        return []
    return sorted(origins.get(source) or {SOURCE_COLUMN})


def record_named_by(source: str | None, lineage: str | None, source_origins: list[str]) -> str | None:
    """How one record's source was named: ``None`` (no source), ``"source column"``, or the batch's
    kind by the record's own lineage (``"signed batch"`` when attested or relabeled after source,
    else ``"unsigned batch"``). ``source_origins`` is :func:`named_by` of its source. A record
    ``unattributed`` under the pins whose source was named by signed batches only came in a
    signed batch whose key the pins no longer trust (a revocation): still ``"signed batch"``."""
    if source is None or source == "" or not source_origins:
        return None
    if source_origins == [SOURCE_COLUMN] or lineage is None:
        return source_origins[0]
    if lineage in SIGNED_STATUSES or source_origins == [SIGNED_BATCH]:
        return SIGNED_BATCH
    return UNSIGNED_BATCH


def side_uses_lineage_sources(signed_sources: dict | None, has_lineage: bool) -> bool:
    """Whether a version's records need their source from lineage: it signed rows of no source
    (``""`` in its per-source counts) and has a signed lineage object."""
    return has_lineage and bool((signed_sources or {}).get("", 0))
