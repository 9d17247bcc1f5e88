"""Store objects a version's signed statement names (its manifest, its lineage), read safely.

Each is hashed against the SHA-256 its signed statement gives, then parsed as Parquet
from the very file that was hashed, so a ``.prov/`` writer who swaps the file between the
two cannot slip other bytes in. Used by the diff's sides (``delta.sides``) and by the
reports' record facts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance.delta.statuses import LINEAGE_STATUSES
from provenance.delta.windows import WINDOW_ROWS, SideStream
from provenance.errors import VerificationError
from provenance.lineage.layout import object_format
from provenance.manifest import SCHEMA
from provenance.store import Store


class SignedParquet:
    """A Parquet object named by a signed statement, read from one open file: hashed first, then parsed.

    Hashing and parsing use the same file descriptor, so replacing the file in between
    cannot swap in other bytes. Column chunks are read on demand (no pre-buffering), so
    memory follows the columns and row groups read, not the file.
    """

    DICTIONARY: list[str] = []

    def __init__(self, store: Store, oid: str, name: str, records: int):
        self.oid, self.name, self.records = oid, name, records
        self.path = store.objects.path(self.oid)
        self.handle: BinaryIO | None = None
        self.parquet: pq.ParquetFile | None = None
        # the opened object's Arrow schema, converted once: ``ParquetFile.schema_arrow`` converts the footer
        # again on each access (~7 ms for a delta object's at 1 M: its 1.8 MB JSON footer, which the serialised
        # Arrow schema holds again, 2.4 MB of base64)
        self.schema: pa.Schema | None = None

    def verify(self) -> None:
        """Hash the object's bytes against its signed SHA-256, then open it (VerificationError if not)."""
        try:
            handle = self.handle = open(self.path, "rb")
        except OSError as exc:
            raise VerificationError(f"{self.path}: {self.name} {self.oid[:16]} is missing from the store") from exc
        actual = hashlib.file_digest(handle, "sha256").hexdigest()  # releases the GIL: objects hash at once
        if actual != self.oid:
            raise VerificationError(
                f"{self.path}: {self.name} {self.oid[:16]} was altered (its bytes hash to {actual[:16]})"
            )
        handle.seek(0)
        # Arrow reads much faster through its own file than through a Python one; on Linux
        # /proc/self/fd reopens the very file we hashed (same inode, even if renamed since).
        fd_path = f"/proc/self/fd/{handle.fileno()}"
        source = pa.OSFile(fd_path) if os.path.exists(fd_path) else handle
        try:
            self.parquet = pq.ParquetFile(source, read_dictionary=self.DICTIONARY, pre_buffer=False)
            self.schema = self.parquet.schema_arrow
            self.check(self.schema)
        except (pa.ArrowException, OSError) as exc:
            raise VerificationError(f"{self.path}: {self.name} is not readable Parquet ({exc})") from exc
        if self.parquet.metadata.num_rows != self.records:
            raise VerificationError(
                f"{self.path}: {self.name} holds {self.parquet.metadata.num_rows} rows, "
                f"the version records {self.records}"
            )

    def hashed_bytes(self) -> bytes:
        """The object's bytes, read again from the file :meth:`verify` hashed (its open descriptor: a file renamed
        over it since is not read), for a reader that needs them whole (``Manifest.from_bytes``)."""
        if self.handle is None:
            self.verify()
        assert self.handle is not None
        self.handle.seek(0)
        return self.handle.read()

    def present(self) -> None:
        """Raise ``VerificationError`` (exit 1, as :meth:`verify` words it) unless the object's file exists: a stat, no hash."""
        if not self.path.is_file():
            raise VerificationError(f"{self.path}: {self.name} {self.oid[:16]} is missing from the store")

    def opened(self) -> pq.ParquetFile:
        """The object's Parquet reader, after hashing it (``verify``) if that has not been done."""
        if self.parquet is None:
            self.verify()
        assert self.parquet is not None
        return self.parquet

    def check(self, schema: pa.Schema) -> None:
        """Raise VerificationError unless ``schema`` is what this kind of object holds."""

    def close(self) -> None:
        """Close the file opened by ``verify`` (if any)."""
        if self.handle is not None:
            self.handle.close()


