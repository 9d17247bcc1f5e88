"""One file, read in parts, must stay the file that was listed: its identity checked on every handle.

A table file is read more than once: a Parquet file's footer when it is listed, then its row
groups partition by partition (each partition opens the file again, on another thread or
process), and a CSV/JSONL file twice when its types widen. Whoever can write the data folder
can swap the file between two of those opens (``os.replace``), and the records hashed would
be a mix of both files under a Merkle root of neither (attack review 25d). So the listing
records each local file's identity, ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``,
and every handle opened to read it is ``fstat``-ed and compared: another inode, size,
modification or change time is :class:`~provenance.errors.FileChanged` (exit 2, the store
unchanged). The handle itself is checked, not the path, so a swap between the check and the
open cannot pass.

The change time is there for a writer who rewrites the file in place and puts its size and
modification time back with ``os.utime`` (attack review 26e, A26e-1): any write, ``utime`` or
``chmod`` sets the inode's change time to now, and no unprivileged call sets it back. What is
left: file timestamps are taken from a coarse clock (a few ms on Linux), so a file last changed
in the same tick as the rewrite keeps its change time; and whoever can set the system clock
(root) can forge it. A file on an fsspec filesystem or at a git revision carries no identity
(those are not re-listed beside a running read by a local writer).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

from provenance.errors import FileChanged, InputError

Identity = tuple[int, int, int, int, int]  # (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)


def identity(st: os.stat_result) -> Identity:
    """The identity of a stat result: device, inode, size, modification and change times in ns."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def listed_identity(path: str) -> Identity:
    """The identity of the local file ``path`` as it is listed.

    Raises:
        InputError: ``path`` cannot be stat-ed (a dangling link, no permission, removed since the folder was
            walked), naming it: a file listed with no identity would be read with nothing checked (A26e-2).
    """
    try:
        return identity(os.stat(path))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from exc


def check_handle(path: str, fd: int, listed: Identity | None) -> None:
    """Refuse an open handle ``fd`` of ``path`` that is not the file listed (``listed``; None: nothing to check).

    Raises:
        FileChanged: another inode, size, modification or change time than when ``path`` was listed (exit 2).
    """
    if listed is not None and identity(os.fstat(fd)) != listed:
        raise FileChanged(
            f"{path}: file changed while it was read (replaced or written to since it was listed); "
            "run again once nothing writes to it"
        )


def check_path(path: str, listed: Identity | None) -> None:
    """Refuse ``path`` if the file there now is not the file listed (after a read whose handle is closed).

    Raises:
        FileChanged: another file there, or none, or one that cannot be opened (exit 2, naming ``path``).
    """
    if listed is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO put there must not block
    except OSError as exc:  # removed or made unreadable once read: not the file listed (A26e-3)
        raise FileChanged(
            f"{path}: file changed while it was read ({exc.strerror or type(exc).__name__} since it was listed); "
            "run again once nothing writes to it"
        ) from exc
    try:
        check_handle(path, fd, listed)
    finally:
        os.close(fd)


def opener(fs: Any, listed: Identity | None) -> Callable[..., IO[bytes]]:
    """How to open the file for reading: ``fs.open``, ``open``, or (a local file with an identity) ``open``
    whose handle is checked (:func:`check_handle`) before a byte is read."""
    if fs is not None:
        return fs.open
    if listed is None:
        return open

    def open_checked(path: str, mode: str = "rb") -> IO[bytes]:
        fh = open(path, mode)  # noqa: SIM115 -- returned open, closed by the caller's with-block
        try:
            check_handle(path, fh.fileno(), listed)
        except BaseException:
            fh.close()
            raise
        return fh

    return open_checked
