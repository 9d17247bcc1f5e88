"""Holding a read's second pass to exactly what its verifying pass read (attack review 5, finding 6).

A default streaming read (``verify_first``) whose version does not fit the buffer budget
(``buffer.py``) reads the data twice: a verifying pass that checks the whole version
against the signed manifest and hands out nothing, then a second pass that hands out
batches. The data folder can change between the two: a file swapped by rename after the
verifying pass read it, re-filled with *other signed records* of the version (a class
deleted and padded with copies of rows read later), passes a per-batch check against the
manifest, and a job that stops early trains on it. So the verifying pass keeps, for the
second one:

- per batch, a fingerprint: SHA-256 over the batch's record digests, label texts, sources
  and locators (:func:`fingerprint`), 32 bytes a batch. The second pass hands out its
  ``i``-th batch only if it has the ``i``-th fingerprint: the records handed out are then,
  in content, label, source, place and order, the ones the verifying pass checked. This is
  exact on any filesystem (local, fsspec, a git revision through DVC) and for trees;
- per local table file, its ``stat`` identity (device, inode, size, modification and
  change times in ns) when the verifying pass opened it. The second pass compares it
  before it opens the file, so a file replaced (another inode) or written to (a new
  ``st_ctime_ns``, which no user can set back) since is refused, naming the file, before
  any of its records is read. A rename between that ``stat`` and the open is still caught
  by the fingerprint of the file's first batch, before it is handed out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from provenance.errors import VerificationError
from provenance.loader.reading import HashedBatch

Identity = tuple[int, int, int, int, int]


def identity(path: str) -> Identity | None:
    """``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of the local file ``path``; None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _strings(h, array: pa.Array) -> None:
    """Feed ``array`` (text; nulls allowed, a slice allowed) to ``h`` unambiguously: its validity, its value
    offsets counted from its first value, and its value bytes."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    n = len(array)
    h.update(n.to_bytes(8, "big"))
    if n == 0:
        return
    h.update(np.packbits(array.is_valid().to_numpy(zero_copy_only=False)).tobytes())
    _, offsets_buffer, data = array.buffers()
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width)[array.offset : array.offset + n + 1]
    h.update((offsets - offsets[0]).astype(np.int64).tobytes())
    if data is not None:
        h.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def fingerprint(hashed: HashedBatch) -> bytes:
    """SHA-256 over a batch's record count, digests (32 bytes a record), label texts, sources and locators."""
    h = hashlib.sha256(len(hashed.digests).to_bytes(8, "big"))
    h.update(hashed.digests)
    for column in (hashed.labels, hashed.sources, hashed.locators):
        _strings(h, column)
    return h.digest()


class FirstPass:
    """What a verifying pass read: the ``stat`` identity of each local file as it opened it, and each batch's
    fingerprint (see the module docstring). ``opening`` and ``batch`` are called by the pass as it reads."""

    def __init__(self) -> None:
        self.files: dict[str, Identity | None] = {}
        self.prints: list[bytes] = []

    def opening(self, path: str) -> None:
        """The pass is about to open the local file ``path``."""
        self.files[path] = identity(path)

    def batch(self, hashed: HashedBatch, where: Callable[[int], str]) -> None:
        """The pass checked ``hashed`` against the manifest."""
        self.prints.append(fingerprint(hashed))

    def end(self) -> None:
        """The pass read its last batch."""

    def second(self) -> SecondPass:
        """A watcher that holds a second pass to what this one read."""
        return SecondPass(self)


class SecondPass:
    """Refuses, with ``VerificationError`` naming the file, what a second pass reads that differs from what
    the verifying pass read (``first``): a local file replaced or written to since, or a batch whose
    fingerprint is not the one the verifying pass saw at that place. Nothing of it is handed out."""

    def __init__(self, first: FirstPass) -> None:
        self.files = first.files
        self.prints = first.prints
        self.read = 0

    def opening(self, path: str) -> None:
        """Refuse ``path`` if it is not the file (same inode, size, times) the verifying pass opened."""
        if path not in self.files:
            raise VerificationError(f"{path}: a file the verifying pass did not read{_CHANGED}{_NONE_OF_FILE}")
        then, now = self.files[path], identity(path)
        if now != then:
            raise VerificationError(
                f"{path}: {_what_changed(then, now)} since the verifying pass read it{_CHANGED}{_NONE_OF_FILE}"
            )

    def batch(self, hashed: HashedBatch, where: Callable[[int], str]) -> None:
        """Refuse ``hashed`` unless it is, record for record, the batch the verifying pass read at this place."""
        i = self.read
        if i >= len(self.prints) or fingerprint(hashed) != self.prints[i]:
            n = len(hashed.digests) // 32
            place = f"batch {i}" if n == 0 else where(0) if n == 1 else f"{where(0)} to {where(n - 1)}"
            raise VerificationError(
                f"{place}: the records read now differ from those the verifying pass read there{_CHANGED}; "
                "none of them was handed out"
            )
        self.read += 1

    def end(self) -> None:
        """Refuse a second pass that read fewer batches than the verifying pass."""
        if self.read != len(self.prints):
            raise VerificationError(
                f"the data ended after {self.read} of the {len(self.prints)} batches the verifying pass read{_CHANGED}"
            )


_CHANGED = " (the data changed while the job read it)"
_NONE_OF_FILE = "; none of its records was handed out"


def _what_changed(then: Identity | None, now: Identity | None) -> str:
    """How a file's ``stat`` identity changed, in words."""
    if now is None:
        return "removed"
    if then is None or then[:2] != now[:2]:
        return "replaced by another file (another inode)"
    if then[2] != now[2]:
        return f"resized ({then[2]} -> {now[2]} bytes)"
    return "written to (its modification or change time moved)"
