"""Versions at git revisions of a real git + DVC repository (built with the ``git`` and ``dvc`` commands).

A symbolic revision (``HEAD``, a branch) is resolved to its commit id once, before reading:
the version stores the id, so it means the same data tomorrow. ``workspace`` names the
working copy in ``prov diff``, as in DVC. Data DVC no longer has (``dvc gc``) is exit 2
naming the path, the revision and the missing object.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support import DVC, build_template, digits_table, make_dvc_repo, run

DATA = "repo/data/train.parquet"


def _build(prov, folder: Path) -> None:
    make_dvc_repo(folder / "repo", {"d1": digits_table(200), "d2": digits_table(300)}, digits_table(250))


@pytest.fixture(scope="session")
def template_git_revisions(tmp_path_factory):
    return build_template(tmp_path_factory, "git_revisions", _build)


@pytest.fixture
def repo(template_git_revisions, workdir) -> Path:
    return workdir / "repo"


def _commit_id(repo: Path, rev: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "rev-parse", rev], capture_output=True, text=True, check=True
    ).stdout.strip()


def _add_revision(repo: Path, table, tag: str) -> None:
    """Commit ``table`` as the next revision (HEAD moves), keeping the working copy as it was."""
    working = pq.read_table(repo / "data/train.parquet")
    pq.write_table(table, repo / "data/train.parquet")
    run(DVC, "add", "-q", "data/train.parquet", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", tag, cwd=repo)
    run("git", "tag", tag, cwd=repo)
    pq.write_table(working, repo / "data/train.parquet")


def _dataset(prov, tag: str) -> dict:
    return json.loads(prov("show", tag, "--json").stdout)["dataset"]


def test_head_is_stored_as_its_commit_and_still_means_it_after_head_moves(prov, store, keypair, repo):
    r = prov(
        "commit",
        DATA,
        "--rev",
        "HEAD",
        "--tag",
        "vh",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert _dataset(prov, "vh")["rev"] == _commit_id(repo, "d2")
    assert json.loads(r.stdout)["profile"]["status"] == "ok"  # a --rev version gets its reference profile
    _add_revision(repo, digits_table(350), "d3")
    r = prov("verify", "--store-keys", "vh")
    assert r.exit_code == 0, r.output  # d2's data, not today's HEAD (which used to be "tampered")
    r = prov("diff", "HEAD~1", "HEAD", "--path", DATA, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["summary"]["added"] == 50  # used to be 0: the version of "HEAD" was reused for today's HEAD
    assert report["base"]["reused_version"] == "vh" and report["new"]["reused_version"] is None
    assert report["new"]["commit"] == _commit_id(repo, "d3")


def test_a_branch_is_stored_as_its_commit(prov, store, keypair, repo):
    run("git", "branch", "feature", "d1", cwd=repo)
    r = prov(
        "commit",
        DATA,
        "--rev",
        "feature",
        "--tag",
        "vf",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
    )
    assert r.exit_code == 0, r.output
    run("git", "branch", "-f", "feature", "d2", cwd=repo)
    assert _dataset(prov, "vf")["rev"] == _commit_id(repo, "d1")
    r = prov("verify", "--store-keys", "vf", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["records"] == 200


def test_diff_of_a_revision_against_the_workspace(prov, workdir, repo):
    r = prov("diff", "d2", "workspace", "--path", DATA, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert (report["summary"]["records_base"], report["summary"]["records_new"]) == (300, 250)
    assert report["summary"]["removed"] == 50 and report["summary"]["added"] == 0
    assert report["new"]["name"] == "workspace" and report["new"]["commit"] is None
    assert report["base"]["commit"] == _commit_id(repo, "d2")


def test_data_removed_by_dvc_gc_is_an_input_error_naming_what_is_missing(prov, store, keypair, repo):
    r = prov(
        "commit", DATA, "--rev", "d1", "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path
    )
    assert r.exit_code == 0, r.output
    run(DVC, "gc", "--workspace", "--force", "-q", cwd=repo)  # keeps only what HEAD's .dvc files name (d2)
    md5 = r"object md5 [0-9a-f]{32} is in neither DVC's cache nor a remote \(removed by `dvc gc`\?\)"
    for argv in (
        ["verify", "--store-keys", "v1"],
        ["commit", DATA, "--rev", "d1", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path],
    ):
        r = prov(*argv)
        assert r.exit_code == 2, (argv, r.output)
        assert r.stderr.count("\n") == 1 and "data/train.parquet at revision " in r.stderr, r.stderr
        assert re.search(md5, r.stderr), r.stderr
    assert prov("diff", "d1", "d2", "--path", DATA).exit_code == 0  # v1's signed manifest stands in for d1's data
    os.chdir(repo)  # without a store (PROV_STORE names none), d1's data must be read, and is gone
    r = prov("diff", "d1", "d2", "--path", "data/train.parquet", env={"PROV_STORE": str(repo / "no-store")})
    assert r.exit_code == 2 and re.search(md5, r.stderr), r.output


def test_a_table_git_tracks_itself_reads_at_a_revision(prov, store, keypair, repo, monkeypatch):
    """A small Parquet or CSV file kept in git (no `dvc add`) reads at --rev: git hands its blob
    out as a stream that cannot seek, and Parquet's footer and CSV's sniffing seek."""
    from pyarrow import csv

    from provenance.sources.dvc import CheckedDVCFileSystem

    pq.write_table(digits_table(60), repo / "small.parquet")
    csv.write_csv(digits_table(40), repo / "small.csv")
    run("git", "add", "small.parquet", "small.csv", cwd=repo)
    run("git", "commit", "-qm", "small tables kept in git", cwd=repo)
    pq.write_table(digits_table(70), repo / "small.parquet")  # the working copy moves on
    monkeypatch.setattr(CheckedDVCFileSystem, "spool_in_memory", 1024)  # the Parquet blob goes to a temp file
    for path, tag, records in (("repo/small.parquet", "gp", 60), ("repo/small.csv", "gc", 40)):
        pin = ("--signer", keypair.public_path)  # the second commit needs a pin (the store then holds a version)
        r = prov("commit", path, "--rev", "HEAD", "--tag", tag, "--key", keypair.private_path, "--json", *pin)
        assert r.exit_code == 0, r.output  # was: "cannot read parquet (seek)" / "File or stream is not seekable"
        assert json.loads(r.stdout)["records"] == records
        assert _dataset(prov, tag)["rev"] == _commit_id(repo, "HEAD")
    r = prov("diff", "HEAD", "workspace", "--path", "repo/small.parquet", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["added"] == 10


def test_status_of_a_revision_version_compares_the_working_copy(prov, store, keypair, repo):
    """`prov status` is `git status`: for a version read at a revision it reads the working copy of
    the path (the revision can never have changed), and says so."""
    from jsonschema import Draft202012Validator

    assert prov("commit", DATA, "--rev", "d2", "--tag", "vr", "--key", keypair.private_path).exit_code == 0
    r = prov("status", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]  # was: "... at git revision ...: unchanged since vr (300 records)"
    assert f"(working copy; vr was read at git revision {_commit_id(repo, 'd2')[:12]}): 50 removed since vr" in first
    assert "(250 records now)" in first
    report = json.loads(prov("status", "--signer", keypair.public_path, "--json").stdout)
    assert report["version_read_at"] == _commit_id(repo, "d2") and report["counts"]["removed"] == 50
    assert Path(report["path"]) == repo / "data/train.parquet"
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "status.schema.json").read_text())
    Draft202012Validator(schema).validate(report)


def test_the_see_all_hint_of_a_revision_diff_keeps_path_and_runs(prov, workdir, repo):
    """The 'all:' hint of `prov diff A B --path P` is a command that runs (it used to drop --path,
    so A and B were looked up as prov versions: 'no such version')."""
    import shlex

    hint = "prov diff d1 d2 --path repo/data/train.parquet --format json"
    r = prov("diff", "d1", "d2", "--path", DATA, env={"COLUMNS": "200"})  # wide: the hint on one line
    assert r.exit_code == 0, r.output
    assert f"Added records (first 10 of 100; all: {hint})" in r.stdout, r.stdout
    assert f"all: `{hint}`" in prov("diff", "d1", "d2", "--path", DATA, "--format", "md").stdout  # html lists 200
    r = prov(*shlex.split(hint)[1:])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["added"] == 100


def test_quarantine_of_a_table_read_at_a_revision_writes_the_filtered_copy(prov, store, keypair, repo):
    """A version committed with --rev can have a source cut out: its data is read at the revision
    and the filtered copy is written beside the path in the working tree (or to --out)."""
    import pyarrow as pa

    table = digits_table(300)
    table = table.append_column("source", pa.array(["vendor"] * 250 + ["crowd"] * 50))
    _add_revision(repo, table, "d3")
    pin = ("--signer", keypair.public_path)
    key = ("--key", keypair.private_path)
    r = prov("commit", DATA, "--rev", "d3", "--source-column", "source", "--tag", "vs", *key, *pin)
    assert r.exit_code == 0, r.output
    r = prov("quarantine", "--from", "vs", "--source", "crowd", "--tag", "vq", *key, *pin)
    assert r.exit_code == 0, r.output  # was: "its data is read at git revision ...; needs a local dataset"
    assert "50 records removed, 250 kept" in r.stdout, r.stdout
    out = repo / "data" / "train.vq.parquet"
    assert pq.read_table(out).num_rows == 250 and set(pq.read_table(out).column("source").to_pylist()) == {"vendor"}
    assert _dataset(prov, "vq")["rev"] is None  # the new version is the local copy, not a revision
    assert prov("verify", "vq", *pin).exit_code == 0
    r = prov("quarantine", "--from", "vs", "--source", "crowd", "--tag", "vq2", "--out", "cut.parquet", *key, *pin)
    assert r.exit_code == 0 and pq.read_table("cut.parquet").num_rows == 250, r.output


def test_revision_diff_messages_say_what_to_type_instead(prov, store, keypair, repo, monkeypatch):
    """Newcomer review 10, finding 5, typed in the repository: each mistake says what to type instead."""
    r = prov("commit", DATA, "--rev", "d1", "--tag", "v1", "--key", keypair.private_path)
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(repo)
    path, d1 = "data/train.parquet", _commit_id(repo, "d1")

    r = prov("diff", "v1", "workspace", "--path", path)  # was: "unknown git revision 'v1'"
    assert r.exit_code == 2 and r.stderr == (
        "Error: v1: a prov version, not a git revision; with --path both sides are git revisions or workspace "
        "(to compare the working copy with v1: prov status data/train.parquet --version v1)\n"
    )
    assert prov("status", path, "--version", "v1", "--signer", keypair.public_path).exit_code == 0

    r = prov("diff", "d1", "d2")  # was: "no such version" alone
    assert r.exit_code == 2 and r.stderr.endswith(
        "(a git revision? give the file to read at it: prov diff d1 d2 --path FILE)\n"
    ), r.stderr

    r = prov("diff", "d1", "d2", "--path", "data/trian.parquet")  # was: the revision twice, in full
    assert r.exit_code == 2 and r.stderr == (
        f"Error: data/trian.parquet: no such file or folder at revision {d1[:12]} "
        "(did you mean 'data/train.parquet'?)\n"
    )

    branch = subprocess.run(
        ["git", "branch", "--show-current"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    r = prov("diff", branch[:-1], "d2", "--path", path)  # a README's `main` where the branch is `master`
    assert r.exit_code == 2 and r.stderr == (
        f"Error: {branch[:-1]}: not a git revision in {repo} (did you mean {branch!r}?) "
        f"(branches: {branch}; tags: d1, d2)\n"
    )

    r = prov("diff", "d1", "d2", "--path", path, "--detect")
    assert r.exit_code == 2 and r.stderr == (
        "Error: --detect works on prov versions (their reference profiles): commit each side first, e.g. "
        "prov commit data/train.parquet --rev d2 --tag V, then prov diff BASE V --detect\n"
    )

    r = prov("diff", "d1", "d2", "--path", path, env={"COLUMNS": "200"})  # d1 read from v1's signed manifest
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == (
        f"prov diff d1 at {d1[:10]} (200 records; v1's signed manifest) → d2 at {_commit_id(repo, 'd2')[:10]} "
        "(300 records)"
    )


def test_diff_sample_of_a_revision_is_in_digest_order_and_says_a_source_can_choose_it(prov, workdir, repo):
    """A revision signs no sample salt (attack review 23a, A23a-3): `prov diff A B --class C` falls back to digest
    order, which a source can grind, and says so (`order: digest` and a line), rather than claim a fair draw."""
    full = json.loads(prov("diff", "d1", "d2", "--path", DATA, "--json", "--limit", "0").stdout)["changes"]["added"]
    label = full[0]["label"]
    wanted = sorted(a["digest"] for a in full if a["label"] == label)
    r = prov("diff", "d1", "d2", "--path", DATA, "--class", label, "--sample", "3", "--json")
    assert r.exit_code == 0, r.output
    sample = json.loads(r.stdout)
    assert sample["order"] == "digest" and [s["digest"] for s in sample["sample"]] == wanted[:3], sample
    text = prov("diff", "d1", "d2", "--path", DATA, "--class", label, "--sample", "3").stdout
    assert "The first by digest: d2 signs no sample salt, so a source that grinds its records' content" in text, text
