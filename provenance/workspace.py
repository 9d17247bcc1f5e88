"""The folder a store lives in: ``prov init`` makes the store and its ignore rules; ``prov keys generate``
keeps a private key it writes inside a git work tree out of git (:func:`ignore_private_key`).

``.prov/`` may be committed to git (its database, objects and the empty ``lock`` file,
which a clone needs to write), but never what an interrupted or running write leaves:
SQLite's journal files, the temporary files objects are written through, a half-made
``prov init``. ``.prov/.gitignore`` names those, so nobody's own ``.gitignore`` is
edited. ``prov.db`` is binary and git cannot merge it: the README ("Where the store
lives") says how a team keeps one writer.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provenance.store import Store

GITIGNORE = (
    "# Written by `prov init`: what a running or interrupted prov write leaves, never part of the store.\n"
    "# prov.db is binary and git cannot merge it; the README ('Where the store lives') says what to do.\n"
    "prov.db-journal\n"
    "prov.db-wal\n"
    "prov.db-shm\n"
    ".prov.db.init\n"
    ".tmp-*\n"
    "*.tmp\n"
)


def init_workspace(where: str | os.PathLike[str] = ".") -> Store:
    """Create an empty store in ``where/.prov/`` with its ``.gitignore``, and open it (``prov init``).

    Raises ``InputError`` (exit 2) when a store already exists there; the existing store
    and its files are left as they were.
    """
    store = Store.init(Path(where))
    ignore = Path(store.root) / ".gitignore"
    tmp = ignore.with_name(".gitignore.tmp")
    tmp.write_text(GITIGNORE)
    os.replace(tmp, ignore)
    return store


def init_notes(where: str | os.PathLike[str] = ".") -> list[str]:
    """What a new user should know about the store ``prov init`` is about to make in ``where/.prov/`` (newcomer
    review 24): that ``PROV_STORE`` names another store, which every later command opens instead, or that a store
    in a folder above is no longer the one commands here use. Empty when neither holds.

    Worked out before the store is made (attack review 24c, A24c-2: a ``PROV_STORE`` that is a symbolic link loop
    made it raise once the store was made, exit 3 with the store left): it raises nothing. A ``PROV_STORE`` that
    cannot be resolved is named as given; a folder above that cannot be examined (no permission) is passed over.
    """
    from provenance.store.opening import STORE_DIR, STORE_ENV, find_store

    made = Path(where).resolve() / STORE_DIR  # the folder exists (``prov init`` runs in it): resolving it is safe
    if os.environ.get(STORE_ENV):
        used = find_store().absolute()
        try:
            used = used.resolve()
        except (OSError, RuntimeError):  # a link loop (RuntimeError before Python 3.13): not this new store
            pass
        if used != made:
            return [
                f"{STORE_ENV} names {used}, so commands open that store, not this new one; unset {STORE_ENV} to use it"
            ]
    for folder in made.parent.parents:
        try:
            found = (folder / STORE_DIR / "prov.db").is_file()
        except OSError:  # a folder above this user cannot read: find_store never looks past the new store anyway
            continue
        if found:
            return [
                f"{folder / STORE_DIR} in a folder above is no longer the store commands here and below use: this "
                "one is, with none of its versions, keys or trusted sources (one store per dataset; see the README "
                "on where the store lives)"
            ]
    return []


@dataclass(frozen=True)
class KeyIgnore:
    """What :func:`ignore_private_key` did: the ``.gitignore`` it appended to (None: none), and a one-line
    warning (None: none) when git still does not ignore the private key afterwards."""

    written: Path | None = None
    warning: str | None = None


def ignore_line(name: str) -> str | None:
    """The ``.gitignore`` line that ignores exactly the file ``name`` beside it, per gitignore(5): ``/`` anchors
    it to that folder; ``\\``, ``*``, ``?``, ``[``, ``!`` and ``#`` are backslash-escaped, so a name like ``a*``
    or ``[ab]`` matches itself and no other file (attack review 15b, A15b-6), and so is a trailing space. None
    for a name holding a line break or other control character, which no gitignore line can hold."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    escaped = "".join("\\" + c if c in "\\*?[!#" else c for c in name)
    stripped = escaped.rstrip(" ")
    return "/" + stripped + "\\ " * (len(escaped) - len(stripped))


def ignore_private_key(private: Path) -> KeyIgnore:
    """Keep a private key just written inside a git work tree out of git: append ``/NAME.key``
    (:func:`ignore_line`) to the ``.gitignore`` beside it (created if there is none), then ask git
    (``git check-ignore``) whether it now ignores the key. Nothing is done outside a git work tree (or
    without git) or where git already ignores the key.

    Newcomer review 14, finding 12: ``prov keys generate keys/maintainer`` in a repository left
    ``keys/maintainer.key`` for ``git add -A``. Signing tools warn here (minisign, cosign); prov writes the
    ignore rule as well, and the caller says which file it wrote, since the user did not name it.

    A ``.gitignore`` that is a symbolic link, has other hard links or is not a regular file is not written
    (attack review 15b, A15b-4): prov would write through it to a file it was not asked to write, perhaps
    outside the repository, and git does not read a symlinked ``.gitignore`` anyway. The key is then, like
    any key git still does not ignore, named in the warning with what to do.

    Returns a :class:`KeyIgnore`. Raises ``OSError`` when the ``.gitignore`` cannot be written.
    """
    folder = private.parent

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None

    def ignored() -> bool | None:  # None: git cannot answer
        answer = git("check-ignore", "-q", "--", private.name)
        return None if answer is None or answer.returncode not in (0, 1) else answer.returncode == 0

    inside = git("rev-parse", "--is-inside-work-tree")
    if inside is None or inside.returncode != 0 or inside.stdout.strip() != "true":
        return KeyIgnore()
    if ignored() is not False:  # git cannot answer, or the user's rules already cover it
        return KeyIgnore()
    ignore = folder / ".gitignore"
    line = ignore_line(private.name)
    written = _append(ignore, line) if line is not None else None
    if ignored() is not False:
        return KeyIgnore(written)
    if line is None:
        why = "its name cannot be written in a .gitignore"
    elif written is None:
        why = f"prov did not write {ignore} (a symbolic link, a file with other links or not a regular file)"
    else:
        why = f"the rule prov wrote in {ignore} does not take (a later rule overrides it?)"
    return KeyIgnore(
        written,
        f"{private}: git does not ignore this private key, and `git add` would commit it: {why}; add a rule "
        "that ignores it (in a .gitignore or .git/info/exclude) and check with git check-ignore -v",
    )


def _append(ignore: Path, line: str) -> Path | None:
    """Append the rule ``line`` to the regular file ``ignore`` (created if there is none) and return it, or
    None when ``ignore`` is a symbolic link (``O_NOFOLLOW``: never written through, even one planted after a
    look), has other hard links, or is not a regular file."""
    try:
        fd = os.open(ignore, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if ignore.is_symlink() or (ignore.exists() and not ignore.is_file()):
            return None  # ELOOP: a symbolic link; EISDIR and the like: not a file
        raise exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            return None
        gap = b"\n" if st.st_size and os.pread(fd, 1, st.st_size - 1) != b"\n" else b""
        rule = f"# a private key (prov keys generate): it stays with its holder, never in git\n{line}\n"
        os.write(fd, gap + rule.encode("utf-8", "surrogateescape"))
        return ignore
    finally:
        os.close(fd)
