"""Per-record lineage: which batch, source and signing key each record of a version came from.

At commit, every record is matched to the registered batches carrying its digest and
classified as ``attested`` (a trusted source signed this content with this label),
``relabeled_after_source`` (a trusted source signed this content with another label) or
``unattributed`` (no signed batch carries it: an unsigned batch, a revoked key, or no
batch at all). The classification is a Parquet object named in the version's signed
predicate together with its counts, so lineage cannot be edited without breaking a
signature.
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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance.errors import VerificationError
from provenance.lineage import evidence, layout
from provenance.manifest import Manifest, digest_prefixes
from provenance.sources import memory
from provenance.stages import CommitJob
from provenance.store.store import Store
from provenance.trust.revocations import revoked_source_keys
from provenance.version_facts import load_manifest, verified_statement

ATTESTED = "attested"
RELABELED = "relabeled_after_source"
UNATTRIBUTED = "unattributed"
STATUSES = (ATTESTED, RELABELED, UNATTRIBUTED)

# The lineage table as readers get it (``version_lineage``): one row per record, in manifest order.
# The object commit writes leaves out ``digest`` (``layout``: format 2); readers take it from the manifest.
LINEAGE_SCHEMA = layout.V1_SCHEMA


# --- the registered batches, as one table ---------------------------------------------


def revoked_keys(store: Store) -> set[tuple[str, str]]:
    """``(source, keyid)`` of every revoked batch-signing key (the trust table and ``trust.revoke`` audit entries)."""
    return set(revoked_source_keys(store))


def batch_records(store: Store) -> pa.Table:
    """digest, batch_label, batch, source, signed, rank of every registered batch record.

    One row per record of every registered batch (``digest`` 32 bytes, ``rank`` the
    batch's registration order). ``signed`` is true only for a batch whose envelope verifies under the keys the
    verifier trusts for its source (``provenance.lineage.evidence``): an unsigned batch,
    a revoked or untrusted key attests nothing (fails closed).
    """
    return evidence.batch_records(store)


def classify(manifest: Manifest, batches: pa.Table) -> pa.Table:
    """One lineage row per manifest row, in manifest order.

    When several batches carry a digest, the best evidence wins: a signed batch with the
    same label, then a signed batch with another label, then an unsigned batch; ties go
    to the batch registered first.

    Args:
        manifest: the version's manifest (its ``digest`` and ``label`` columns are read).
        batches: the table :func:`batch_records` gives.

    Returns:
        A table of ``LINEAGE_SCHEMA``: ``status`` is ``attested``, ``relabeled_after_source``
        or ``unattributed``; ``source`` and ``batch`` are the best batch's (null when no
        batch carries the digest; set for an unsigned batch); ``signed_label`` is the label
        the source signed (null unless the batch is signed).
    """
    return _classify_columns(manifest.table.column("digest"), manifest.table.column("label"), batches)


def _classify_columns(digest, label, batches: pa.Table) -> pa.Table:
    """:func:`classify` of the records ``digest``, ``label`` (Arrow arrays of one length)."""
    version = pa.table({"digest": digest, "label": label, "row": pa.array(np.arange(len(digest), dtype=np.int64))})
    joined = version.join(batches, "digest", join_type="left outer")
    signed = pc.fill_null(joined.column("signed"), False)
    same = pc.fill_null(pc.equal(joined.column("label"), joined.column("batch_label")), False)
    matched = pc.is_valid(joined.column("batch"))
    priority = pc.if_else(pc.and_(signed, same), 0, pc.if_else(signed, 1, pc.if_else(matched, 2, 3)))
    joined = joined.append_column("priority", priority)
    joined = joined.take(
        pc.sort_indices(joined, [("row", "ascending"), ("priority", "ascending"), ("rank", "ascending")])
    )
    rows = joined.column("row").to_numpy()
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    best = joined.filter(pa.array(first))
    prio = best.column("priority")
    status = pc.if_else(pc.equal(prio, 0), ATTESTED, pc.if_else(pc.equal(prio, 1), RELABELED, UNATTRIBUTED))
    signed_label = pc.if_else(pc.less_equal(prio, 1), best.column("batch_label"), pa.scalar(None, pa.string()))
    return pa.table(
        {
            "digest": best.column("digest"),
            "label": best.column("label"),
            "status": status,
            "source": best.column("source"),
            "batch": best.column("batch"),
            "signed_label": signed_label,
        },
        schema=LINEAGE_SCHEMA,
    )


def counts(table: pa.Table) -> dict[str, int]:
    """``{status: records}`` for each of ``STATUSES``."""
    found = pc.value_counts(table.column("status")).to_pylist()
    by_status = {item["values"]: item["counts"] for item in found}
    return {s: int(by_status.get(s, 0)) for s in STATUSES}


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
                yield _classify_columns(digest, label, batches.slice(lo, hi - lo))
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


# --- reading it back ------------------------------------------------------------------


def version_lineage(store: Store, tag: str) -> pa.Table:
    """digest, label, status, source, batch, signed_label for every record of ``tag``, in manifest order.

    The object is checked against the lineage named in the version's signed predicate.
    Its rows pair with the version's manifest by position (``layout``): the digest column
    is the manifest object's (hashed against the SHA-256 the version signed), and a
    format 1 object's own digest column must equal it. A version committed without the
    lineage stage is all ``unattributed``. This is what the version *signed*;
    :func:`trusted_lineage` re-judges it under the verifier's pins.

    Raises:
        InputError: no version ``tag`` (exit 2).
        VerificationError: the version's signature does not verify, its ``version_lineage``
            row differs from the signed lineage object, the object is missing, damaged, not
            Parquet or of an unknown format, or its rows do not pair with the manifest's
            records (another count; format 1: other digests) (exit 1).
    """
    row = store.version(tag)
    lin = store.db.execute("select object from version_lineage where tag = ?", [tag]).fetchone()
    signed = (verified_statement(store, row)["predicate"].get("lineage") or {}).get("object")
    if lin is None and signed is None:
        m = load_manifest(store, row)
        n = len(m)
        return pa.table(
            {
                "digest": m.table.column("digest"),
                "label": m.table.column("label"),
                "status": pa.array([UNATTRIBUTED] * n, pa.string()),
                "source": pa.nulls(n, pa.string()),
                "batch": pa.nulls(n, pa.string()),
                "signed_label": pa.nulls(n, pa.string()),
            },
            schema=LINEAGE_SCHEMA,
        )
    if lin is None or lin[0] != signed:
        raise VerificationError(f"version {tag}: its lineage record differs from the lineage it signed")
    data = store.objects.get(signed, f"lineage of {tag}")
    try:
        table = pq.ParquetFile(pa.BufferReader(data)).read()  # not read_table: no pyarrow.dataset, no pandas
    except (pa.ArrowException, OSError) as exc:
        raise VerificationError(f"lineage of {tag}: not readable Parquet ({exc})") from exc
    fmt = layout.object_format(table.schema, f"lineage of {tag}")
    digests = _manifest_digests(store, row)
    if table.num_rows != len(digests):
        raise VerificationError(
            f"version {tag}: its lineage object holds {table.num_rows} rows, its manifest {len(digests)} records"
        )
    if fmt == 1:
        if not table.column("digest").cast(pa.binary(32)).equals(digests):
            raise VerificationError(f"version {tag}: its lineage object does not follow its manifest's records")
        table = table.drop_columns(["digest"])
    table = table.add_column(0, "digest", digests)
    return table.select(LINEAGE_SCHEMA.names).cast(LINEAGE_SCHEMA)


def _manifest_digests(store: Store, row: dict) -> pa.ChunkedArray:
    """The digest column of the version's manifest object, in manifest order.

    The object is hashed against the SHA-256 the version's row names (which
    ``verified_statement`` has checked is the signed one). Raises ``VerificationError``
    when it is missing, altered or not a manifest.
    """
    column = _manifest_column(store, row, "digest")
    if column.type != pa.binary(32):
        raise VerificationError(f"manifest of {row['tag']}: does not hold the version's {row['records']} digests")
    return column


def manifest_sources(store: Store, tag: str) -> pa.ChunkedArray:
    """The ``source`` column of version ``tag``'s signed manifest (null for a record without one), in manifest order.

    Row i is the source the data's source column gave record i, as the version signed it
    (it is part of each record's leaf); rows pair with :func:`version_lineage`'s by position.
    Raises ``InputError`` for an unknown version and ``VerificationError`` when the version's
    signature does not verify or its manifest object is missing, altered or not a manifest.
    """
    row = store.version(tag)
    verified_statement(store, row)
    column = _manifest_column(store, row, "source")
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        raise VerificationError(f"manifest of {tag}: its source column is not text")
    return column


def _manifest_column(store: Store, row: dict, name: str) -> pa.ChunkedArray:
    """One column of the version's manifest object (hashed against the SHA-256 its row names), checked for its length."""
    data = store.objects.get(row["manifest_object"], f"manifest of {row['tag']}")
    try:
        column = pq.ParquetFile(pa.BufferReader(data)).read(columns=[name]).column(name)
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise VerificationError(f"manifest of {row['tag']}: not a readable manifest ({exc})") from exc
    if len(column) != row["records"]:
        raise VerificationError(f"manifest of {row['tag']}: does not hold the version's {row['records']} records")
    return column


def trusted_lineage(store: Store, tag: str) -> pa.Table:
    """The lineage of ``tag`` as the verifier may rely on it: what the version signed, re-judged under the pins.

    Starts from the signed lineage (:func:`version_lineage`), then classifies the
    version's records again against the batches it names, counting a batch only if its
    envelope verifies under the keys the verifier trusts for its source now
    (``provenance.lineage.evidence``). What the version signed as ``unattributed`` or ``relabeled_after_source`` stays so (evidence
    of a relabel after source is never withdrawn: whoever can edit batch rows or trust
    entries in ``.prov/`` could otherwise turn a blocking status into a passing one),
    and an ``attested`` record whose batch the verifier does not trust (a key the store
    trusts but the pins do not, a revoked key, an edited batch row) becomes
    ``unattributed``. Same columns as :func:`version_lineage`, in the same order.
    Raises ``VerificationError`` as :func:`version_lineage` does, and when the signed
    lineage's digests do not follow the version's manifest.
    """
    signed = version_lineage(store, tag)
    named = {b for b in signed.column("batch").to_pylist() if b}
    if not named:
        return signed
    manifest = load_manifest(store, store.version(tag))
    again = classify(manifest, evidence.batch_records(store, named))
    if not again.column("digest").equals(signed.column("digest")):
        raise VerificationError(f"version {tag}: its signed lineage does not follow its manifest's records")
    keep = pc.not_equal(signed.column("status"), ATTESTED)  # only an attested record can lose standing
    columns = {}
    for name in LINEAGE_SCHEMA.names:
        if name in ("digest", "label"):
            columns[name] = signed.column(name)
        else:
            columns[name] = pc.if_else(keep, signed.column(name), again.column(name))
    return pa.table(columns, schema=LINEAGE_SCHEMA)


def lineage_json(table: pa.Table) -> list[dict]:
    """Rows as JSON-able dicts (digests in hex), for reports."""
    return [dict(r, digest=r["digest"].hex()) for r in table.to_pylist()]
