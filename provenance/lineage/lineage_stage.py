"""The lineage commit stage: every record of a new version classified against the registered batches,
streamed into the Parquet object the version signs (split out of ``lineage/classify.py``).

``LineageStage.prepare`` classifies with no lock held (``iter_classified``, bounded memory:
``lineage_memory``) into a temporary file; ``PreparedLineage.record`` classifies again under the
store's lock if a batch was added or a key revoked meanwhile, stores the object and signs its counts.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance.lineage import layout
from provenance.lineage.classify import (
    LINEAGE_SCHEMA,
    STATUSES,
    UNATTRIBUTED,
    batch_records,
    classify_columns,
    counts,
    revoked_keys,
)
from provenance.manifest import Manifest, digest_prefixes
from provenance.sources import memory
from provenance.stages import CommitJob
from provenance.store.store import Store

# A lineage object's row groups: pyarrow's default for ``pq.write_table``, which wrote every
# lineage object before it was streamed (same bytes).
LINEAGE_ROW_GROUP = 1 << 20
CLASSIFY_ROWS = 1 << 16  # manifest rows classified at a time
BATCH_RECORD_BYTES = 400  # memory per registered batch record: its manifest row, its evidence row, a sorted copy
LINEAGE_ROW_BYTES = 160  # memory per lineage row held for a row group: the rows, and their concatenation


def iter_classified(
    manifest: Manifest, batches: pa.Table, rows: int = CLASSIFY_ROWS, digests: bool = True
) -> Iterator[pa.Table]:
    """:func:`classify`, streamed: its rows as tables of at most ``rows`` rows, in manifest order.

    The manifest is read ``rows`` at a time (``Manifest.iter_batches``: one row group of a
    file-backed manifest in memory, not the whole), and each run of rows is classified
    against only the batch records whose digest prefix lies within the run's, found by
    binary search in the batch records sorted once by prefix. A record's class depends only
    on the batch records carrying its digest, so the rows are :func:`classify`'s.
    ``digests=False`` (what a format 2 object is written from) lets the tables leave out
    the ``digest`` column; with no batch record at all, the manifest's digests are then not read.
    """
    keys = digest_prefixes(batches.column("digest"))
    if not len(keys) and not digests:
        for chunk in manifest.iter_batches(["label"], rows):
            yield _unattributed(None, chunk.column(0))
        return
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    batches = batches.take(pa.array(order))
    for chunk in manifest.iter_batches(["digest", "label"], rows):
        digest, label = chunk.column(0), chunk.column(1)
        if len(keys) and len(digest):
            run = digest_prefixes(digest)
            lo, hi = np.searchsorted(keys, run.min(), "left"), np.searchsorted(keys, run.max(), "right")
            if hi > lo:
                yield classify_columns(digest, label, batches.slice(lo, hi - lo))
                continue
        yield _unattributed(digest, label)


def _unattributed(digest, label) -> pa.Table:
    """Lineage rows for records no batch carries (what :func:`classify` gives them); without the
    ``digest`` column when ``digest`` is None."""
    n = len(label)
    none = pa.nulls(n, pa.string())
    status = pa.array([UNATTRIBUTED], pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))
    if digest is None:
        return pa.table([label, status, none, none, none], schema=LINEAGE_SCHEMA.remove(0))
    return pa.table([digest, label, status, none, none, none], schema=LINEAGE_SCHEMA)


def write_lineage(
    tables: Iterable[pa.Table], path: str, row_group: int = LINEAGE_ROW_GROUP, fmt: int = layout.FORMAT
) -> dict[str, int]:
    """Write lineage rows (tables of ``LINEAGE_SCHEMA``, in order) as one zstd Parquet file of format ``fmt``.

    Format 2 (``layout``) leaves out the ``digest`` column and names its format in the
    schema metadata; format 1 is the layout versions were committed with before (kept for
    tests that build an old version). Row groups of ``row_group`` rows, the last one
    shorter: the bytes ``pq.write_table`` gives for the concatenated rows (in
    ``layout.object_schema(fmt)``, with ``layout.write_options(fmt)``) with that row group
    size, while holding one row group.
    Returns the :func:`counts` of the rows written.
    """
    schema = layout.object_schema(fmt)
    found: Counter = Counter()
    with pq.ParquetWriter(path, schema, **layout.write_options(fmt)) as writer:
        pending: list[pa.Table] = []
        held, written = 0, False
        for table in tables:
            found.update(counts(table))
            pending.append(table.select(schema.names).replace_schema_metadata(schema.metadata))
            held += table.num_rows
            while held >= row_group:
                whole = pa.concat_tables(pending)
                writer.write_table(whole.slice(0, row_group).combine_chunks(), row_group_size=row_group)
                written = True
                rest = whole.slice(row_group).combine_chunks()
                pending, held = ([rest] if rest.num_rows else []), rest.num_rows
        if held or not written:
            rest = pa.concat_tables(pending) if pending else schema.empty_table()
            writer.write_table(rest.combine_chunks(), row_group_size=row_group)
    return {s: int(found.get(s, 0)) for s in STATUSES}


def lineage_memory(store: Store, records: int) -> int:
    """Bytes the lineage stage needs at most to classify ``records`` records: the registered
    batch records, held whole and sorted, plus one row group of lineage rows and the
    manifest rows being classified. Flat in the version's size past one row group (the
    manifest is streamed)."""
    (registered,) = store.db.execute("select coalesce(sum(records), 0) from batches").fetchone()
    held = min(records, LINEAGE_ROW_GROUP) + min(records, CLASSIFY_ROWS)
    return memory.PROCESS_BASE + BATCH_RECORD_BYTES * int(registered) + LINEAGE_ROW_BYTES * held


def classified_file(manifest: Manifest, store: Store) -> tuple[str, dict[str, int]]:
    """Classify ``manifest`` against ``store``'s batches into a temporary Parquet file.

    Returns the file's path (the caller deletes it) and the counts. Raises
    ``MemoryLimitError`` (exit 2) before reading any batch when the stage would pass the
    memory bound (``provenance.sources.memory``), and ``VerificationError`` as
    :func:`batch_records` does.
    """
    memory.check(
        lineage_memory(store, len(manifest)),
        memory.memory_limit(),
        f"classifying the lineage of {len(manifest):,} records against the registered batches",
        "register smaller batches",
    )
    fd, path = tempfile.mkstemp(prefix="prov-lineage-", suffix=".parquet")
    os.close(fd)
    try:
        fmt = layout.FORMAT
        found = write_lineage(iter_classified(manifest, batch_records(store), digests=fmt == 1), path, fmt=fmt)
    except BaseException:
        os.unlink(path)
        raise
    return path, found


def batches_state(store: Store) -> tuple:
    """What lineage depends on in the store: the registered batches and the revoked keys.

    Cheap to read; if it differs between a stage's prepare and record, another command
    added a batch or revoked a key meanwhile and the classification is made again.
    """
    batches = store.db.execute("select batch, signed, keyid from batches order by audit_seq").fetchall()
    revoked = sorted(revoked_keys(store))
    return (tuple(map(tuple, batches)), tuple(revoked))


class LineageStage:
    """Commit stage: classify every record against the registered batches (see the module docstring).

    A ``provenance.stages.CommitStage``: :meth:`prepare` runs with no lock held and returns
    a :class:`PreparedLineage`, whose ``record`` runs under the store's write lock.
    """

    name = "lineage"

    def prepare(self, job: CommitJob) -> PreparedLineage:
        """Read the batches and classify ``job``'s manifest, with no lock held.

        The lineage object is written to a temporary file, streaming the manifest
        (:func:`classified_file`). Raises ``MemoryLimitError`` (exit 2) when the stage would
        pass the memory bound, ``VerificationError`` (exit 1) if a registered batch's stored
        manifest object is missing or damaged.
        """
        state = batches_state(job.store)
        manifest = job.hashed.manifest
        return PreparedLineage(manifest, state, *classified_file(manifest, job.store))


@dataclass
class PreparedLineage:
    """A version's lineage, classified against the batches as they were in ``state``.

    ``state`` is :func:`batches_state` when it was classified; ``path`` the temporary
    Parquet file of its ``LINEAGE_SCHEMA`` rows (deleted when this object goes), ``counts``
    their :func:`counts`.
    """

    manifest: Manifest
    state: tuple
    path: str
    counts: dict[str, int]

    def __post_init__(self) -> None:
        self._cleanup = weakref.finalize(self, _unlink, self.path)

    def record(self, store: Store, tag: str, predicate: dict) -> None:
        """Under the lock: classify again if batches or revocations changed, then store it and sign its counts.

        Stores the Parquet object, a ``version_lineage`` row for ``tag``, and
        ``predicate["lineage"] = {attested, relabeled_after_source, unattributed, object}``.
        """
        if batches_state(store) != self.state:
            self._cleanup()
            self.path, self.counts = classified_file(self.manifest, store)
            self._cleanup = weakref.finalize(self, _unlink, self.path)
        oid = store.put_object(Path(self.path), "parquet")
        self._cleanup()
        c = self.counts
        store.db.table("version_lineage").insert({"tag": tag, "object": oid, **c})
        predicate["lineage"] = {**c, "object": oid}


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
