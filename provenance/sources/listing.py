"""The file listing a reader saw: every file it read and every file it skipped, signed by digest.

A version signs its listing's digest, so ``prov verify`` catches a file added, removed or
renamed even where no record changes (a renamed image keeps its bytes; a file the loader
skips today may be read by the next loader). The listing is built from names and ``lstat``
(no file is read for it): for each entry its path relative to the dataset, whether it was
read (``record``) or skipped (``ignored``, with the reason), its size (file trees) and, for
a symbolic link, its target.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from provenance.encoding import encode_value
from provenance.errors import InputError
from provenance.sources.dvc_cache import is_cache_object

MAX_NAMED = 50  # skipped files named in the signed facts (all are in the digest)


class Seen(NamedTuple):
    """The regular file a local listing admitted: the path to open (the file itself, or a link's
    resolved target inside the tree) and its ``(st_dev, st_ino, st_size)``. Hashing opens exactly this
    file (``tree_hashing.hash_files``), so a file swapped for a link after the listing is refused, never read."""

    path: str
    device: int
    inode: int
    size: int


@dataclass(frozen=True)
class Entry:
    """One file of a listing (see the module docstring). ``seen`` (local regular files only) is what
    hashing checks it opens; it is not signed and not compared."""

    path: str
    role: str  # "record" (read by the loader) | "ignored" (skipped by it)
    size: int | None = None
    link: str | None = None
    reason: str | None = None
    seen: Seen | None = field(default=None, compare=False, repr=False)

    def encoded(self) -> bytes:
        """Canonical bytes of the entry: prov's value encoding (``encode_value``) of the list
        ``[path, role, size, link, reason]``, written out for these five fields (a listing
        has an entry per file, and the generic encoder cost ~1 s per 20,000 files; the
        tests compare the two)."""
        payload = b"".join(
            (
                _text(self.path),
                _text(self.role),
                _NULL if self.size is None else _int(self.size),
                _NULL if self.link is None else _text(self.link),
                _NULL if self.reason is None else _text(self.reason),
            )
        )
        return b"L" + _length(len(payload)) + payload


_NULL = encode_value(None)
_INT = struct.Struct(">q")


def _length(n: int) -> bytes:
    """The varint length prefix (``encoding.varint``), one byte below 128."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return b"S" + _length(len(data)) + data


def _int(value: int) -> bytes:
    if not -(1 << 63) <= value < 1 << 63:
        return encode_value(value)  # past int64 (no file is that large): the generic encoder's 16 bytes
    return b"I\x08" + _INT.pack(value)


@dataclass
class Listing:
    """A reader's listing of a dataset (``reader`` names the loader whose rules made it)."""

    reader: str
    entries: list[Entry] = field(default_factory=list)

    def digest(self) -> str:
        """SHA-256 (hex) over the entries' encodings, sorted by path and role."""
        h = hashlib.sha256(encode_value(self.reader))
        for entry in sorted(self.entries, key=lambda e: (e.path, e.role)):
            h.update(entry.encoded())
        return h.hexdigest()

    @property
    def ignored(self) -> list[Entry]:
        """Entries the loader skips, sorted by path."""
        return sorted((e for e in self.entries if e.role == "ignored"), key=lambda e: e.path)

    def fact(self) -> dict:
        """The listing as a signed fact: its digest, counts and the first skipped paths."""
        ignored = self.ignored
        return {
            "reader": self.reader,
            "sha256": self.digest(),
            "files": sum(1 for e in self.entries if e.role == "record"),
            "ignored": len(ignored),
            "ignoredPaths": [e.path for e in ignored[:MAX_NAMED]],
        }


def inside(root_real: str, path: str) -> bool:
    """Whether ``path`` (links resolved) is ``root_real`` or below it."""
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


def check_link(root: str, root_real: str, full: str) -> None:
    """Refuse a link that leaves the tree, or a folder link to one of its own ancestors (a loop).

    A link to an object in the DVC cache of the repository holding the tree is how DVC
    stores a file (``cache.type = symlink``), not a link that leaves it (``dvc_cache.py``).

    Raises:
        InputError: naming the link.
    """
    if not os.path.islink(full):
        return
    real = os.path.realpath(full)
    if not inside(root_real, full) and not is_cache_object(root_real, real):
        raise InputError(f"{full}: symlink leaves the tree {root}")
    parent = os.path.realpath(os.path.dirname(full))
    if os.path.isdir(real) and (parent == real or parent.startswith(real + os.sep)):
        raise InputError(f"{full}: symlink loop (links to a folder that holds it); a loader would walk it forever")


def local_entry(root: str, root_real: str, full: str, rel: str, role: str, reason: str | None = None) -> Entry:
    """``check_link`` then ``file_entry`` for a file on the local disk, in one ``lstat`` when it
    is not a link (most files): the same entry, a third of the system calls.

    Raises:
        InputError: a link that leaves the tree or loops (``check_link``).
    """
    try:
        st = os.lstat(full)
    except OSError:
        return file_entry(full, rel, role, reason)  # gone or unreadable: the entry says what it can
    if stat.S_ISLNK(st.st_mode):
        check_link(root, root_real, full)
        return file_entry(full, rel, role, reason)
    seen = Seen(full, st.st_dev, st.st_ino, st.st_size) if stat.S_ISREG(st.st_mode) else None
    return Entry(rel, role, st.st_size, None, reason, seen)


def file_entry(full: str, rel: str, role: str, reason: str | None = None, sized: bool = True) -> Entry:
    """An entry for a local file: its size (through a link), for a link its target, and (``sized``, a
    regular file) the ``Seen`` file hashing must open: ``full``, or the link's resolved target."""
    link = size = seen = None
    try:
        opened = full
        if os.path.islink(full):
            opened = os.path.realpath(full)
            if not is_cache_object(os.path.realpath(os.path.dirname(full)), opened):
                link = os.readlink(full)  # DVC's link to its own cache is how it stores the file: listed as a file
        if sized:
            st = os.stat(opened)
            size = st.st_size
            if stat.S_ISREG(st.st_mode):
                seen = Seen(opened, st.st_dev, st.st_ino, st.st_size)
    except OSError:  # a dangling link or an unreadable folder: the entry says what it can
        pass
    return Entry(rel, role, size, link, reason, seen)
