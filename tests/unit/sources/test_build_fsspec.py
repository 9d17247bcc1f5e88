"""Datasets read through fsspec URLs (as DVC remotes and object storage are): the same
manifest as the same bytes on local disk, with no local copy."""

from __future__ import annotations

import json

import fsspec
import numpy as np
import pyarrow.parquet as pq
import pytest

from provenance.errors import InputError
from provenance.executor import InlineExecutor, LocalExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from provenance.store import Store
from support import digits_table


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    root = f"/prov-test-{np.random.default_rng().integers(1 << 40)}"
    yield fs, root
    fs.rm(root, recursive=True)


def _copy_up(fs, local, remote):
    for p in sorted(local.rglob("*")):
        if p.is_file():
            fs.pipe(f"{remote}/{p.relative_to(local).as_posix()}", p.read_bytes())


def test_a_table_folder_on_memory_url_hashes_like_the_local_folder(workdir, memfs):
    fs, root = memfs
    local = workdir / "tables"
    (local / "part").mkdir(parents=True)
    t = digits_table(700)
    pq.write_table(t.slice(0, 400), local / "a.parquet", row_group_size=64)
    t.slice(400).to_pandas().to_csv(local / "part" / "b.csv", index=False)
    _copy_up(fs, local, root + "/tables")
    want = build_manifest(DatasetSpec(str(local)), executor=InlineExecutor())
    for executor in (InlineExecutor(), LocalExecutor(2)):
        got = build_manifest(DatasetSpec(f"memory://{root}/tables"), executor=executor)
        assert got.manifest.to_bytes() == want.manifest.to_bytes()
        assert got.columns == want.columns and got.files == 2
    one = build_manifest(DatasetSpec(f"memory://{root}/tables/a.parquet"), executor=LocalExecutor(2))
    assert one.manifest.root == build_manifest(DatasetSpec(str(local / "a.parquet"))).manifest.root


def test_a_file_tree_on_memory_url_and_file_url(workdir, memfs):
    fs, root = memfs
    rng = np.random.default_rng(2)
    local = workdir / "tree"
    for i in range(40):
        (local / f"k{i % 4}").mkdir(parents=True, exist_ok=True)
        (local / f"k{i % 4}" / f"{i}.bin").write_bytes(rng.bytes(int(rng.integers(1, 4000))))
    _copy_up(fs, local, root + "/tree")
    every_file = TableOptions(tree_reader="files")  # a tree of .bin files, not images
    want = build_manifest(DatasetSpec(str(local), options=every_file)).manifest
    assert (
        build_manifest(DatasetSpec(f"memory://{root}/tree"), executor=LocalExecutor(2)).manifest.to_bytes()
        == want.to_bytes()
    )
    assert build_manifest(DatasetSpec(f"file://{local}", options=every_file)).manifest.to_bytes() == want.to_bytes()
    # files plus a labels CSV, both on the remote filesystem
    fs.pipe(f"{root}/labels.csv", b"path,label\nk0/0.bin,zero\nk1/1.bin,one\n")
    m = build_manifest(DatasetSpec(f"memory://{root}/tree", labels_csv=f"memory://{root}/labels.csv")).manifest
    assert m.label_counts() == {"one": 1, "zero": 1}


def test_missing_remote_paths_and_bad_urls_are_input_errors(memfs):
    fs, root = memfs
    with pytest.raises(InputError, match="no such file or folder"):
        build_manifest(DatasetSpec(f"memory://{root}/nothing"))
    with pytest.raises(InputError, match="cannot open this URL"):
        build_manifest(DatasetSpec("nosuchprotocol://bucket/x"))
    fs.pipe(f"{root}/flat/a.bin", b"x")
    with pytest.raises(InputError, match="not inside a <label>/ folder"):
        build_manifest(DatasetSpec(f"memory://{root}/flat", kind="tree"))


def test_prov_commit_reads_a_memory_url(prov, workdir, keypair, memfs):
    fs, root = memfs
    pq.write_table(digits_table(300), workdir / "d.parquet", row_group_size=100)
    fs.pipe(f"{root}/d.parquet", (workdir / "d.parquet").read_bytes())
    assert prov("init").exit_code == 0
    res = prov(
        "commit",
        f"memory://{root}/d.parquet",
        "--tag",
        "v1",
        "--key",
        keypair.private_path,
        "--executor",
        "local:2",
        "--json",
    )
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    want = build_manifest(DatasetSpec(str(workdir / "d.parquet"))).manifest
    assert got["records"] == 300 and got["merkle_root"] == want.root.hex()
    assert Store.open().version("v1")["records"] == 300
