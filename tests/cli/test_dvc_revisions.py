"""Versions read through DVC at git revisions, on a real git + DVC repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from support import digits_table

DVC = shutil.which("dvc") or os.path.join(os.path.dirname(sys.executable), "dvc")


def run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def dvc_repo(workdir):
    repo = workdir / "repo"
    (repo / "data").mkdir(parents=True)
    run("git", "init", "-q", cwd=repo)
    run("git", "config", "user.email", "t@example.com", cwd=repo)
    run("git", "config", "user.name", "t", cwd=repo)
    run(DVC, "init", "-q", cwd=repo)
    run(DVC, "config", "core.analytics", "false", cwd=repo)
    for tag, n in (("d1", 200), ("d2", 300)):
        pq.write_table(digits_table(n), repo / "data" / "train.parquet")
        run(DVC, "add", "-q", "data/train.parquet", cwd=repo)
        run("git", "add", "-A", cwd=repo)
        run("git", "commit", "-qm", f"data {tag}", cwd=repo)
        run("git", "tag", tag, cwd=repo)
    # the working copy now holds yet other data, so the revisions must really be read from DVC
    pq.write_table(digits_table(50), repo / "data" / "train.parquet")
    return repo


def test_commit_at_two_tags_reads_each_revision_through_dvc(prov, workdir, store, keypair, dvc_repo):
    for tag, rev in (("v1", "d1"), ("v2", "d2")):
        r = prov("commit", "repo/data/train.parquet", "--rev", rev, "--tag", tag, "--key", keypair.private_path, "--json")
        assert r.exit_code == 0, r.output
    log = {v["tag"]: v for v in json.loads(prov("log", "--json").stdout)["versions"]}
    assert log["v1"]["records"] == 200 and log["v2"]["records"] == 300
    # the same records committed from a local copy give the same Merkle root
    pq.write_table(digits_table(200), workdir / "local.parquet")
    r = prov("commit", "local.parquet", "--tag", "local", "--key", keypair.private_path, "--json")
    assert json.loads(r.stdout)["merkle_root"] == log["v1"]["merkle_root"]
    # verify re-reads the revision through DVC, not the working copy
    os.chdir(workdir / "repo")
    r = prov("verify", "v1")
    assert r.exit_code == 0, r.output


def test_unknown_revision_is_an_input_error(prov, workdir, store, keypair, dvc_repo):
    r = prov("commit", "repo/data/train.parquet", "--rev", "no-such-tag", "--tag", "v1", "--key", keypair.private_path)
    assert r.exit_code == 2 and "no-such-tag" in r.stderr