class LineageObject(SignedParquet):
    """A version's signed lineage object: one row per manifest row, in manifest order (either format).

    Only its ``status`` column is streamed (dictionary codes mapped to status ranks).
    """

    DICTIONARY = ["status"]

    def check(self, schema: pa.Schema) -> None:
        """Raise ``VerificationError`` (exit 1) unless the object is a lineage object of a format
        this prov reads (``lineage.layout``: 1 with a digest column, 2 without; both have ``status``).
        ``verify`` checks its row count is the version's record count: rows pair with the
        manifest's records by position."""
        object_format(schema, f"{self.path}: {self.name}")

    def all_statuses(self) -> np.ndarray:
        """Every row's status rank (int8), in order, after hashing the object (``verify``).

        One byte per row (10 MB at 10 M rows). Raises ``VerificationError`` (exit 1) if the
        object was altered or holds a status that is not a lineage status.
        """
        return np.concatenate([np.zeros(0, np.int8), *self.statuses()])

    def statuses(self) -> Iterator[np.ndarray]:
        """int8 status ranks (``statuses.LINEAGE_STATUSES``) of every row, in order (verified first)."""
        for batch in self.opened().iter_batches(batch_size=WINDOW_ROWS, columns=["status"], use_threads=False):
            column = batch.column(0)
            if not pa.types.is_dictionary(column.type):
                column = pc.dictionary_encode(column)
            names = column.dictionary.to_pylist()
            unknown = [v for v in names if v not in LINEAGE_STATUSES]
            if unknown or column.null_count:
                raise VerificationError(f"{self.path}: {self.name} has a status that is not a lineage status")
            ranks = np.array([LINEAGE_STATUSES.index(v) for v in names] or [0], np.int8)
            yield ranks[column.indices.to_numpy(zero_copy_only=False)]

    def reader(self) -> pq.ParquetFile:
        """A new reader of the object (hashed first if it was not), independent of ``statuses()``'s."""
        if self.parquet is None:
            self.verify()
        assert self.handle is not None
        fd_path = f"/proc/self/fd/{self.handle.fileno()}"
        return pq.ParquetFile(fd_path if os.path.exists(fd_path) else self.path, read_dictionary=["source", "status"])


class ManifestObject(SignedParquet):
    """A version's manifest object. Only digest, label and source are streamed; locators
    and batches are read for the listed records' row groups alone."""

    DICTIONARY = ["label", "source", "batch"]

    def __init__(self, store: Store, row: dict):
        super().__init__(store, row["manifest_object"], f"manifest of {row['tag']}", row["records"])

    def check(self, schema: pa.Schema) -> None:
        """Raise ``VerificationError`` (exit 1) unless the columns are ``manifest.SCHEMA``'s, in order, with a ``binary(32)`` digest."""
        types = {f.name: f.type for f in schema}
        if list(types) != SCHEMA.names or types["digest"] != pa.binary(32):
            raise VerificationError(f"{self.path}: {self.name} has columns {list(types)}, expected {SCHEMA.names}")

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The manifest's digest, label and source columns in record batches of ``WINDOW_ROWS`` rows, in file order.

        Verifies the object first if that has not been done (``VerificationError``, exit 1).
        Label and source come dictionary-encoded, as the merge's ``Interner`` reads them.
        """
        yield from self.opened().iter_batches(batch_size=WINDOW_ROWS, columns=SideStream.COLUMNS, use_threads=False)

    def take(self, rows: np.ndarray, columns: list[str]) -> dict[str, list]:
        """``columns`` of sorted manifest ``rows`` (row numbers), reading only their row groups.

        Batch by batch (``WINDOW_ROWS`` rows), keeping the wanted rows of each: a row group is
        the whole manifest (1 M rows, ~35 MB of columns decoded), and memory the process has
        not touched yet costs a page fault per 4 KiB on first use (~0.1 s of system time here),
        where each batch's buffers are reused by the next."""
        assert self.parquet is not None, "verify() first"
        return parquet_take(self.parquet, rows, columns)

    def fetch(self, rows: np.ndarray) -> tuple[list, list]:
        """Locators and batches of sorted manifest rows, reading only their row groups."""
        found = self.take(rows, ["locator", "batch"])
        return found["locator"], found["batch"]


def parquet_take(parquet: pq.ParquetFile, rows: np.ndarray, columns: list[str]) -> dict[str, list]:
    """``columns`` of sorted ``rows`` (row numbers) of an open manifest Parquet file, reading only their row
    groups, as Python values (dictionary columns as strings); what ``ManifestObject.take`` does after hashing."""
    meta = parquet.metadata
    starts = np.cumsum([0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
    groups = np.searchsorted(starts, rows, side="right") - 1
    out: dict[str, list] = {c: [] for c in columns}
    for g in np.unique(groups).tolist():
        wanted, at = rows[groups == g] - starts[g], 0
        batches = parquet.iter_batches(batch_size=WINDOW_ROWS, row_groups=[g], columns=columns)
        for batch in batches:
            lo, hi = np.searchsorted(wanted, [at, at + batch.num_rows])
            at += batch.num_rows
            if hi == lo:
                continue
            local = pa.array(wanted[lo:hi] - (at - batch.num_rows))
            for c in columns:
                values = batch.column(c).take(local)
                out[c] += (pc.cast(values, pa.string()) if pa.types.is_dictionary(values.type) else values).to_pylist()
    return out
