"""The one reader of small input files a user or a signed envelope names: keys, envelopes, attestations,
waivers, policies, findings.

Such a path may name anything: ``/dev/zero`` (endless), a FIFO (blocks until a writer
comes), a folder, or a huge file whose parsing would cost many times its size. Each
kind of file has a size limit; the reader refuses anything but a regular file (symlinks
are followed) and reads at most the limit, so the bound holds before any parsing, and
the error names the file, the limit and what it is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from provenance.errors import InputError

KEY_BYTES = 64 << 10
POLICY_BYTES = 1 << 20
ENVELOPE_BYTES = 64 << 20  # a batch envelope carries its manifest (about 45 bytes a record, base64)
REPORT_BYTES = 256 << 20  # a findings report (``prov diff --detect --format json``) lists records


def size_text(n: int) -> str:
    """``n`` bytes for people: ``64 MiB``, ``512 KiB``, ``300 bytes``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def read_bounded(path: str | os.PathLike[str], limit: int, what: str, near_suffix: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    ``what`` names the file's role in messages ("envelope", "private key"). Raises
    ``InputError`` (exit 2) if the file cannot be opened (a missing one with the closest name
    in its folder, among those ending in ``near_suffix`` when given: ``(did you mean
    'keys/maint.pub'?)``), is not a regular file (a FIFO is never opened for reading, so this
    never blocks), or is larger than ``limit`` (``"{path}: envelope is larger than the 64 MiB limit"``).
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as exc:
        raise InputError(f"{name}: cannot read {what} ({exc.strerror}){_near(name, exc, near_suffix)}") from exc
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise InputError(f"{name}: {what} is {kind}")
    if st.st_size > limit:
        raise InputError(f"{name}: {what} is larger than the {size_text(limit)} limit")
    try:
        # O_NONBLOCK: a FIFO swapped in since the stat must not block the open (no effect on a regular file)
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise InputError(f"{name}: {what} is not a regular file")
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{name}: cannot read {what} ({exc.strerror})") from exc
    if len(data) > limit:  # grew since stat
        raise InputError(f"{name}: {what} is larger than the {size_text(limit)} limit")
    return data


def _near(name: str, exc: OSError, suffix: str | None) -> str:
    from provenance.names import near_file

    return near_file(name, suffix) if exc.errno == errno.ENOENT else ""


def read_bounded_text(path: str | os.PathLike[str], limit: int, what: str) -> str:
    """:func:`read_bounded`, decoded as UTF-8 (``InputError`` naming the file if it is not)."""
    data = read_bounded(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{Path(path)}: {what} is not UTF-8 text (byte {exc.start})") from exc
