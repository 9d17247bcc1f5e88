"""Versions read through DVC at git revisions, on a real git + DVC repository."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support import Prov, build_template, digits_table, make_dvc_repo


def build_dvc_repo(prov: Prov, folder: Path) -> None:
    """A git+DVC repository in ``repo/``: tags d1 (200 digits) and d2 (300); 50 in the working copy."""
    make_dvc_repo(folder / "repo", {"d1": digits_table(200), "d2": digits_table(300)}, digits_table(50))


@pytest.fixture(scope="session")
def template_dvc_repo(tmp_path_factory):
    return build_template(tmp_path_factory, "dvc_revisions_repo", build_dvc_repo)


@pytest.fixture
def dvc_repo(template_dvc_repo, workdir) -> Path:
    """The repository (built once per session, copied here)."""
    return workdir / "repo"


def test_commit_at_two_tags_reads_each_revision_through_dvc(prov, workdir, store, keypair, dvc_repo):
    for tag, rev in (("v1", "d1"), ("v2", "d2")):
        r = prov(
            "commit",
            "repo/data/train.parquet",
            "--rev",
            rev,
            "--tag",
            tag,
            "--key",
            keypair.private_path,
            "--signer",
            keypair.public_path,
            "--json",
        )
        assert r.exit_code == 0, r.output
    log = {v["tag"]: v for v in json.loads(prov("log", "--json").stdout)["versions"]}
    assert log["v1"]["records"] == 200 and log["v2"]["records"] == 300
    # the same records committed from a local copy give the same Merkle root
    pq.write_table(digits_table(200), workdir / "local.parquet")
    r = prov(
        "commit",
        "local.parquet",
        "--tag",
        "local",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--json",
    )
    assert json.loads(r.stdout)["merkle_root"] == log["v1"]["merkle_root"]
    # verify re-reads the revision through DVC, not the working copy
    os.chdir(workdir / "repo")
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 0, r.output


def test_unknown_revision_is_an_input_error(prov, workdir, store, keypair, dvc_repo):
    r = prov("commit", "repo/data/train.parquet", "--rev", "no-such-tag", "--tag", "v1", "--key", keypair.private_path)
    assert r.exit_code == 2 and "no-such-tag" in r.stderr
