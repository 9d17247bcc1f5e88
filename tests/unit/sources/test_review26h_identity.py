"""Attack review 26h: fix26e's file identity (st_ctime_ns added, A26e-1) against a data-folder writer who changes a
Parquet file in place through a writable memory map, and 3e657c1's row-group count check against honest writers.

Replayed for real on this machine's file system: the commit runs on test_file_changed's after-the-first-partition
executor, and the writer writes once the first partition is hashed."""

from __future__ import annotations

import mmap
import os

import pyarrow.parquet as pq
import pytest
import test_file_changed as fc

import provenance.sources.build as build
from provenance import versions
from provenance.errors import FileChanged
from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.version_verify import verify_version
from support import store_fingerprint


class MapWriteAfterFirst(fc.AfterFirst):
    """The writer mapped ``path`` writable and wrote every page (each page faulted in, the file's mtime and ctime
    set) before prov listed it; after the first partition it writes ``other``'s bytes through the mapping: a store
    to a page already dirty takes no fault and no system call, so neither time moves until the page is written
    back and faulted again (Linux: seconds to tens of seconds)."""

    def __init__(self, path, other):
        super().__init__(path, other)
        self.fd = os.open(path, os.O_RDWR)
        self.map = mmap.mmap(self.fd, os.fstat(self.fd).st_size)
        self.map[:] = self.map[:]  # every page dirty and writable

    def write(self) -> None:
        self.map[:] = self.other.read_bytes()

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


def test_a_file_written_through_a_dirty_mapping_between_partitions_signs_a_mix_no_reader_then_accepts(
    workdir, store, keypair, pins, monkeypatch
):
    """A26h-2, a limit held closed (session 27): a store through a mapping whose pages are already dirty moves no
    file time, so the file identity cannot see it and ``prov commit`` signs the first partition's records of the old
    bytes and the rest of the new: a root of neither state. What that gives the writer is nothing they could not
    write directly (the data folder is theirs: they could have written the mix itself before the listing), and the
    mix is not the file: ``prov verify`` of the version names the first partition's records (exit 1), and the
    verifying loader refuses them before a training job sees one; with no writer, the file commits as itself."""
    from provenance.api import load
    from provenance.errors import VerificationError

    monkeypatch.setattr(build, "_ROWS_PER_PARTITION", 2 * fc.GROUP)
    data, other = workdir / "data.parquet", workdir / "other.parquet"
    plain = {"row_group_size": fc.GROUP, "compression": "none", "use_dictionary": False}
    pq.write_table(fc._table(0.0), data, **plain)
    pq.write_table(fc._table(0.5), other, **plain)
    assert data.stat().st_size == other.stat().st_size and data.read_bytes() != other.read_bytes()
    executor = MapWriteAfterFirst(data, other)
    before = store_fingerprint(workdir / ".prov")
    try:
        result = versions.commit(
            store, DatasetSpec(str(data)), "v1", keypair.private_path, executor=executor, stages=[]
        )
    except FileChanged:  # the page was written back in between and the store faulted it again: refused as a write()
        assert store_fingerprint(workdir / ".prov") == before
        return
    finally:
        executor.close()
    assert executor.done > 1 and data.read_bytes() == other.read_bytes()  # the write landed mid-commit
    now = build_manifest(DatasetSpec(str(data)), executor=InlineExecutor()).manifest.root.hex()
    assert result.merkle_root != now  # the limit: a mix was signed
    store.pins = pins
    with pytest.raises(VerificationError) as err:
        verify_version(store, "v1", executor=InlineExecutor(), check_delta=False)
    assert err.value.exit_code == 1
    assert len(err.value.records) == 2 * fc.GROUP  # the first partition's records, each named
    with pytest.raises(VerificationError):
        for _ in load(store, "v1", pins=pins).batches():
            pass


def _honest_files(workdir) -> dict:
    """Parquet files as honest writers write them: pyarrow (row groups, data pages v2 with a page index, empty row
    groups before and between others, an empty file), pandas (with its index), polars and duckdb (where installed:
    neither is prov's dependency), each with a list column where the writer takes one."""
    import numpy as np
    import pyarrow as pa

    n = 5000
    t = pa.table(
        {
            "a": np.arange(n, dtype="int64"),
            "s": [f"x{i % 97}" for i in range(n)],
            "l": [[i, 1] for i in range(n)],
            "label": [str(i % 3) for i in range(n)],
        }
    )
    files = {}

    def put(name, write, rows):
        path = workdir / f"{name}.parquet"
        write(path)
        files[name] = (path, rows)

    put("pyarrow_groups", lambda p: pq.write_table(t, p, row_group_size=1333), n)
    put(
        "pyarrow_v2",
        lambda p: pq.write_table(
            t, p, row_group_size=2000, data_page_version="2.0", data_page_size=1000, write_page_index=True
        ),
        n,
    )

    def empties(p):
        with pq.ParquetWriter(p, t.schema) as w:
            for piece in (t.slice(0, 0), t.slice(0, 100), t.slice(0, 0), t.slice(100, 50)):
                w.write_table(piece)

    put("pyarrow_empty_groups", empties, 150)
    put("pandas_index", lambda p: t.to_pandas().to_parquet(p, index=True, row_group_size=1250), n)
    try:
        import polars as pl

        put("polars", lambda p: pl.from_arrow(t).write_parquet(p, row_group_size=700, data_page_size=512), n)
    except ImportError:
        pass
    try:
        import duckdb

        def dd(p):
            con = duckdb.connect()
            con.register("t", t.to_pandas()[["a", "s", "label"]])
            con.execute(f"COPY (SELECT a, s, [a, 1] AS l, label FROM t) TO '{p}' (FORMAT PARQUET, ROW_GROUP_SIZE 1024)")

        put("duckdb", dd, n)
    except ImportError:
        pass
    return files


def test_honest_writers_files_are_not_refused_by_the_row_group_count_check(workdir, store, keypair, monkeypatch):
    # Held (3e657c1): every row group of these honest files reads the rows its footer says; prov commit takes each,
    # in partitions of 2 row groups or so, and the signed record count is the file's
    monkeypatch.setattr(build, "_ROWS_PER_PARTITION", 1000)
    for name, (path, rows) in _honest_files(workdir).items():
        result = versions.commit(store, DatasetSpec(str(path)), name, keypair.private_path, stages=[])
        assert result.records == rows, (name, result.records, rows)


def test_a_footer_claiming_fewer_rows_hides_no_row_from_the_readers_a_trainer_uses(workdir):
    # Held (3e657c1 leaves a footer claiming fewer rows than its pages hold undetected): the first row group's
    # footer says 2**18 - 100 rows, its pages hold 2**18. prov signs the claimed rows, and pyarrow, pandas and
    # polars read exactly those (duckdb refuses the file as corrupt): no reader here sees the 100 rows prov did not
    # hash. The file-level num_rows still says the pages' count: a check prov could add, as duckdb's does.
    from pathlib import Path

    import pandas as pd
    import test_review26g_merge_copies as g

    path = Path("fewer.parquet")
    g._hostile_parquet(path, 1000, (1 << 18) - 100)
    signed = len(build_manifest(DatasetSpec(str(path)), executor=InlineExecutor()).manifest)
    assert signed == (1 << 18) - 100 + 1000
    assert pq.read_table(path).num_rows == signed and len(pd.read_parquet(path)) == signed
    assert pq.ParquetFile(path).metadata.num_rows == (1 << 18) + 1000  # the file's total is not the groups' sum
    try:
        import polars as pl
    except ImportError:
        return
    assert pl.read_parquet(path).height == signed
