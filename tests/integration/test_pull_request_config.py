"""A pull request cannot move where trusted computation runs.

The attack (issue 12): a pull request adds two lines to `.prov/config.toml` naming a Dask
scheduler the attacker runs; `prov verify` and `prov check` on the CI runner then
unpickle whatever that scheduler returns, next to the signing key. Played here in a real
git repository: the maintainer's store is committed, the pull request adds the file, CI
runs the checks in a fresh clone of the pull request. The "scheduler" is a socket on
loopback; nothing may connect to it, and every answer equals the one on the base commit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support import digits_table, run, store_fingerprint

PROV = str(Path(sys.executable).parent / "prov")


def prov(*args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([PROV, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def attacker_scheduler():
    """A listening socket standing in for the attacker's Dask scheduler: it records any connection."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        yield s


def connected(s: socket.socket) -> bool:
    try:
        conn, _ = s.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def answer(stdout: str, folder: Path) -> object:
    """What a command said, less the time it said it and the folder it ran in."""
    stdout = stdout.replace(str(folder), "FOLDER")
    if stdout.startswith("{"):
        doc = json.loads(stdout)
        doc.pop("checked_at", None)
        for entry in (doc.get("audit") or {}).get("pending", []):
            entry.pop("ts", None)  # when the check's own audit entry was written
        return doc
    return stdout


def test_a_pull_request_naming_a_scheduler_changes_no_check(tmp_path, attacker_scheduler):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROV_", "GIT_"))}
    env |= {"PROV_WORKERS": "1", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    (repo / "data").mkdir(parents=True)
    keys.mkdir()
    run("git", "init", "-q", "-b", "main", cwd=repo)
    run("git", "config", "user.email", "maintainer@example.org", cwd=repo)
    run("git", "config", "user.name", "maintainer", cwd=repo)
    table = digits_table(360)
    assert prov("keys", "generate", keys / "maintainer", cwd=tmp_path, env=env).returncode == 0
    env["PROV_SIGNERS"] = str(keys / "maintainer.pub")  # CI pins the maintainer's key (issue 12)
    assert prov("init", cwd=repo, env=env).returncode == 0
    for tag, n in (("v1", 300), ("v2", 360)):
        pq.write_table(table.slice(0, n), repo / "data" / "train.parquet")
        r = prov("commit", "data/train.parquet", "--tag", tag, "--key", keys / "maintainer.key", cwd=repo, env=env)
        assert r.returncode == 0, r.stderr
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", "dataset v1, v2", cwd=repo)

    # the pull request: two lines in the checkout's settings
    port = attacker_scheduler.getsockname()[1]
    run("git", "checkout", "-q", "-b", "pr", cwd=repo)
    (repo / ".prov" / "config.toml").write_text(f'[scale]\nexecutor = "dask://127.0.0.1:{port}"\n')
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", "speed up CI", cwd=repo)

    # CI: the same checks in a fresh clone of the base branch and of the pull request's head
    checks = (("audit", "verify"), ("verify", "v2"), ("check", "v2", "--base", "v1", "--format", "json"))
    said = {}
    for branch in ("main", "pr"):
        ci = tmp_path / f"ci-{branch}"
        run("git", "clone", "-q", "--branch", branch, str(repo), str(ci), cwd=tmp_path)
        before = store_fingerprint(ci / ".prov")
        said[branch] = [prov(*c, cwd=ci, env=env) for c in checks[:2]]
        assert store_fingerprint(ci / ".prov") == before
        said[branch].append(prov(*checks[2], cwd=ci, env=env))
        said[branch] = [(r.returncode, answer(r.stdout, ci), r.stderr) for r in said[branch]]
    assert (ci / ".prov" / "config.toml").is_file()
    assert [s[0] for s in said["main"]][:2] == [0, 0] and said["main"][2][0] in (0, 1), said["main"]
    assert said["pr"] == said["main"]
    assert not connected(attacker_scheduler), "a check contacted the scheduler named by the pull request"

    # a commit on the runner does not take its executor from the checkout either
    r = prov("commit", "data/train.parquet", "--tag", "v3", "--key", keys / "maintainer.key", cwd=ci, env=env)
    assert r.returncode == 0, r.stderr
    assert not connected(attacker_scheduler)
