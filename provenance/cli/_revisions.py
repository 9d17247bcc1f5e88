"""What ``prov diff`` says when a side is the other kind of name: a prov version given with ``--path``
(where both sides are git revisions or ``workspace``), or a git revision given without it (newcomer
review 10, finding 5). Each message says what to type instead."""

from __future__ import annotations

import shlex
import subprocess

from provenance.errors import InputError
from provenance.escaping import visible
from provenance.store import Store

WORKSPACE = "workspace"  # delta.sides.WORKSPACE: the working copy as a side of prov diff REV workspace --path P


def _git_knows(rev: str, where: str = ".") -> bool:
    """Whether git, in the repository around ``where``, names a commit ``rev``."""
    try:
        return (
            subprocess.run(
                ["git", "-C", where, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], capture_output=True
            ).returncode
            == 0
        )
    except OSError:
        return False


def _is_version(store: Store | None, name: str) -> bool:
    if store is None:
        return False
    return store.db.execute("select 1 from versions where tag = ?", [name]).fetchone() is not None


def refuse_versions_as_revisions(store: Store | None, base: str, new: str, path: str) -> None:
    """With ``--path``: a side git does not know but the store holds as a version is refused, saying how to compare
    the working copy with it. A name that is both (a DVC project's git tag) is the git revision, as before.

    A ``path`` that is not there is said so first when a side is ``workspace`` (its working copy) or such a version:
    the command talked about DVC and git revisions where the file was simply missing (newcomer review 27, finding 8);
    between two git revisions a path the working copy lacks may still be at them, and is read there.

    Raises:
        InputError: such a side (exit 2), before any data is read.
    """
    import os

    where = os.path.dirname(os.path.abspath(path))
    if not os.path.lexists(path):
        versions = [n for n in (base, new) if n != WORKSPACE and _is_version(store, n) and not _git_knows(n, where)]
        if WORKSPACE in (base, new) or versions:
            if versions and WORKSPACE in (base, new):  # "diff V workspace" without --path refuses: status is the way
                compare = (
                    f"; {versions[0]} is a prov version: prov status --version {shlex.quote(versions[0])} compares "
                    "the working data with it"
                )
            elif versions:
                compare = (
                    f"; {versions[0]} is a prov version: prov diff {shlex.quote(base)} {shlex.quote(new)} compares "
                    "versions without --path"
                )
            else:
                compare = ""
            raise InputError(f"{visible(str(path))}: no such file or folder (--path names the data to read){compare}")
    for name in (base, new):
        if name == WORKSPACE or not _is_version(store, name) or _git_knows(name, where):
            continue
        raise InputError(
            f"{name}: a prov version, not a git revision; with --path both sides are git revisions or workspace "
            f"(to compare the working copy with {name}: prov status {shlex.quote(str(path))} --version {shlex.quote(name)})"
        )


def hint_revisions_without_path(store: Store, base: str, new: str) -> None:
    """Without ``--path``: a side that is no version but a git revision here is refused with the way to diff it.

    Raises:
        InputError: such a side (exit 2): the store's "no such version" line, and ``give --path FILE``.
    """
    for name in (base, new):
        try:
            store.version(name)
        except InputError as exc:
            if name != WORKSPACE and not _git_knows(name):
                raise
            raise InputError(
                f"{exc} (a git revision? give the file to read at it: prov diff {shlex.quote(base)} {shlex.quote(new)} --path FILE)"
            ) from None
