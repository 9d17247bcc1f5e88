"""``prov diff REV1 REV2 --path P`` on a real git + DVC repository."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pytest

from support import digits_table, make_dvc_repo


@pytest.fixture
def dvc_repo(workdir):
    first = digits_table(300)
    labels = first.column("label").to_pylist()
    second = digits_table(340).slice(10)  # 10 removed, 40 added
    flipped = [
        ("8" if (i < 20 and labels[i + 10] == "1") else v) for i, v in enumerate(second.column("label").to_pylist())
    ]
    second = second.set_column(second.schema.get_field_index("label"), "label", pa.array(flipped))
    repo = make_dvc_repo(workdir / "repo", {"d1": first, "d2": second}, digits_table(50))
    relabels = sum(1 for i in range(10, 30) if labels[i] == "1")
    return repo, relabels


def test_diff_of_two_git_revisions_through_dvc(prov, workdir, dvc_repo):
    repo, relabels = dvc_repo
    os.chdir(repo)  # no prov store: git revisions need none
    r = prov("diff", "d1", "d2", "--path", "data/train.parquet", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    s = report["summary"]
    assert (s["records_base"], s["records_new"], s["added"], s["removed"], s["relabeled"]) == (
        300,
        330,
        40,
        10,
        relabels,
    )
    assert report["base"]["kind"] == "git" and report["base"]["commit"] and report["base"]["reused_version"] is None
    assert all(p["new"] == "8" for p in report["relabel_pairs"])


def test_committed_versions_of_the_revision_are_reused(prov, workdir, store, keypair, dvc_repo):
    repo, relabels = dvc_repo
    r = prov("commit", "repo/data/train.parquet", "--rev", "d1", "--tag", "v1", "--key", keypair.private_path)
    assert r.exit_code == 0, r.output
    r = prov("diff", "d1", "d2", "--path", "repo/data/train.parquet", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["base"]["reused_version"] == "v1" and report["base"]["signature"] == "ok"
    assert report["new"]["reused_version"] is None
    assert report["summary"]["relabeled"] == relabels


def test_unknown_revision(prov, workdir, dvc_repo):
    repo, _ = dvc_repo
    os.chdir(repo)
    r = prov("diff", "d1", "nope", "--path", "data/train.parquet")
    assert r.exit_code == 2 and "unknown git revision 'nope'" in r.stderr
