"""A real dask.distributed LocalCluster (two worker processes) gives the manifests of the
local executor, digest for digest."""

from __future__ import annotations

import json

import distributed  # the test extra installs it: a missing Dask fails here, it does not skip
import numpy as np
import pyarrow.parquet as pq
import pytest

from provenance.executor import DaskExecutor, InlineExecutor, LocalExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from support import digits_table


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
        spec = DatasetSpec(str(workdir / data), options=TableOptions(tree_reader="files"))
        local = build_manifest(spec, executor=LocalExecutor(2))
        remote = build_manifest(spec, executor=dask)
        assert remote.manifest.to_bytes() == local.manifest.to_bytes()
        assert remote.manifest.root == build_manifest(spec, executor=InlineExecutor()).manifest.root
    # the tasks really ran on both worker processes
    assert len({ws for ws in client.run(lambda: 1)}) == 2


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
