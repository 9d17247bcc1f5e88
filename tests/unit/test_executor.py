"""The executor interface: settings, ordering, and identical manifests whatever runs them."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow.parquet as pq
import pytest

from provenance.errors import InputError
from provenance.executor import (
    DaskExecutor,
    InlineExecutor,
    LocalExecutor,
    ThreadExecutor,
    executor_from,
    for_gil_free_work,
    local_executor,
)
from provenance.sources.build import LARGE_FILE_BYTES, build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from support import digits_table


def _square(x: int) -> int:
    return x * x


def test_settings_name_an_executor(workdir, monkeypatch):
    monkeypatch.delenv("PROV_EXECUTOR", raising=False)
    assert isinstance(executor_from("inline"), InlineExecutor)
    assert executor_from("local:3").workers == 3
    assert isinstance(executor_from("local"), LocalExecutor)
    for bad in ("local:0", "local:x", "spark://h:1", "dask://"):
        with pytest.raises(InputError, match="executor"):
            executor_from(bad)
    monkeypatch.setenv("PROV_EXECUTOR", "local:2")
    assert repr(executor_from()) == "local:2"


def test_a_file_in_the_checkout_names_no_executor(workdir, monkeypatch):
    """`.prov/config.toml` is under the control of whoever edits the checkout (a pull request)."""
    monkeypatch.delenv("PROV_EXECUTOR", raising=False)
    (workdir / ".prov").mkdir()
    (workdir / ".prov" / "config.toml").write_text('[scale]\nexecutor = "dask://127.0.0.1:9"\n')
    assert isinstance(executor_from(), LocalExecutor) and isinstance(local_executor(), LocalExecutor)


def test_checks_run_here_even_when_the_environment_names_a_cluster(monkeypatch):
    monkeypatch.setenv("PROV_EXECUTOR", "dask://127.0.0.1:9")
    assert isinstance(local_executor(), LocalExecutor)
    monkeypatch.setenv("PROV_EXECUTOR", "local:3")
    assert local_executor().workers == 3
    monkeypatch.setenv("PROV_EXECUTOR", "inline")
    assert isinstance(local_executor(), InlineExecutor)


def test_unreachable_scheduler_is_an_input_error():
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9")


def test_imap_keeps_item_order_with_a_small_window():
    items = list(range(40))
    assert list(LocalExecutor(2).imap(_square, items, window=3)) == [i * i for i in items]
    assert LocalExecutor(2).map(_square, items) == InlineExecutor().map(_square, items)
    assert list(ThreadExecutor(3).imap(_square, items, window=2)) == [i * i for i in items]


def _fails_on_seven(x: int) -> int:
    if x == 7:
        raise InputError("item 7 is bad")
    return x


def test_a_thread_task_error_is_raised_in_order():
    got = []
    with pytest.raises(InputError, match="item 7"):
        for value in ThreadExecutor(2).imap(_fails_on_seven, range(20)):
            got.append(value)
    assert got == list(range(7))


@pytest.fixture
def table_folder(workdir):
    full = digits_table(1200)
    folder = workdir / "tables"
    (folder / "b").mkdir(parents=True)
    pq.write_table(full.slice(0, 500), folder / "a.parquet", row_group_size=64)
    pq.write_table(full.slice(500, 400), folder / "b" / "c.parquet", row_group_size=50)
    full.slice(900).to_pandas().to_csv(folder / "d.csv", index=False)
    return folder


def test_manifest_is_identical_for_every_executor_and_worker_count(table_folder, monkeypatch):
    import provenance.sources.build as dataset

    spec = DatasetSpec(str(table_folder))
    reference = build_manifest(spec, executor=InlineExecutor()).manifest
    monkeypatch.setattr(dataset, "_ROWS_PER_PARTITION", 100)  # many partitions per file
    for executor in (InlineExecutor(), LocalExecutor(2), LocalExecutor(3)):
        got = build_manifest(spec, executor=executor).manifest
        assert got.root == reference.root
        assert got.to_bytes() == reference.to_bytes()
        assert got.table.equals(reference.table)


def test_tree_manifest_is_identical_for_every_executor(workdir):
    rng = np.random.default_rng(1)
    for i in range(150):
        d = workdir / "tree" / f"class{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:03d}.bin").write_bytes(rng.bytes(int(rng.integers(0, 3000))))
    spec = DatasetSpec(str(workdir / "tree"), options=TableOptions(tree_reader="files"))
    one = build_manifest(spec, executor=InlineExecutor())
    two = build_manifest(spec, executor=LocalExecutor(2))
    assert one.manifest.to_bytes() == two.manifest.to_bytes() and len(one.manifest) == 150


def test_a_tree_of_large_files_hashed_on_threads_gives_the_same_manifest(workdir):
    rng = np.random.default_rng(2)
    for i in range(7):  # files of about 1 MiB: hashed on threads of this process
        d = workdir / "big" / f"class{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.bin").write_bytes(rng.bytes(LARGE_FILE_BYTES + i))
    spec = DatasetSpec(str(workdir / "big"), options=TableOptions(tree_reader="files"))
    one = build_manifest(spec, executor=InlineExecutor()).manifest
    threads = build_manifest(spec, executor=LocalExecutor(2)).manifest
    assert threads.to_bytes() == one.to_bytes() and len(one) == 7
    assert one.digests == sorted(hashlib.sha256(p.read_bytes()).digest() for p in (workdir / "big").rglob("*.bin"))


def test_only_local_processes_as_the_factories_give_them_become_threads_for_gil_free_work():
    """``local``, ``local:N`` and the default mean "this machine": those may run on threads; an executor a caller
    chose (inline, threads, a subclass of its own) is kept, so the table and tree paths decide in one place."""

    class Processes(LocalExecutor):
        pass

    for setting, workers in (("local:3", 3), ("local", LocalExecutor().workers)):
        threads = for_gil_free_work(executor_from(setting))
        assert type(threads) is ThreadExecutor and threads.workers == workers
    for kept in (InlineExecutor(), ThreadExecutor(2), Processes(2), executor_from("inline")):
        assert for_gil_free_work(kept) is kept
