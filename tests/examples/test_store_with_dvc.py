"""The README's way to share `.prov/` (section "Where the store lives"): `dvc add .prov`, commit the
pointer, `dvc push`; a teammate's clone gets the same store with `dvc pull`, verifies against the key
they pin, commits a version on top and shares it back the same way."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from examples_support import clean_env, run, tool

from support import doc_section


def write_table(path, n: int) -> None:
    pq.write_table(pa.table({"x": [float(i) for i in range(n)], "label": [str(i % 3) for i in range(n)]}), path)


def test_the_store_travels_with_dvc_between_two_clones(tmp_path):
    env = clean_env(tmp_path)
    prov, dvc = tool("prov"), tool("dvc")
    remote, a = tmp_path / "remote", tmp_path / "a"
    a.mkdir()
    run(["git", "init", "-q", "-b", "main"], a, env)
    run([dvc, "init", "-q"], a, env)
    run([dvc, "remote", "add", "-d", "storage", str(remote)], a, env)
    run([prov, "init"], a, env)
    run([prov, "keys", "generate", "keys/maintainer"], a, env)
    (a / ".gitignore").write_text("*.key\n")
    write_table(a / "train.parquet", 200)
    run([prov, "commit", "train.parquet", "--tag", "v1", "--key", "keys/maintainer.key"], a, env)
    run([dvc, "add", ".prov"], a, env)  # what the README says
    run(["git", "add", ".prov.dvc", ".gitignore", ".dvc", "train.parquet", "keys/maintainer.pub"], a, env)
    run(["git", "commit", "-qm", "store with v1"], a, env)
    run([dvc, "push", "-q"], a, env)

    b = tmp_path / "b"
    run(["git", "clone", "-q", str(a), str(b)], tmp_path, env)
    run([dvc, "pull", "-q"], b, env)
    pinned = env | {"PROV_SIGNERS": "keys/maintainer.pub"}
    assert "data ok (200 records)" in run([prov, "verify", "v1"], b, pinned).stdout
    # the teammate (one writer at a time) commits v2 and shares the store back
    (b / "keys" / "maintainer.key").write_bytes((a / "keys" / "maintainer.key").read_bytes())
    (b / "keys" / "maintainer.key").chmod(0o600)
    write_table(b / "train.parquet", 220)
    run([prov, "commit", "train.parquet", "--tag", "v2", "--key", "keys/maintainer.key"], b, pinned)
    run([dvc, "add", ".prov"], b, env)
    run(["git", "commit", "-qam", "v2"], b, env)
    run([dvc, "push", "-q"], b, env)
    run(["git", "pull", "-q", str(b), "main"], a, env)
    run([dvc, "pull", "-q"], a, env)
    log = run([prov, "log"], a, env).stdout
    assert [line.split()[0] for line in log.splitlines()] == ["v1", "v2"]
    assert "data ok (220 records)" in run([prov, "verify", "v2"], a, pinned).stdout
    fsck = run([prov, "fsck", "--signer", "keys/maintainer.pub"], a, env).stdout
    assert "0 errors" in fsck


def readme_lines() -> list[str]:
    """The README's "Sharing the store through DVC" block, its commands only."""
    section = doc_section("Where the store lives (git, DVC, branches)")
    text = section[section.index("Sharing the store through DVC") :]
    block = text[text.index("```bash") + len("```bash") : text.index("```", text.index("```bash") + 7)]
    return [line for line in block.strip().splitlines() if not line.startswith("#")]


def test_the_readme_lines_share_a_tour_store_as_written(tmp_path):
    """Newcomer review 17, F9: the README's lines failed in the tour's folder ('not inside of a DVC repository', then
    'no remote specified'), shared neither the data nor the public key a teammate's verify needs, and left a key
    generated before `git init` free to be committed. Run as written (the remote's path aside) in a folder as the
    tour leaves it, then in a clone."""
    env = clean_env(tmp_path)
    prov = tool("prov")
    here = tmp_path / "tour"
    here.mkdir()
    run([prov, "init"], here, env)
    run([prov, "keys", "generate", "keys/maintainer"], here, env)  # before any git: nothing ignores it
    write_table(here / "train-new.parquet", 120)
    run([prov, "commit", "train-new.parquet", "--tag", "v4", "--key", "keys/maintainer.key"], here, env)
    setup, share, clone_line = readme_lines()
    for line in (setup.replace("/path/to/remote", str(tmp_path / "remote")), share):
        run(["bash", "-e", "-c", line], here, env)
    tracked = run(["git", "ls-files"], here, env).stdout.split()
    assert {".prov.dvc", "train-new.parquet.dvc", "keys/maintainer.pub"} <= set(tracked)
    assert "keys/maintainer.key" not in tracked
    assert "maintainer.key" not in run(["git", "status", "--porcelain", "--untracked-files=all"], here, env).stdout

    run(["git", "clone", "-q", str(here), str(tmp_path / "clone")], tmp_path, env)
    r = run(["bash", "-e", "-c", clone_line], tmp_path / "clone", env)
    assert "data ok (120 records)" in r.stdout
