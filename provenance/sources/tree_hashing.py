"""Hashing the files of a tree: each file's SHA-256 (what ``sha256sum`` prints), exactly the file its listing admitted.

``trees.py`` lists a tree under its loader's rules; this module reads the files the listing
named. Locally, each file is opened without following a link and checked to be the regular file
(device, inode, size) the listing saw (``listing.Seen``): a data-folder writer who swaps a listed
file for a symlink to a file outside the tree between listing and hashing (attack review 3,
finding 9) gets an input error, not a signed record of the outside file's bytes. A file on an
fsspec filesystem (a git revision through DVC) is read as the filesystem gives it (it has no links).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import threading
from collections.abc import Iterator

import pyarrow as pa

from provenance import fastsha
from provenance.errors import InputError
from provenance.sources.listing import Seen, check_link
from provenance.sources.tables import HashedPart

SMALL_FILE = 1 << 20  # bytes: files up to this size are read whole and hashed from memory
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def looks_like_image(head: bytes, fh) -> bool:
    """Whether Pillow can open the file whose first bytes are ``head`` (its format is known).

    The formats ImageFolder names are told by their magic bytes; anything else is asked of
    Pillow (``Image.open`` reads the header only), which identifies by content, as the
    loader's ``pil_loader`` will.
    """
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    if len(head) > 2 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return True
    try:
        from PIL import Image, UnidentifiedImageError

        fh.seek(0)
        with Image.open(fh):
            return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def _check_image(head: bytes, fh, full: str) -> None:
    if not looks_like_image(head, fh):
        raise InputError(
            f"{full}: the loader would read this file as an image, but Pillow cannot open it; "
            "remove it or give it a name the loader skips"
        )


def hash_files(
    root: str,
    entries: list[tuple[str, str]],
    fs=None,
    images: bool = False,
    seen: list[Seen | None] | None = None,
) -> HashedPart:
    """SHA-256 of each file's bytes, with its label; ``images``: refuse a file Pillow cannot open.

    ``entries`` are ``(path relative to root, label)`` pairs; ``fs`` an fsspec filesystem
    (None: local). ``seen`` (local only) gives, entry by entry, the file the listing admitted
    (``listing.Seen``; None: admitted now, as the listing would, ``admit``): that file is opened
    without following a link and must still be the same regular file (device, inode, size), and
    exactly its listed size is read, so a file swapped for a link to outside the tree, or changed,
    between the listing and hashing is refused, never signed (attack review 3, finding 9).
    Returns a ``HashedPart`` (not yet finished) whose locators are the relative paths and whose
    sources are null.

    Raises:
        InputError: a file that cannot be read, is not a regular file, changed since it was
            listed, or (``images``) is not an image; the message names it.
    """
    root_real = os.path.realpath(root) if fs is None else root
    # os.path.join(root, rel) for a relative ``rel``, without its per-call checks (20,000 files: ~0.1 s)
    prefix = (root if root.endswith(os.sep) or not root else root + os.sep) if fs is None else f"{root.rstrip('/')}/"
    if fs is None and seen is not None:
        # the compiled extension hashes the small files that are as listed, without a Python call per file; the
        # loop below, the reference, takes the rest (larger files, links, errors) as it takes every file
        hashed, done = fastsha.sha256_files(list(seen), SMALL_FILE, _IMAGE_MAGIC if images else None)
        digests = bytearray(hashed)
    else:
        digests, done = bytearray(32 * len(entries)), bytes(len(entries))
    for i in _left(done):
        rel = entries[i][0]
        full = prefix + rel if fs is not None or not rel.startswith(os.sep) else rel  # as os.path.join
        try:
            if fs is None:
                digest = _hash_local(root, root_real, full, seen[i] if seen is not None else None, images)
            else:
                with fs.open(full, "rb") as fh:
                    if images:
                        _check_image(fh.read(16), fh, full)
                    fh.seek(0)
                    digest = hashlib.file_digest(fh, "sha256").digest()
            digests[32 * i : 32 * i + 32] = digest
        except IsADirectoryError as exc:
            raise InputError(f"{full}: is a folder, not a file") from exc
        except OSError as exc:
            raise InputError(f"{full}: cannot read file ({exc.strerror or exc})") from exc
        except ValueError as exc:  # a NUL in the name (os.open's refusal): no file has it
            raise InputError(f"{full!r}: cannot read file ({exc})") from exc
    return HashedPart(
        digests=bytes(digests),
        labels=pa.array([label for _, label in entries], pa.string()),
        sources=pa.nulls(len(entries), pa.string()),
        locators=_locators(prefix, entries),
        label_type="string",
        label_kind="string",
    )


def _locators(prefix: str, entries: list[tuple[str, str]]) -> pa.Array:
    """The relative paths as a manifest's UTF-8 ``locator`` column. Raises ``InputError`` naming the first file
    whose name is not UTF-8 (a local name's undecodable bytes arrive as surrogates): a loader reads it, and a
    manifest cannot name it, so it is refused, not skipped."""
    try:
        return pa.array([rel for rel, _ in entries], pa.string())
    except UnicodeEncodeError:
        for rel, _ in entries:
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(prefix + rel).decode("utf-8", "backslashreplace")
                raise InputError(f"{shown}: file name is not UTF-8; rename the file (a manifest names it)") from None
        raise


def _left(done: bytes) -> Iterator[int]:
    """The positions of the zero flags in ``done`` (files ``fastsha.sha256_files`` left to the reference path),
    in order, found at C speed (a tree's files are nearly all done)."""
    i = done.find(0)
    while i >= 0:
        yield i
        i = done.find(0, i + 1)


def admit(root: str, root_real: str, full: str) -> Seen:
    """The regular file ``full`` names now, as a listing admits it: the file itself, or a link's target
    inside the tree (``listing.check_link``). Raises ``InputError`` (a link leaving the tree, a FIFO,
    socket, device or folder) or ``OSError`` (gone, unreadable)."""
    st = os.lstat(full)
    opened = full
    if stat.S_ISLNK(st.st_mode):
        check_link(root, root_real, full)
        opened = os.path.realpath(full)
        st = os.stat(opened)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder", full)
    if not stat.S_ISREG(st.st_mode):  # opening a FIFO would block forever
        raise InputError(f"{full}: not a regular file (a FIFO, socket or device cannot be a record)")
    return Seen(opened, st.st_dev, st.st_ino, st.st_size)


def _changed(full: str, what: str) -> InputError:
    return InputError(f"{full}: changed while the commit read the tree ({what}); nothing was signed, commit again")


# O_NOFOLLOW: a link put in the admitted file's place is refused, not followed out of the tree
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _hash_local(root: str, root_real: str, full: str, seen: Seen | None, images: bool) -> bytes:
    """The SHA-256 of the local file the listing admitted (``seen``; None: admitted now), 32 bytes.

    Runs once per file of a tree (20,000 small files: its Python was about a third of hashing them),
    so the admitted file's fields are unpacked once and the checks for what is not a regular file
    are behind the one test that a regular file passes."""
    if seen is None:
        seen = admit(root, root_real, full)
    path, device, inode, size = seen
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _changed(full, "now a symbolic link, not the file it listed") from exc
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a folder", full)
            raise InputError(f"{full}: not a regular file (a FIFO, socket or device cannot be a record)")
        if st.st_ino != inode or st.st_dev != device:
            raise _changed(full, "another file than the one it listed")
        if st.st_size != size:
            raise _changed(full, f"{st.st_size} bytes, listed with {size}")
        if size > SMALL_FILE:
            if images:
                _check_image(os.pread(fd, 16, 0), os.fdopen(fd, "rb", closefd=False), full)
                os.lseek(fd, 0, os.SEEK_SET)  # _check_image may have moved it
            h, read = _hash_chunks(fd)
        else:
            # a small file (most of a tree of images or snippets) in one read of its size, hashed from
            # memory, on the descriptor itself: no file object, no 256 KiB buffer per file; a regular
            # file gives all it has up to size + 1 in one read (fewer: read on, ``_read_up_to``)
            data = os.read(fd, size + 1)
            read = len(data)
            if read < size and data:
                data = _read_up_to(fd, size + 1, size, data)
                read = len(data)
            if images:
                _check_image(data[:16], _image_file(fd, data, size), full)
            h = hashlib.sha256(data)
            if read > size:  # grown since it was listed: count the rest, to name the size read
                os.lseek(fd, read, os.SEEK_SET)  # _check_image may have moved it
                read += _hash_chunks(fd)[1]
        if read != size:  # written to while read: these bytes are not the listed file's
            raise _changed(full, f"{read} bytes read, listed with {size}")
        return h.digest()
    finally:
        os.close(fd)


_CHUNK = 1 << 20
_chunk_buffers = threading.local()


def _hash_chunks(fd: int) -> tuple[hashlib._Hash, int]:
    """SHA-256 of ``fd`` from its position to its end, and the bytes read: read in chunks into one
    buffer per thread, reused (a new 1 MiB ``bytes`` per read cost its page faults each time: a
    large-file tree's commit was at 0.8x ``openssl dgst``, issue 15)."""
    view = getattr(_chunk_buffers, "view", None)
    if view is None:
        view = _chunk_buffers.view = memoryview(bytearray(_CHUNK))
    h = hashlib.sha256()
    read = 0
    while got := os.readv(fd, [view]):
        h.update(view[:got])
        read += got
    return h, read


def _read_up_to(fd: int, n: int, enough: int, data: bytes | None = None) -> bytes:
    """Up to ``n`` bytes from ``fd``'s position, in one ``read`` when it gives at least ``enough``
    (the size the listing saw: a regular file gives all it has up to ``n`` in one call, so one more
    byte than listed is seen); fewer than ``enough`` are read on until ``n`` or the end of the file.
    ``data``: what a first ``read`` of ``n`` already gave (the caller's fast path)."""
    if data is None:
        data = os.read(fd, n)
    if len(data) >= enough or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n and (more := os.read(fd, n - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _image_file(fd: int, data: bytes, expected: int):
    """A binary file object with the bytes Pillow may read to identify an image: the whole file when it
    was read whole (``data``), else the descriptor itself (not closed with the file object)."""
    if len(data) <= expected:
        return io.BytesIO(data)
    os.lseek(fd, 0, os.SEEK_SET)
    return os.fdopen(fd, "rb", closefd=False)
