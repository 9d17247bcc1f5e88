"""`prov check --no-save` and `prov diff --detect --no-save` leave a git-tracked store as it was
(newcomer review 10, finding 20).

A pull request's check is a read-only step, but the detectors' run was stored (an object and audit rows),
so a store kept in git showed `M .prov/prov.db` and a new object after `prov check`, and a `git add -A`
committed them (prov.db then conflicts between branches). With `--no-save` nothing is written, and the
gate decides the same.
"""

from __future__ import annotations

import json
import subprocess

import pyarrow.parquet as pq
import pytest

from support import digits_table, flip_label, ok, run

PINNED = ("--signer", "alice.pub")


def _git_status(workdir) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def git_store(prov, keypair, workdir):
    """A git repository tracking its data and its `.prov/` store: v1, and v2 with flipped labels, committed."""
    table = digits_table(700)
    pq.write_table(table.slice(0, 600), "v1.parquet")
    v2 = table
    for row in range(600, 610):
        v2 = flip_label(v2, row)
    pq.write_table(v2, "v2.parquet")
    ok(prov, "init")
    for tag in ("v1", "v2"):
        ok(prov, "commit", f"{tag}.parquet", "--tag", tag, "--key", str(keypair.private_path), *PINNED)
    run("git", "init", "-q", cwd=workdir)
    run("git", "config", "user.email", "t@example.com", cwd=workdir)
    run("git", "config", "user.name", "t", cwd=workdir)
    run("git", "add", "-A", cwd=workdir)
    run("git", "commit", "-qm", "data and store", cwd=workdir)
    assert _git_status(workdir) == ""


def test_check_and_diff_detect_with_no_save_leave_a_git_tracked_store_clean(prov, workdir, git_store):
    saved = prov("check", "v2", "--base", "v1", "--format", "json", "--no-save", *PINNED)
    assert saved.exit_code == 1, saved.output
    assert _git_status(workdir) == "", "prov check --no-save wrote to the store"
    r = prov("diff", "v1", "v2", "--detect", "--no-save", "--format", "json", *PINNED)
    assert r.exit_code == 0 and json.loads(r.stdout)["detection"]["flagged"] > 0, r.output
    assert _git_status(workdir) == "", "prov diff --detect --no-save wrote to the store"
    assert "No detector run stored" in ok(prov, "findings", "v2", *PINNED)

    # without it, the run is stored (and the decision is the same)
    r = prov("check", "v2", "--base", "v1", "--format", "json", *PINNED)
    assert r.exit_code == 1 and _git_status(workdir) != ""
    same = ("decision", "rules", "findings", "detectors", "waivers", "summary")
    kept, stored = json.loads(saved.stdout), json.loads(r.stdout)
    assert {k: kept[k] for k in same} == {k: stored[k] for k in same}


def test_no_save_and_attest_contradict(prov, workdir, git_store):
    r = prov("check", "v2", "--base", "v1", "--no-save", "--attest", "--key", "alice.key", *PINNED)
    assert r.exit_code == 2 and "--no-save" in r.stderr and "--attest" in r.stderr, r.output
    assert _git_status(workdir) == ""
