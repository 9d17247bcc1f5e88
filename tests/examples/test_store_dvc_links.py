"""A store kept in DVC, checked out by a teammate whose DVC links files from its cache (`cache.type`
symlink or hardlink, common for large data): prov reads it, and refuses to write through the links
into DVC's cache until `dvc unprotect .prov` (newcomer review 13, finding 14). A clone that has not
pulled the store is told to pull it, not to `prov init` one (finding 4)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from examples_support import clean_env, run, tool


def write_table(path: Path, n: int) -> None:
    pq.write_table(pa.table({"x": [float(i) for i in range(n)], "label": [str(i % 3) for i in range(n)]}), path)


def cache_bytes(clone: Path) -> dict[str, str]:
    """sha256 of every object in the clone's DVC cache, by path."""
    cache = clone / ".dvc" / "cache"
    return {
        str(p.relative_to(cache)): hashlib.sha256(p.read_bytes()).hexdigest() for p in cache.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> tuple[Path, dict]:
    """A git + DVC project whose store (v1, v2 committed) is shared with `dvc add .prov` and `dvc push`."""
    top = tmp_path_factory.mktemp("dvclinks")
    env = clean_env(top)
    prov, dvc = tool("prov"), tool("dvc")
    a = top / "a"
    a.mkdir()
    run(["git", "init", "-q", "-b", "main"], a, env)
    run([dvc, "init", "-q"], a, env)
    run([dvc, "remote", "add", "-d", "storage", str(top / "remote")], a, env)
    run([prov, "init"], a, env)
    run([prov, "keys", "generate", "keys/maintainer"], a, env)
    (a / ".gitignore").write_text("*.key\n")
    write_table(a / "train.parquet", 120)
    run([prov, "commit", "train.parquet", "--tag", "v1", "--key", "keys/maintainer.key"], a, env)
    write_table(a / "train.parquet", 150)
    pinned = env | {"PROV_SIGNERS": "keys/maintainer.pub"}
    run([prov, "commit", "train.parquet", "--tag", "v2", "--key", "keys/maintainer.key"], a, pinned)
    run([dvc, "add", "-q", ".prov"], a, env)
    run(["git", "add", ".prov.dvc", ".gitignore", ".dvc", "train.parquet", "keys/maintainer.pub"], a, env)
    run(["git", "commit", "-qm", "store"], a, env)
    run([dvc, "push", "-q"], a, env)
    return a, env


@pytest.mark.parametrize("cache_type", ["symlink", "hardlink"])
def test_prov_never_writes_through_dvcs_cache_links(origin, tmp_path, cache_type):
    a, env = origin
    prov, dvc = tool("prov"), tool("dvc")
    b = tmp_path / "b"
    run(["git", "clone", "-q", str(a), str(b)], tmp_path, env)
    (b / "keys" / "maintainer.key").write_bytes((a / "keys" / "maintainer.key").read_bytes())
    (b / "keys" / "maintainer.key").chmod(0o600)
    pinned = env | {"PROV_SIGNERS": "keys/maintainer.pub"}
    # not pulled yet: the store is DVC's to fetch, not prov's to create
    r = run([prov, "log"], b, env, check=False)
    assert r.returncode == 2 and "prov init" not in r.stderr, r.stderr
    assert "the store is tracked by DVC (.prov.dvc) and not checked out: run `dvc pull .prov`" in r.stderr
    r = run([prov, "init"], b, env, check=False)  # an empty store would stand in for the team's
    assert r.returncode == 2 and "run `dvc pull .prov`, not prov init" in r.stderr and not (b / ".prov").exists()

    run([dvc, "config", "--local", "cache.type", cache_type], b, env)
    run([dvc, "pull", "-q"], b, env)
    db = b / ".prov" / "prov.db"
    assert db.is_symlink() if cache_type == "symlink" else db.stat().st_nlink == 2
    before = cache_bytes(b)
    # reading works on the linked store
    assert "data ok (150 records)" in run([prov, "verify", "v2"], b, pinned).stdout
    assert [line.split()[0] for line in run([prov, "log"], b, env).stdout.splitlines()] == ["v1", "v2"]
    # every command that would write prov.db refuses, before any work, naming the file and the way out
    write_table(b / "train.parquet", 170)
    for args in (
        ["commit", "train.parquet", "--tag", "v3", "--key", "keys/maintainer.key"],
        ["diff", "v1", "v2", "--detect"],
        ["gc"],
    ):
        r = run([prov, *args], b, pinned, check=False)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("Error: .prov/prov.db is a ") and "run `dvc unprotect .prov` first" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert cache_bytes(b) == before, "a prov command changed DVC's cache"
    run([prov, "diff", "v1", "v2", "--detect", "--no-save"], b, pinned)  # the way out that writes nothing
    assert cache_bytes(b) == before
    # what the refusal says to do: then prov writes its own copy, and DVC's cache keeps the old store
    run([dvc, "unprotect", ".prov"], b, env)
    run([prov, "commit", "train.parquet", "--tag", "v3", "--key", "keys/maintainer.key"], b, pinned)
    assert cache_bytes(b) == before
    assert "modified" in run([dvc, "status"], b, env).stdout
