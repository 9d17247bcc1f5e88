"""Local Parquet tables hash on threads of the committing process (issue 15): the same bytes as before.

The table path ran on worker processes until session 25; the threads must give the manifest, its
Merkle root and the profile sample's candidates byte for byte as the processes, one process, and the
pure-Python SHA-256 path give them, and as main's code gave them (the pinned root).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance.sources.build as build
from provenance import fastsha
from provenance.executor import InlineExecutor, LocalExecutor, ThreadExecutor
from provenance.sources import table_files
from provenance.sources.build import build_manifest, table_executor
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from support import digits_table

# The root of the folder below, computed by main 8faf560's code (worker processes) before threads
PINNED_ROOT = "58010967231e31d1edac74de3fa6771b90dc81d2f11aa48d010dd1efcfd8ecd7"
SALT = b"\x05" * 32


class Processes(LocalExecutor):
    """Local worker processes as the table path used them before threads (a subclass is kept as given)."""


def _float_folder(root):
    """1,400 real rows (the digits' pixels as float64, with a NaN, a -0.0 and copies) in two Parquet
    files of small row groups, a source column with nulls: many partitions, every normalisation."""
    digits = digits_table(1200)
    X = np.stack([digits.column(f"px{i:02d}").to_numpy() for i in range(64)], axis=1).astype(np.float64) / 16.0
    X = np.concatenate([X, X[:200]])  # 200 copies of earlier records
    X[3, 5], X[7, 9] = np.nan, -0.0
    labels = digits.column("label").to_pylist() + digits.column("label").to_pylist()[:200]
    sources = [None if i % 7 == 0 else f"vendor{i % 3}" for i in range(len(X))]
    table = pa.table({**{f"x{i:02d}": X[:, i] for i in range(64)}, "label": labels, "src": sources})
    (root / "part").mkdir(parents=True)
    pq.write_table(table.slice(0, 900), root / "a.parquet", row_group_size=100)
    pq.write_table(table.slice(900), root / "part" / "b.parquet", row_group_size=60)
    return root


def _build(folder, executor):
    spec = DatasetSpec(str(folder), options=TableOptions(source_column="src"))
    return build_manifest(spec, executor=executor, source="crowd", sample_salt=SALT)


def test_local_parquet_tables_hash_on_threads_and_other_inputs_keep_their_executor(workdir):
    folder = _float_folder(workdir / "data")
    parquet = table_files.list_table_files(str(folder), None, 2)
    assert isinstance(table_executor(LocalExecutor(2), parquet, None), ThreadExecutor)
    assert table_executor(LocalExecutor(3), parquet, None).workers == 3
    inline, processes = InlineExecutor(), Processes(2)
    assert table_executor(inline, parquet, None) is inline
    assert table_executor(processes, parquet, None) is processes  # not local processes as such: kept
    assert type(table_executor(LocalExecutor(2), parquet, object())) is LocalExecutor  # an fsspec filesystem
    pq.read_table(folder / "a.parquet").to_pandas().to_csv(folder / "c.csv", index=False)
    mixed = table_files.list_table_files(str(folder), None, 2)
    assert type(table_executor(LocalExecutor(2), mixed, None)) is LocalExecutor  # CSV type inference: processes


def test_threads_give_the_bytes_of_processes_one_process_and_pure_python(workdir, monkeypatch):
    folder = _float_folder(workdir / "data")
    monkeypatch.setattr(build, "_ROWS_PER_PARTITION", 150)  # partitions of one or two row groups
    threads = _build(folder, LocalExecutor(2))
    processes = _build(folder, Processes(2))
    inline = _build(folder, InlineExecutor())
    with fastsha.forced("python"):
        python = _build(folder, LocalExecutor(2))
    assert len(threads.manifest) == 1400
    assert threads.manifest.root.hex() == PINNED_ROOT
    for other in (processes, inline, python):
        assert other.manifest.root == threads.manifest.root
        assert other.manifest.to_bytes() == threads.manifest.to_bytes()
        assert (other.columns, other.types, other.label_kind) == (threads.columns, threads.types, threads.label_kind)
        assert other.sample.keys.equals(threads.sample.keys)
        assert other.sample.content.schema == threads.sample.content.schema
        for name in threads.sample.content.column_names:  # bit for bit: NaN equals NaN here, -0.0 is not 0.0
            got, want = (t.sample.content.column(name).to_numpy() for t in (other, threads))
            assert got.view(np.uint64).tolist() == want.view(np.uint64).tolist()


def test_a_bad_file_among_threads_is_the_same_one_line_error(workdir):
    folder = _float_folder(workdir / "data")
    (folder / "part" / "b.parquet").write_bytes(b"PAR1 not a parquet file PAR1")
    from provenance.errors import InputError

    with pytest.raises(InputError, match=r"b\.parquet"):
        _build(folder, LocalExecutor(2))
