"""A real dask.distributed LocalCluster (two worker processes) gives the manifests and
findings of the local executor, digest for digest."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from support import digits_table

distributed = pytest.importorskip("distributed")

from provenance.detectors import Delta  # noqa: E402
from provenance.detectors.parallel import run_detectors_parallel  # noqa: E402
from provenance.detectors.registry import run_detectors  # noqa: E402
from provenance.executor import DaskExecutor, InlineExecutor, LocalExecutor  # noqa: E402
from provenance.profiles.reference import build_profile  # noqa: E402
from provenance.sources.build import build_manifest  # noqa: E402
from provenance.sources.interface import DatasetSpec  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as c,
        distributed.Client(c) as client,
    ):
        yield c, client


def test_dask_manifests_equal_local_ones(cluster, workdir, monkeypatch):
    import provenance.sources.build as dataset

    _, client = cluster
    t = digits_table(1500)
    (workdir / "tables" / "b").mkdir(parents=True)
    pq.write_table(t.slice(0, 900), workdir / "tables" / "a.parquet", row_group_size=100)
    t.slice(900).to_pandas().to_csv(workdir / "tables" / "b" / "c.csv", index=False)
    rng = np.random.default_rng(0)
    for i in range(120):
        (workdir / "tree" / f"c{i % 3}").mkdir(parents=True, exist_ok=True)
        (workdir / "tree" / f"c{i % 3}" / f"{i}.bin").write_bytes(rng.bytes(int(rng.integers(0, 5000))))
    monkeypatch.setattr(dataset, "_ROWS_PER_PARTITION", 200)  # several tasks per file, spread over workers
    dask = DaskExecutor(client=client)
    assert dask.workers == 2 and not dask.shared_filesystem
    for data in ("tables", "tree"):
        spec = DatasetSpec(str(workdir / data))
        local = build_manifest(spec, executor=LocalExecutor(2))
        remote = build_manifest(spec, executor=dask)
        assert remote.manifest.to_bytes() == local.manifest.to_bytes()
        assert remote.manifest.root == build_manifest(spec, executor=InlineExecutor()).manifest.root
    # the tasks really ran on both worker processes
    assert len({ws for ws in client.run(lambda: 1)}) == 2


def test_dask_findings_equal_local_ones(cluster):
    _, client = cluster
    t = digits_table()
    X = np.stack([t.column(c).to_numpy() for c in t.column_names if c != "label"], axis=1).astype(np.float32)
    y = np.array(t.column("label").to_pylist())
    digests = [i.to_bytes(4, "big") + bytes(28) for i in range(len(X))]
    profile = build_profile(X[:1300], y[:1300], digests[:1300], featurizer="numeric/v1", sources=["v"] * 1300)
    labels = [str((int(l) + 1) % 10) if i % 9 == 0 else l for i, l in enumerate(y[1300:])]
    n = len(X) - 1300
    delta = Delta(digests[1300:], X[1300:], labels, ["v"] * n, ["added"] * n, [None] * n)
    serial = run_detectors(profile, delta)
    remote = run_detectors_parallel(profile, delta, executor=DaskExecutor(client=client))

    def as_json(rs):
        return json.dumps(
            [
                [
                    r.detector,
                    r.status,
                    r.error,
                    r.threshold,
                    [[f.digest, f.score, f.flagged, f.explanation] for f in r.findings],
                ]
                for r in rs
            ]
        )

    assert as_json(remote) == as_json(serial)
    assert any(f.flagged for r in remote for f in r.findings)


def test_prov_commit_with_a_dask_url(cluster, prov, workdir, keypair):
    c, _ = cluster
    pq.write_table(digits_table(400), workdir / "d.parquet", row_group_size=100)
    assert prov("init").exit_code == 0
    res = prov(
        "commit",
        "d.parquet",
        "--tag",
        "v1",
        "--key",
        keypair.private_path,
        "--executor",
        c.scheduler_address.replace("tcp://", "dask://"),
        "--json",
    )
    assert res.exit_code == 0, res.output
    want = build_manifest(DatasetSpec(str(workdir / "d.parquet")), executor=InlineExecutor()).manifest
    assert json.loads(res.output)["merkle_root"] == want.root.hex()
