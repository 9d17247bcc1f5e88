"""The executor interface: settings, ordering, and identical manifests and findings whatever runs them."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from provenance.detectors import Delta
from provenance.detectors.base import Detector, DetectorResult, Finding
from provenance.detectors.parallel import run_detectors_parallel
from provenance.detectors.registry import _detectors, register_detector, run_detectors
from provenance.errors import InputError
from provenance.executor import DaskExecutor, InlineExecutor, LocalExecutor, executor_from
from provenance.profiles.reference import build_profile
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
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
    (workdir / ".prov").mkdir()
    (workdir / ".prov" / "config.toml").write_text('[scale]\nexecutor = "local:2"\n')
    assert repr(executor_from()) == "local:2"
    monkeypatch.setenv("PROV_EXECUTOR", "inline")  # the environment wins over the file
    assert isinstance(executor_from(), InlineExecutor)
    monkeypatch.delenv("PROV_EXECUTOR")
    (workdir / ".prov" / "config.toml").write_text("[scale]\nexecutor = 3\n")
    with pytest.raises(InputError, match="config.toml"):
        executor_from()


def test_unreachable_scheduler_is_an_input_error():
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9")


def test_imap_keeps_item_order_with_a_small_window():
    items = list(range(40))
    assert list(LocalExecutor(2).imap(_square, items, window=3)) == [i * i for i in items]
    assert LocalExecutor(2).map(_square, items) == InlineExecutor().map(_square, items)


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
    spec = DatasetSpec(str(workdir / "tree"))
    one = build_manifest(spec, executor=InlineExecutor())
    two = build_manifest(spec, executor=LocalExecutor(2))
    assert one.manifest.to_bytes() == two.manifest.to_bytes() and len(one.manifest) == 150


@pytest.fixture(scope="module")
def profile_and_delta():
    table = digits_table()
    X = np.stack([table.column(c).to_numpy() for c in table.column_names if c != "label"], axis=1).astype(np.float32)
    y = np.array(table.column("label").to_pylist())
    digests = [bytes([i % 256, i // 256]) + bytes(30) for i in range(len(X))]
    base = slice(0, 1200)
    profile = build_profile(X[base], y[base], digests[base], featurizer="numeric/v1", sources=["v"] * 1200)
    labels = list(y[1200:])
    for i in range(0, 40, 4):  # a few flipped labels so detectors have something to flag
        labels[i] = str((int(labels[i]) + 3) % 10)
    n = len(X) - 1200
    delta = Delta(digests[1200:], X[1200:], labels, ["v"] * n, ["added"] * n, [None] * n)
    return profile, delta


def _same(a: list[DetectorResult], b: list[DetectorResult]) -> None:
    assert [r.detector for r in a] == [r.detector for r in b]
    for x, y in zip(a, b):
        assert (x.status, x.error, x.threshold) == (y.status, y.error, y.threshold), x.detector
        assert [(f.digest, f.score, f.flagged, f.explanation) for f in x.findings] == [
            (f.digest, f.score, f.flagged, f.explanation) for f in y.findings
        ], x.detector


def test_parallel_detection_gives_the_serial_results(profile_and_delta):
    profile, delta = profile_and_delta
    serial = run_detectors(profile, delta)
    assert any(f.flagged for r in serial for f in r.findings)
    _same(run_detectors_parallel(profile, delta, executor=LocalExecutor(2)), serial)
    _same(run_detectors_parallel(profile, delta, executor=InlineExecutor()), serial)


class _DistanceToMean(Detector):
    """Scores each record on its own: it may be split into chunks."""

    name = "test-distance"
    families = ("outlier",)
    record_independent = True

    def run(self, profile, delta, fpr):
        d = np.linalg.norm(profile.standardize(delta.X), axis=1)
        scores = d / (1.0 + d)
        return DetectorResult(
            self.name,
            "ok",
            None,
            0.9,
            [
                Finding(delta.hex(i), self.name, float(s), bool(s > 0.9), f"distance {d[i]:.2f}")
                for i, s in enumerate(scores)
            ],
        )


class _Crashes(Detector):
    name = "test-crashes"
    families = ("outlier",)
    record_independent = True

    def run(self, profile, delta, fpr):
        raise ValueError("boom")


def test_chunked_detectors_match_whole_runs_and_crashes_are_reported(profile_and_delta):
    profile, delta = profile_and_delta
    register_detector(_DistanceToMean.name, _DistanceToMean)
    register_detector(_Crashes.name, _Crashes)
    try:
        names = [_DistanceToMean.name, _Crashes.name, "duplicates"]
        serial = run_detectors(profile, delta, names)
        chunked = run_detectors_parallel(profile, delta, names, executor=LocalExecutor(2), chunk_records=97)
        _same(chunked, serial)
        crashed = [r for r in chunked if r.detector == _Crashes.name][0]
        assert crashed.status == "error" and "boom" in crashed.error
    finally:
        _detectors.pop(_DistanceToMean.name, None)
        _detectors.pop(_Crashes.name, None)
