"""A table file swapped or written while prov reads it in parts is refused, never signed as a mix (attack review 25d).

A Parquet file is read partition by partition, each partition opening it again; a CSV/JSONL file
may be read twice. A data-folder writer who replaces the file (``os.replace``) between two opens
made ``prov commit`` sign records of both files under a Merkle root of neither, exit 0. The swap
is replayed for real and deterministically: the commit runs on an executor that runs the
partitions one after another in this process, as ``inline`` does, and replaces the file once the
first partition is hashed, exactly where a writer racing a real pool would land.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import provenance.sources.build as build
from provenance import versions
from provenance.errors import FileChanged, InputError, VerificationError
from provenance.executor import InlineExecutor
from provenance.loader.reading import SignedReading, _table_batches
from provenance.sources import table_files, table_reading
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions, hash_table_file
from provenance.version_verify import verify_version
from support import store_fingerprint

ROWS, GROUP = 600, 100


class AfterFirst(InlineExecutor):
    """Partitions run one after another here; after the first, a writer changes ``path`` (:meth:`write`)."""

    def __init__(self, path, other):
        super().__init__()
        self.path, self.other, self.done = path, other, 0

    def imap(self, fn, items, window=None):
        for item in items:
            yield fn(item)
            self.done += 1
            if self.done == 1:
                self.write()

    def write(self) -> None:
        raise NotImplementedError


class SwapAfterFirst(AfterFirst):
    """After the first partition, ``path`` is replaced by ``other``."""

    def write(self) -> None:
        os.replace(self.other, self.path)


def _table(shift: float) -> pa.Table:
    x = np.arange(ROWS, dtype=np.float64) + shift
    return pa.table({"x": x, "y": x * 2, "label": [str(i % 3) for i in range(ROWS)]})


@pytest.fixture
def swapped(workdir, monkeypatch):
    """data.parquet in row groups of 100 rows, hashed 200 rows a partition; beside it the file a writer swaps
    in: the same layout, other values (so the mix hashes without a read error)."""
    monkeypatch.setattr(build, "_ROWS_PER_PARTITION", 2 * GROUP)
    pq.write_table(_table(0.0), workdir / "data.parquet", row_group_size=GROUP)
    pq.write_table(_table(0.5), workdir / "other.parquet", row_group_size=GROUP)
    return workdir / "data.parquet", workdir / "other.parquet"


def test_a_parquet_file_replaced_between_partitions_is_refused_and_nothing_is_committed(
    swapped, store, keypair, workdir
):
    data, other = swapped
    before = store_fingerprint(workdir / ".prov")
    executor = SwapAfterFirst(data, other)
    with pytest.raises(FileChanged) as err:
        versions.commit(store, DatasetSpec(str(data)), "v1", keypair.private_path, executor=executor, stages=[])
    assert executor.done == 1  # the second partition opened the new file and stopped there
    assert str(err.value).startswith(f"{data}: file changed while it was read")
    assert "\n" not in str(err.value) and err.value.exit_code == 2
    assert store_fingerprint(workdir / ".prov") == before
    # the file now in place commits as itself, with the root of its own records
    result = versions.commit(store, DatasetSpec(str(data)), "v1", keypair.private_path, stages=[])
    alone = build_manifest(DatasetSpec(str(workdir / "data.parquet")), executor=InlineExecutor())
    assert result.merkle_root == alone.manifest.root.hex()


def test_verify_of_a_file_replaced_while_it_is_read_is_exit_2_not_a_verdict(swapped, store, keypair, pins, workdir):
    data, other = swapped
    versions.commit(store, DatasetSpec(str(data)), "v1", keypair.private_path, stages=[])
    store.pins = pins
    pq.write_table(_table(0.0), other, row_group_size=GROUP)  # the same records: a verify of either file passes
    with pytest.raises(FileChanged, match="file changed while it was read"):
        verify_version(store, "v1", executor=SwapAfterFirst(data, other), check_delta=False)
    assert verify_version(store, "v1", executor=InlineExecutor(), check_delta=False)["data"] == "ok"


def test_a_file_written_in_place_after_listing_is_refused_by_every_reader(workdir):
    """Another size or modification time on the same inode: the handle's fstat tells it from the listing's."""
    data = workdir / "data.parquet"
    pq.write_table(_table(0.0), data, row_group_size=GROUP)
    listed = table_files.list_table_files(str(data))
    with open(data, "r+b") as fh:  # same inode, another size and modification time
        fh.seek(0, os.SEEK_END)
        fh.write(b"\0")
    (file,) = listed.files
    with pytest.raises(FileChanged, match="file changed while it was read"):
        hash_table_file(file, TableOptions())
    with pytest.raises(FileChanged):
        build.tables.parquet_row_groups(file.path, None, file.identity)


def test_a_csv_file_replaced_after_listing_is_refused(workdir):
    data = workdir / "data.csv"
    pacsv.write_csv(_table(0.0), data)
    (file,) = table_files.list_table_files(str(data)).files
    pacsv.write_csv(_table(0.5), workdir / "other.csv")
    os.replace(workdir / "other.csv", data)
    with pytest.raises(FileChanged, match=f"{data}: file changed"):
        hash_table_file(file, TableOptions())


def test_the_verifying_loader_refuses_a_file_replaced_after_it_listed_the_folder(workdir):
    """The loader lists the folder, then reads its files one by one: a file swapped in between is refused."""
    folder = workdir / "data"
    folder.mkdir()
    pq.write_table(_table(0.0), folder / "a.parquet")
    pq.write_table(_table(0.0), folder / "b.parquet")
    pq.write_table(_table(0.5), workdir / "other.parquet")
    signed = SignedReading(columns=["x", "y"], types={}, label=None, classes=None, listing=None)
    batches = _table_batches(DatasetSpec(str(folder)), None, str(folder), signed, None)
    next(batches)  # a.parquet read: the folder is listed
    os.replace(workdir / "other.parquet", folder / "b.parquet")
    with pytest.raises(VerificationError, match="b.parquet: file changed while it was read"):
        list(batches)


class RewriteAfterFirst(AfterFirst):
    """After the first partition, ``path`` is rewritten in place with ``other``'s bytes (the same size) and its
    modification time put back with ``os.utime``: same inode, size and mtime, other records."""

    def write(self) -> None:
        st = os.stat(self.path)
        with open(self.path, "r+b") as fh:
            fh.write(self.other.read_bytes())
        os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _past_ctime(path):
    """Return once the clock file timestamps are taken from has moved past ``path``'s ctime, so a write from
    now on gives it another (timestamps are coarse: a write in the same tick could keep it)."""
    probe = path.with_name(".probe")
    while True:
        probe.write_bytes(b"")
        if os.stat(probe).st_ctime_ns > os.stat(path).st_ctime_ns:
            probe.unlink()
            return


def test_a_parquet_file_rewritten_in_place_with_its_mtime_put_back_is_refused(workdir, store, keypair, monkeypatch):
    """Attack review 26e (A26e-1): size and mtime restored with os.utime; the inode's change time still moves."""
    monkeypatch.setattr(build, "_ROWS_PER_PARTITION", 2 * GROUP)
    data, other = workdir / "data.parquet", workdir / "other.parquet"
    plain = {"row_group_size": GROUP, "compression": "none", "use_dictionary": False}
    pq.write_table(_table(0.0), data, **plain)
    pq.write_table(_table(0.5), other, **plain)
    assert data.stat().st_size == other.stat().st_size and data.read_bytes() != other.read_bytes()
    _past_ctime(data)
    before = store_fingerprint(workdir / ".prov")
    executor = RewriteAfterFirst(data, other)
    with pytest.raises(FileChanged) as err:
        versions.commit(store, DatasetSpec(str(data)), "v1", keypair.private_path, executor=executor, stages=[])
    assert executor.done == 1
    assert str(err.value).startswith(f"{data}: file changed while it was read")
    assert store_fingerprint(workdir / ".prov") == before


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_file_removed_right_after_it_is_read_is_one_line_exit_2(workdir, version, suffix):
    """Attack review 26e (A26e-3): the check after the last batch opened the path again outside the reader's
    try; a file removed there was a raw FileNotFoundError (exit 3)."""
    data = workdir / f"data.{suffix}"
    if suffix == "parquet":
        pq.write_table(_table(0.0), data)
    else:
        pacsv.write_csv(_table(0.0), data)
    (file,) = table_files.list_table_files(str(data), None, version).files
    options = TableOptions(reader_version=version)
    count = len(list(table_reading.iter_batches(file.path, options, identity=file.identity)))
    batches = table_reading.iter_batches(file.path, options, identity=file.identity)
    for _ in range(count):  # every batch read: only the check after the last is left
        next(batches)
    data.unlink()
    with pytest.raises(InputError) as err:
        list(batches)
    assert str(err.value).startswith(f"{data}: ") and "\n" not in str(err.value) and err.value.exit_code == 2


def test_a_file_that_cannot_be_stat_ed_when_listed_is_refused_not_read_unchecked(workdir):
    """Attack review 26e (A26e-2): a failed stat at listing gave no identity, and no identity means no check."""
    folder = workdir / "data"
    folder.mkdir()
    pq.write_table(_table(0.0), folder / "a.parquet")
    os.symlink(workdir / "gone.parquet", folder / "b.parquet")  # listed by name, stat fails
    with pytest.raises(InputError) as err:
        table_files.list_table_files(str(folder))
    assert str(err.value).startswith(f"{folder / 'b.parquet'}: ") and "\n" not in str(err.value)
