"""`prov keys generate` inside a git work tree keeps the private key out of git (newcomer review 14, finding 12):
`prov keys generate keys/maintainer` left `keys/maintainer.key` untracked, for `git add -A` to commit. A real git
repository; what git would add is asked of git itself."""

from __future__ import annotations

import subprocess


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def untracked() -> set[str]:
    return {line[3:] for line in git("status", "--porcelain", "--untracked-files=all").splitlines()}


def test_a_key_written_in_a_git_work_tree_is_ignored_and_said(prov, workdir):
    git("init", "-q")
    r = prov("keys", "generate", "keys/maintainer")
    assert r.exit_code == 0, r.output
    assert untracked() == {"keys/maintainer.pub", "keys/.gitignore"}  # not keys/maintainer.key
    assert "keys/.gitignore: added /maintainer.key" in " ".join(r.stderr.split())
    # a .gitignore the user keeps there is extended, never replaced
    (workdir / "keys" / ".gitignore").write_text("# mine\nscratch/")
    r = prov("keys", "generate", "keys/vendor", "--json")
    assert r.exit_code == 0, r.output
    assert (workdir / "keys" / ".gitignore").read_text().startswith("# mine\nscratch/\n")
    assert "keys/vendor.key" not in untracked() and "keys/vendor.pub" in untracked()


def test_nothing_is_written_where_git_already_ignores_the_key_or_there_is_no_git(prov, workdir):
    (workdir / "repo").mkdir()
    (workdir / "plain").mkdir()
    r = prov("keys", "generate", "plain/k")  # not a git work tree
    assert r.exit_code == 0 and "gitignore" not in r.stderr
    assert sorted(p.name for p in (workdir / "plain").iterdir()) == ["k.key", "k.pub"]
    git("init", "-q", "repo")
    (workdir / "repo" / ".gitignore").write_text("*.key\n")
    r = prov("keys", "generate", "repo/keys/k")
    assert r.exit_code == 0 and "gitignore" not in r.stderr
    assert not (workdir / "repo" / "keys" / ".gitignore").exists()
