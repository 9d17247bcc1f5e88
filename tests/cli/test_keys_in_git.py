"""`prov keys generate` inside a git work tree keeps the private key out of git (newcomer review 14, finding 12):
`prov keys generate keys/maintainer` left `keys/maintainer.key` untracked, for `git add -A` to commit. A real git
repository; what git would add is asked of git itself."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def ignored(*paths: str) -> bool:
    """Whether git ignores every one of ``paths`` (``git check-ignore``: 0 ignored, 1 not)."""
    r = subprocess.run(["git", "check-ignore", "-q", "--", *paths], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode == 0


def words(text: str) -> str:
    return " ".join(text.split())


def untracked() -> set[str]:
    return {line[3:] for line in git("status", "--porcelain", "--untracked-files=all").splitlines()}


def test_a_key_written_in_a_git_work_tree_is_ignored_and_said(prov, workdir):
    git("init", "-q")
    r = prov("keys", "generate", "keys/maintainer")
    assert r.exit_code == 0, r.output
    assert untracked() == {"keys/maintainer.pub", "keys/.gitignore"}  # not keys/maintainer.key
    assert "keys/.gitignore: added /maintainer.key" in " ".join(r.stderr.split())
    assert ignored("keys/maintainer.key") and not ignored("keys/maintainer.pub")
    assert "Warning" not in r.stderr
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


@pytest.mark.parametrize("how", ["symlink", "hard link"])
def test_a_gitignore_linked_to_a_file_outside_is_not_written_and_the_key_is_named(prov, workdir, how):
    """Attack review 15b, A15b-4: `keys/.gitignore` a symbolic link to a file outside the repository; prov appended
    through it (changing a file it was not asked to write), and git does not read a symlinked .gitignore, so the
    key was staged anyway while prov said it was ignored. Now the linked file is left alone, the key is still
    written (0600), and a warning names it; a hard link to a file outside is not written through either."""
    outside = workdir / "outside.txt"
    outside.write_text("someone else's file\n")
    git("init", "-q", "repo")
    (workdir / "repo" / "keys").mkdir()
    if how == "symlink":
        (workdir / "repo" / "keys" / ".gitignore").symlink_to(outside)
    else:
        os.link(outside, workdir / "repo" / "keys" / ".gitignore")
    os.chdir("repo")
    r = prov("keys", "generate", "keys/maintainer")
    assert r.exit_code == 0, r.output
    assert outside.read_text() == "someone else's file\n"
    assert stat.S_IMODE((workdir / "repo" / "keys" / "maintainer.key").stat().st_mode) == 0o600
    assert not ignored("keys/maintainer.key")
    assert "added /maintainer.key" not in words(r.stderr)
    warning = [line for line in r.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warning) == 1, r.stderr
    assert warning[0].startswith("Warning: keys/maintainer.key: git does not ignore this private key"), warning
    assert "keys/.gitignore" in warning[0] and "check-ignore" in warning[0], warning


@pytest.mark.parametrize(
    ("name", "other"),
    [("a*", "abc.key"), ("[ab]", "a.key"), ("x?", "xy.key"), ("#h", "h.key"), ("!n", "n.key"), ("b\\c", "bc.key")],
)
def test_a_key_name_with_glob_characters_ignores_itself_and_nothing_else(prov, workdir, name, other):
    """Attack review 15b, A15b-6: `/NAME.key` was written as is, so `[ab]` ignored a.key and b.key but not
    `[ab].key` itself, and `a*` ignored every key starting with a. The name is escaped per gitignore(5)."""
    git("init", "-q")
    r = prov("keys", "generate", f"keys/{name}")
    assert r.exit_code == 0, r.output
    assert ignored(f"keys/{name}.key"), (workdir / "keys" / ".gitignore").read_text()
    assert not ignored(f"keys/{other}"), (workdir / "keys" / ".gitignore").read_text()
    assert "Warning" not in r.stderr


@pytest.mark.parametrize("suffix", [".key", ".pub"])
def test_a_dangling_link_at_the_key_path_is_refused_by_name_and_its_target_not_created(prov, workdir, suffix):
    """Attack review 16, F7: a pull request plants `keys/maintainer.key` (or `.pub`) as a link to a file that does not
    exist. The private key's exclusive create refused it, as "internal error (FileExistsError ...)" with exit 3; the
    public key was written through the link, creating a file wherever it pointed. Both are now exit 2 naming the
    link, and nothing is written."""
    outside = workdir.parent / f"planted-target{suffix}"
    (workdir / "keys").mkdir()
    os.symlink(outside, workdir / "keys" / f"maintainer{suffix}")
    r = prov("keys", "generate", "keys/maintainer")
    assert r.exit_code == 2, r.output
    assert f"keys/maintainer{suffix}: is a symbolic link" in words(r.output), r.output
    assert not outside.exists() and sorted(p.name for p in (workdir / "keys").iterdir()) == [f"maintainer{suffix}"]
