"""File trees at a git revision of a real git + DVC repository (built with ``dvc``) are read by the
same reader as on disk: ``--tree-reader``'s rules, ``--labels-csv``, the listing and the Merkle root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from provenance.executor import InlineExecutor
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from support import DVC, Prov, build_template, run


def build_tree_repo(prov: Prov, folder: Path) -> None:
    """``repo/``: an ImageFolder tree ``data`` (cat/0.png, cat/2.png, dog/1.png and a stray
    ``cat/notes.txt`` ImageFolder skips) added with ``dvc add`` and committed; ``labels.csv``
    (untracked) labels both cats as dogs. The working copy is the committed tree."""
    repo = folder / "repo"
    for label, i in (("cat", 0), ("cat", 2), ("dog", 1)):
        (repo / "data" / label).mkdir(parents=True, exist_ok=True)
        Image.new("L", (4, 4), 40 * i + 7).save(repo / "data" / label / f"{i}.png")
    (repo / "data" / "cat" / "notes.txt").write_text("taken on a Tuesday\n")
    run("git", "init", "-q", cwd=repo)
    run("git", "config", "user.email", "t@example.com", cwd=repo)
    run("git", "config", "user.name", "t", cwd=repo)
    run(DVC, "init", "-q", cwd=repo)
    run(DVC, "config", "core.analytics", "false", cwd=repo)
    run(DVC, "add", "-q", "data", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", "data", cwd=repo)
    (repo / "labels.csv").write_text("path,label\ncat/0.png,dog\ncat/2.png,dog\ndog/1.png,dog\n")


@pytest.fixture(scope="session")
def template_dvc_tree_repo(tmp_path_factory):
    return build_template(tmp_path_factory, "dvc_tree_repo", build_tree_repo)


@pytest.fixture
def tree_repo(template_dvc_tree_repo, workdir) -> Path:
    """The repository (built once per session, copied here)."""
    return workdir / "repo"


def _summary(prov, *args) -> dict:
    r = prov("diff", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["summary"]


def _changes(summary: dict) -> tuple[int, int, int]:
    return summary["added"], summary["removed"], summary["relabeled"]


def test_an_unchanged_tree_diffs_clean_against_its_revision(prov, tree_repo, monkeypatch):
    monkeypatch.chdir(tree_repo)  # no prov store: git revisions need none
    s = _summary(prov, "HEAD", "workspace", "--path", "data")
    assert (s["records_base"], s["records_new"]) == (3, 3)  # notes.txt is skipped on both sides
    assert _changes(s) == (0, 0, 0)
    s = _summary(prov, "HEAD", "workspace", "--path", "data", "--labels-csv", "labels.csv")
    assert _changes(s) == (0, 0, 0)


def test_a_tree_at_a_revision_commits_as_the_working_copy_does(prov, workdir, store, keypair, tree_repo):
    key = keypair.private_path
    for args in (("--tag", "disk"), ("--rev", "HEAD", "--tag", "rev")):
        r = prov("commit", "repo/data", *args, "--key", key, "--signer", keypair.public_path, "--json")
        assert r.exit_code == 0, r.output
    disk, rev = store.version("disk"), store.version("rev")
    assert disk["merkle_root"] == rev["merkle_root"]
    assert prov("verify", "rev", "--signer", keypair.public_path).exit_code == 0
    on_disk = build_manifest(DatasetSpec(str(tree_repo / "data")), executor=InlineExecutor())
    at_rev = build_manifest(DatasetSpec(str(tree_repo / "data"), rev="HEAD"))
    assert at_rev.listing_fact() == on_disk.listing_fact()
    assert on_disk.listing_fact()["ignoredPaths"] == ["cat/notes.txt"]
    assert at_rev.classes == on_disk.classes == ["cat", "dog"]


def test_labels_csv_at_a_revision_gives_the_csv_labels(prov, workdir, store, keypair, tree_repo):
    key = keypair.private_path
    csv = ("--labels-csv", "repo/labels.csv")
    for args in (
        ("--rev", "HEAD", "--tag", "folders"),
        ("--rev", "HEAD", *csv, "--tag", "csv"),
        (*csv, "--tag", "disk"),
    ):
        r = prov("commit", "repo/data", *args, "--key", key, "--signer", keypair.public_path, "--json")
        assert r.exit_code == 0, r.output
    assert store.version("csv")["merkle_root"] == store.version("disk")["merkle_root"]
    s = _summary(prov, "folders", "csv")
    assert _changes(s) == (0, 0, 2)  # both cats became dogs


def test_hf_imagefolder_at_a_revision_is_refused_by_name(prov, tree_repo, monkeypatch):
    monkeypatch.chdir(tree_repo)
    r = prov("diff", "HEAD", "workspace", "--path", "data", "--tree-reader", "hf-imagefolder")
    assert r.exit_code == 2 and "hf-imagefolder is not read at a git revision" in r.stderr
