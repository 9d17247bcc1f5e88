"""The profile sample captured while hashing gives the very profile bytes the re-reading path gives.

The profile object is signed, so the fast path must not change one byte of it: each case
commits a real Parquet dataset (several files and row groups, so several partitions and
batches), builds the profile from the captured candidates and by re-reading the table,
and compares the bytes. CI runs the suite with the compiled hasher and with
``PROV_NO_FASTSHA=1``, so both hasher paths are covered.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.executor import InlineExecutor, LocalExecutor
from provenance.profiles.sample import (
    DEFAULT_MAX_PER_CLASS,
    DEFAULT_MAX_TOTAL,
    first_per_class,
    key_order,
    sample_manifest,
)
from provenance.profiles.stage import build_version_profile, captured_records
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.sample_capture import SampleCapture, _candidates, _prefixes
from provenance.sources.tables import TableOptions


def _write(
    folder, rows: int, classes: int, files: int, seed: int, copies: int = 0, sources: bool = False, group: int = 700
) -> None:
    """``files`` Parquet files of ``rows`` rows in all (row groups of ``group``), ``classes`` labels,
    and ``copies`` rows repeating earlier rows (same content; same label or another)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 50, size=(rows, 3)).astype(np.float64)
    label = rng.integers(0, classes, size=rows)
    if copies:
        src = rng.integers(0, rows - copies, size=copies)
        x[rows - copies :] = x[src]
        flip = rng.random(copies) < 0.3  # some copies carry another label
        label[rows - copies :] = np.where(flip, (label[src] + 1) % classes, label[src])
    x[0, 0] = -0.0  # the same digest as 0.0: the copy the manifest samples must be the one used
    columns = {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": [f"class-{v}" for v in label]}
    if sources:
        columns["src"] = [None if i % 5 == 0 else f"s{i % 3}" for i in range(rows)]
    table = pa.table(columns)
    folder.mkdir()
    bounds = np.linspace(0, rows, files + 1).astype(int)
    for i in range(files):
        pq.write_table(
            table.slice(bounds[i], bounds[i + 1] - bounds[i]), folder / f"part-{i}.parquet", row_group_size=group
        )


def _profiles(path, executor, options: TableOptions | None = None, source: str | None = None, salt=None):
    spec = DatasetSpec(str(path), "table", options or TableOptions())
    hashed = build_manifest(spec, executor=executor, source=source, sample_salt=salt)
    assert hashed.sample is not None
    sample = sample_manifest(hashed.manifest, DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, salt)
    served = captured_records(
        hashed.sample,
        sample.table.column("locator").to_pylist(),
        sample.table.column("digest").to_pylist(),
        hashed.columns,
        spec.options.row_encoding,
        DEFAULT_MAX_PER_CLASS,
        DEFAULT_MAX_TOTAL,
        salt,
    )
    assert served is not None  # the fast path really serves the sample
    # with a salt, the pool also chooses the sample and counts its copies: no pass over the manifest
    pooled = hashed.sample.sample(DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, salt)
    assert (pooled is not None) == (salt is not None)
    if pooled is not None:
        assert pooled.copies.tolist() == sample.copies.tolist()
        assert pooled.table.equals(sample.table)
    fast = build_version_profile(
        hashed.manifest, "table", hashed.columns, spec, captured=hashed.sample, sample_salt=salt
    )
    slow = build_version_profile(hashed.manifest, "table", hashed.columns, spec, sample_salt=salt)
    return fast.to_bytes(), slow.to_bytes(), sample


@pytest.mark.parametrize(
    ("rows", "classes", "files", "copies"),
    [
        (1, 1, 1, 0),  # one row
        (60, 3, 2, 20),  # duplicates, some under another label
        (5000, 2, 3, 400),  # the per-class cap binds
        (12000, 10, 4, 1500),  # the total bound binds, copies across files
        (3000, 400, 2, 100),  # many classes
    ],
)
@pytest.mark.parametrize("salt", [None, bytes(range(32))])
def test_captured_profile_is_byte_identical(tmp_path, rows, classes, files, copies, salt):
    _write(tmp_path / "data", rows, classes, files, seed=rows + classes, copies=copies)
    fast, slow, _ = _profiles(tmp_path / "data", InlineExecutor(), salt=salt)
    assert fast == slow


@pytest.mark.parametrize("salt", [None, bytes(range(32))])
def test_one_large_batch_per_flush(tmp_path, salt):
    # row groups of 20,000 rows: each flush ranks far more rows than the sample's bounds, as a real
    # table's 65,536-row batches do, so most of them are left out before the four-key sort
    _write(tmp_path / "data", 30000, 3, 1, seed=5, copies=3000, group=20000)
    fast, slow, _ = _profiles(tmp_path / "data", InlineExecutor(), salt=salt)
    assert fast == slow


@pytest.mark.parametrize("seed", range(40))
def test_candidates_keep_every_row_of_every_record_the_rule_picks(seed):
    """``_candidates`` leaves out only rows the rule cannot pick: the rule (sample-key order, ``cap`` distinct
    records per class, ``max_total`` in all) picks the same rows from the candidates as from every row,
    and every copy of a picked record is a candidate; with copies, records of one sample key (a digest
    under two labels, or two digests whose keys collide) and bounds that bind or do not."""
    rng = np.random.default_rng(seed)
    n, classes = int(rng.integers(1, 4000)), int(rng.integers(1, 12))
    cap, max_total = int(rng.integers(1, 600)), int(rng.integers(1, 2000))
    ids = rng.integers(0, max(1, n // int(rng.integers(1, 4))), size=n)  # records repeat
    digests = np.array([i.to_bytes(32, "big") for i in ids.tolist()], dtype="S32")
    keys = rng.integers(0, max(1, n // 2), size=ids.max() + 1).astype(np.uint64)[ids]  # colliding keys
    codes = np.where(rng.random(n) < 0.2, rng.integers(0, classes, size=n), ids % classes)  # some copies relabelled

    def picks(rows):
        order = rows[key_order(keys[rows], digests[rows], codes[rows])]
        return order[first_per_class(digests[order], codes[order], classes, cap, max_total)]

    every = np.arange(n)
    candidates = _candidates(keys, codes, cap, max_total)
    assert np.all(np.diff(candidates) > 0)
    assert picks(candidates).tolist() == picks(every).tolist()
    picked = {(digests[i], codes[i]) for i in picks(every)}
    copies = [i for i in range(n) if (digests[i], codes[i]) in picked]
    assert set(copies) <= set(candidates.tolist())


def test_captured_profile_with_sources_and_worker_processes(tmp_path):
    # sources (some null, filled by the default) order copies in the manifest; partitions hashed in processes
    _write(tmp_path / "data", 4000, 5, 3, seed=7, copies=600, sources=True)
    options = TableOptions(source_column="src")
    fast, slow, _ = _profiles(tmp_path / "data", LocalExecutor(2), options, source="vendor", salt=b"\x07" * 32)
    assert fast == slow


def test_content_columns_named_like_manifest_columns(tmp_path):
    # content columns called digest, source and locator stay content, apart from the pool's keys
    _write(tmp_path / "data", 2000, 4, 2, seed=11, copies=200)
    for path in sorted((tmp_path / "data").iterdir()):
        table = pq.read_table(path)
        pq.write_table(table.rename_columns(["digest", "source", "locator", "label"]), path, row_group_size=700)
    fast, slow, _ = _profiles(tmp_path / "data", InlineExecutor())
    assert fast == slow


def test_capture_gives_up_past_its_budget_and_the_profile_reads_the_table(tmp_path):
    _write(tmp_path / "data", 300, 3, 1, seed=3)
    spec = DatasetSpec(str(tmp_path / "data"), "table")
    hashed = build_manifest(spec, executor=InlineExecutor())
    capture = SampleCapture(None, budget=1)
    capture.merge(hashed.sample)
    assert capture.result().keys is None
    dropped = build_version_profile(hashed.manifest, "table", hashed.columns, spec, captured=capture.result())
    assert dropped.to_bytes() == build_version_profile(hashed.manifest, "table", hashed.columns, spec).to_bytes()


def test_a_locator_missing_from_the_pool_falls_back(tmp_path):
    _write(tmp_path / "data", 300, 3, 1, seed=4)
    spec = DatasetSpec(str(tmp_path / "data"), "table")
    hashed = build_manifest(spec, executor=InlineExecutor())
    sample = sample_manifest(hashed.manifest)
    locators = sample.table.column("locator").to_pylist()
    digests = sample.table.column("digest").to_pylist()
    args = (hashed.columns, spec.options.row_encoding, DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL)
    assert captured_records(hashed.sample, locators, digests, *args) is not None
    assert captured_records(hashed.sample, locators[:-1] + ["part-0.parquet#99999"], digests, *args) is None
    assert captured_records(hashed.sample, locators, digests[::-1], *args) is None  # digests that do not match
    other_rule = (hashed.columns, spec.options.row_encoding, 5, DEFAULT_MAX_TOTAL)
    assert captured_records(hashed.sample, locators, digests, *other_rule) is None
    other_salt = (*args, b"\x01" * 32)  # a pool kept under another sample key
    assert captured_records(hashed.sample, locators, digests, *other_salt) is None


def test_a_tie_at_the_sample_bound_is_left_to_the_manifest_pass(tmp_path):
    """One record's digest under two labels is one sample key: when the total bound falls between
    the two, which one the sample keeps depends on how a pass numbers labels, so the pool does not
    choose the sample; the manifest pass does, and the profile is the one it gives."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(40, 2))
    x[20:] = x[:20]  # every record twice, the copy under the other label
    labels = ["a"] * 20 + ["b"] * 20
    pq.write_table(pa.table({"x": x[:, 0], "y": x[:, 1], "label": labels}), tmp_path / "t.parquet")
    spec = DatasetSpec(str(tmp_path / "t.parquet"), "table")
    salt = b"\x05" * 32
    hashed = build_manifest(spec, executor=InlineExecutor(), sample_salt=salt)
    for bound in (1, 3, 7):  # odd: the bound falls between the two labels of one record
        capture = SampleCapture(None, max_total=bound, salt=salt)
        capture.merge(dataclasses.replace(hashed.sample, max_total=bound, copies=np.ones(40, np.int64)))
        pool = capture.result()
        assert pool.keys is not None and pool.copies is None  # kept, but its copies do not decide
        assert pool.sample(DEFAULT_MAX_PER_CLASS, bound, salt) is None
        fast = build_version_profile(hashed.manifest, "table", hashed.columns, spec, captured=pool, sample_salt=salt)
        slow = build_version_profile(hashed.manifest, "table", hashed.columns, spec, sample_salt=salt)
        assert fast.to_bytes() == slow.to_bytes()


def _partition_pools(folder, salt, runs: list[str]) -> list:
    """Each file of ``folder`` hashed as one partition, in file order, under the hashing-run token
    ``runs[i]``, in this process as a worker would; the captured pools."""
    from provenance.sources import build, table_files

    spec = DatasetSpec(str(folder), "table", TableOptions())
    files = table_files.list_table_files(str(folder), None, spec.options.reader_version)
    pools = []
    for run, file in zip(runs, files.files, strict=True):
        one = dataclasses.replace(files, files=[file])
        (task,), _ = build._table_tasks(spec, one, None, None, None, salt, run)
        pools.append(build._hash_partition(task + (None,)).sample)
    return pools


@pytest.mark.parametrize("salt", [None, bytes(range(32))])
def test_a_workers_partitions_of_one_run_start_from_the_limits_the_last_one_reached(tmp_path, salt):
    # 5 classes: the per-class cap (2,000) and the total bound (8,000) are reached in the first file's
    # 30,000 rows, so the second file's rows past them are dropped from its first batch on
    rng = np.random.default_rng(21)
    x = rng.normal(size=(45000, 2))
    x[40000:] = x[rng.integers(0, 40000, 5000)]  # copies of earlier records, most in the other file
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "label": [f"c{v}" for v in rng.integers(0, 5, 45000)]})
    (tmp_path / "data").mkdir()
    pq.write_table(table.slice(0, 30000), tmp_path / "data" / "part-0.parquet", row_group_size=15000)
    pq.write_table(table.slice(30000), tmp_path / "data" / "part-1.parquet", row_group_size=15000)
    carried = _partition_pools(tmp_path / "data", salt, ["run-1"] * 2)
    fresh = _partition_pools(tmp_path / "data", salt, ["run-2", "run-3"])  # no limits passed on
    assert carried[0].keys.equals(fresh[0].keys)
    # the first file's pool bounds the second's: its rows past the first file's limits were dropped
    limit = _prefixes(carried[0].keys.column("digest"), salt).max()
    keys = [_prefixes(pools[1].keys.column("digest"), salt).max() for pools in (carried, fresh)]
    assert keys[0] <= limit < keys[1]
    # what the main process merges from either is the same sample, and the sample the manifest gives
    merged = []
    for pools in (carried, fresh):
        capture = SampleCapture(None, salt=salt)
        for pool in pools:
            capture.merge(pool)
        merged.append(capture.result())
    a, b = (m.sample(DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, salt) for m in merged)
    assert (a is None) == (b is None)
    if salt is not None:  # the pool chooses the sample only under a salt
        assert a is not None and b is not None
        assert a.table.equals(b.table) and a.copies.tolist() == b.copies.tolist()
        whole = sample_manifest(build_manifest(DatasetSpec(str(tmp_path / "data"), "table")).manifest, salt=salt)
        assert a.table.equals(whole.table) and a.copies.tolist() == whole.copies.tolist()
    fast, slow, _ = _profiles(tmp_path / "data", InlineExecutor(), salt=salt)  # and the whole commit's profile
    assert fast == slow


def test_limits_never_pass_from_one_hashing_run_to_another(tmp_path):
    # a worker that hashed another dataset (another run token) first: its limits would drop rows of this
    # one that the sample needs; each run starts bare, and a long-lived worker keeps only the newest run's
    from provenance.sources import sample_capture

    salt = b"\x03" * 32
    _write(tmp_path / "big", 30000, 2, 1, seed=1, group=15000)  # its limits: keys far below most of "small"'s
    _write(tmp_path / "small", 3000, 2, 1, seed=2)
    _partition_pools(tmp_path / "big", salt, ["run-big"])
    assert [key.split("\0")[0] for key in sample_capture._carried] == ["run-big"]
    (after,) = _partition_pools(tmp_path / "small", salt, ["run-small"])
    (alone,) = _partition_pools(tmp_path / "small", salt, ["run-alone"])
    assert after.keys.equals(alone.keys) and after.copies.tolist() == alone.copies.tolist()
    assert [key.split("\0")[0] for key in sample_capture._carried] == ["run-alone"]
