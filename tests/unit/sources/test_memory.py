"""The memory bound of a commit: sizes parse, the bound is planned before work starts, and a
commit that would pass it stops with exit 2 naming the limit and how to raise it."""

from __future__ import annotations

import hashlib
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.errors import InputError
from provenance.executor import LocalExecutor
from provenance.sources import memory
from provenance.sources.build import build_manifest
from provenance.sources.external_sort import ExternalSort
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import HashedPart
from support import digits_table


def test_sizes_parse_with_binary_and_decimal_units():
    assert memory.parse_size("1073741824") == 1 << 30
    assert memory.parse_size("512MiB") == 512 << 20
    assert memory.parse_size("4GiB") == memory.parse_size("4g") == 4 << 30
    assert memory.parse_size("1.5GB") == 1_500_000_000
    for bad in ("", "lots", "-1GiB", "3 parsecs"):
        with pytest.raises(InputError, match="PROV_MEMORY_LIMIT"):
            memory.parse_size(bad)


def test_the_limit_is_the_setting_capped_by_available_memory(monkeypatch):
    monkeypatch.setenv("PROV_MEMORY_LIMIT", "700MiB")
    assert memory.memory_limit() == min(700 << 20, int(memory.available_memory() * 0.8))
    monkeypatch.delenv("PROV_MEMORY_LIMIT")
    assert memory.memory_limit() <= memory.DEFAULT_LIMIT


def test_fewer_workers_run_when_all_would_not_fit():
    per_worker = 300 << 20
    limit = memory.PROCESS_BASE + 2 * (per_worker + memory.PROCESS_BASE)
    assert memory.workers_within(limit, per_worker, 8) == 2
    assert memory.workers_within(limit, per_worker, 1) == 1
    executor = memory.bounded_workers(LocalExecutor(8), [(per_worker, "f.parquet")], limit)
    assert isinstance(executor, LocalExecutor) and executor.workers == 2


def test_a_partition_past_the_bound_is_an_input_error_naming_the_file_and_the_setting(workdir, monkeypatch):
    path = workdir / "d.parquet"
    pq.write_table(digits_table(400), path, row_group_size=400)
    need = memory.parquet_task_memory(str(path), None)
    assert need >= memory.READ_EXPANSION * pq.ParquetFile(path).metadata.row_group(0).total_byte_size
    monkeypatch.setenv("PROV_MEMORY_LIMIT", str(2 * memory.PROCESS_BASE + need // 2))
    with pytest.raises(memory.MemoryLimitError) as info:
        build_manifest(DatasetSpec(str(path)), executor=LocalExecutor(1))
    message = str(info.value)
    assert str(path) in message and "memory limit of" in message and "PROV_MEMORY_LIMIT=" in message
    assert info.value.exit_code == 2
    monkeypatch.setenv("PROV_MEMORY_LIMIT", "1GiB")
    assert len(build_manifest(DatasetSpec(str(path)), executor=LocalExecutor(1)).manifest) == 400


def test_a_merge_of_many_copies_past_the_bound_says_so(monkeypatch):
    n = 20_000
    digest = hashlib.sha256(b"the same record").digest()
    labels = pa.array(["a"] * n)
    part = HashedPart(digest * n, labels, pa.nulls(n, pa.string()), pa.array([str(i) for i in range(n)]), ["x"])
    sorter = ExternalSort(expected_rows=10**7)  # many buckets: the copies all land in one
    sorter.add(part.finish(None), 0)
    monkeypatch.setenv("PROV_MEMORY_LIMIT", str(memory.PROCESS_BASE + (2 << 20)))
    with pytest.raises(memory.MemoryLimitError, match="copies of the same records.*remove duplicate records"):
        sorter.finish()


def test_the_allocator_setting_is_made_unless_the_user_made_one(monkeypatch):
    monkeypatch.setenv("MIMALLOC_PURGE_DELAY", "0")  # recorded, so the test leaves the environment as it was
    monkeypatch.delenv("MIMALLOC_PURGE_DELAY")
    memory.keep_freed_memory()
    assert os.environ["MIMALLOC_PURGE_DELAY"] == "-1"
    monkeypatch.setenv("MIMALLOC_PURGE_DELAY", "250")
    memory.keep_freed_memory()
    assert os.environ["MIMALLOC_PURGE_DELAY"] == "250"
