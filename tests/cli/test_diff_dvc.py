"""``prov diff REV1 REV2 --path P`` on a real git + DVC repository."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

from support import Prov, build_template, digits_table, make_dvc_repo


def build_dvc_repo(prov: Prov, folder: Path) -> int:
    """A git+DVC repository in ``repo/``: d1 holds 300 digits, d2 drops 10, adds 40 and relabels
    the class-1 records among rows 10-29 as 8; returns how many records d2 relabels."""
    first = digits_table(300)
    labels = first.column("label").to_pylist()
    second = digits_table(340).slice(10)  # 10 removed, 40 added
    flipped = [
        ("8" if (i < 20 and labels[i + 10] == "1") else v) for i, v in enumerate(second.column("label").to_pylist())
    ]
    second = second.set_column(second.schema.get_field_index("label"), "label", pa.array(flipped))
    make_dvc_repo(folder / "repo", {"d1": first, "d2": second}, digits_table(50))
    return sum(1 for i in range(10, 30) if labels[i] == "1")


@pytest.fixture(scope="session")
def template_dvc_repo(tmp_path_factory):
    return build_template(tmp_path_factory, "diff_dvc_repo", build_dvc_repo)


@pytest.fixture
def dvc_repo(template_dvc_repo, workdir) -> tuple[Path, int]:
    """(the repository, built once per session and copied here; the number of relabels)."""
    return workdir / "repo", template_dvc_repo.facts


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
    assert r.exit_code == 2 and "Error: nope: not a git revision in " in r.stderr and "tags: d1, d2)" in r.stderr
