"""Batch SHA-256: the compiled ``provenance._fastsha`` extension, or its pure-Python twin.

hashlib costs about a microsecond per call, which dominates when a message is a table row
of a few hundred bytes or a 65-byte Merkle node; the extension hashes a whole batch in one
call into OpenSSL's low-level SHA-256 (SHA-NI where the CPU has it) and releases the GIL.
It is an optimisation only: each function below gives the same bytes whichever path runs
(tests compare both paths with the row-by-row reference, and the golden vectors hold on
both), so a manifest never depends on how prov was installed.

``pip install`` compiles the extension where a C compiler and OpenSSL headers exist
(``setup.py``, setuptools ``optional=True``); elsewhere prov runs on hashlib. Set
``PROV_NO_FASTSHA=1`` to force the pure-Python path. ``python -m provenance.fastsha``
prints which path runs; ``python -m provenance.fastsha build`` compiles the extension in
place (a developer convenience for a source tree installed without it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

from provenance import native_build

_SOURCE = Path(__file__).parent / "_native" / "fastsha.c"
_UNSET = object()
_compiled: object = _UNSET  # the extension module, None when absent or disabled
_FUNCTIONS = ("sha256_fixed", "sha256_rows", "sha256_keyed", "sha256_columns", "merkle_root")
_API = 4  # the calling convention fastsha.c's FASTSHA_API says; raised with it whenever a function's arguments change
_stale = False  # an extension built from an older source: another API (none before session 27) or a function missing


def _extension() -> ModuleType | None:
    global _compiled, _stale
    if _compiled is _UNSET:
        # decided in a local and set once: a table's partitions hash on threads, and a second
        # thread must not see a half-made decision (None for a moment) and take the slow path
        found = None
        if not os.environ.get("PROV_NO_FASTSHA"):
            try:
                from provenance import _fastsha  # type: ignore[attr-defined]  # built by setup.py
            except ImportError:
                _fastsha = None
            if _fastsha is not None:
                _stale = getattr(_fastsha, "API", None) != _API or not all(hasattr(_fastsha, n) for n in _FUNCTIONS)
                found = None if _stale else _fastsha  # a stale build is not half-used
        _compiled = found
    return _compiled  # type: ignore[return-value]


def available() -> bool:
    """True when the compiled extension is loaded and used."""
    return _extension() is not None


def path_description() -> str:
    """One line saying which SHA-256 path runs, for ``--version`` output and benchmark results."""
    if available():
        return "batch SHA-256: compiled extension (provenance._fastsha, OpenSSL)"
    if os.environ.get("PROV_NO_FASTSHA"):
        return "batch SHA-256: pure Python (hashlib), forced by PROV_NO_FASTSHA"
    if _stale:
        return "batch SHA-256: pure Python (hashlib); the compiled extension is stale: reinstall (pip install -e .)"
    return "batch SHA-256: pure Python (hashlib); the compiled extension is not built"


@contextmanager
def forced(path: str) -> Iterator[None]:
    """Run the block on one path, ``"compiled"`` or ``"python"`` (tests of both paths).

    Raises ``RuntimeError`` when ``"compiled"`` is asked for and the extension is not built.
    """
    global _compiled
    before = _extension()
    if path == "compiled" and before is None:
        raise RuntimeError("the compiled fastsha extension is not built")
    if path not in ("compiled", "python"):
        raise ValueError(f"unknown path {path!r}: expected 'compiled' or 'python'")
    _compiled = before if path == "compiled" else None
    try:
        yield
    finally:
        _compiled = before


def _u8(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)


def sha256_fixed(prefix: bytes, matrix: np.ndarray, portable: bool = False) -> bytes:
    """SHA-256(prefix || row) of each row of an ``n x width`` uint8 matrix, concatenated (32n bytes).

    The compiled extension hashes two rows at a time on the x86 SHA extensions where the CPU has them,
    else one at a time through OpenSSL; ``portable`` takes the OpenSSL path there too (tests compare)."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    n, width = matrix.shape
    if n == 0:
        return b""
    ext = _extension()
    if ext is not None and width:
        return ext.sha256_fixed(prefix, matrix, width, portable)
    base = hashlib.sha256(prefix)
    copy = base.copy
    out = bytearray()
    raw = matrix.reshape(-1).data
    for i in range(0, n * width, width):
        h = copy()
        h.update(raw[i : i + width])
        out += h.digest()
    return bytes(out)


def sha256_rows(prefix: bytes, data: bytes | np.ndarray, offsets: np.ndarray) -> bytes:
    """SHA-256(prefix || data[offsets[i]:offsets[i+1]]) for each i, concatenated (32 bytes each).

    ``offsets`` holds n+1 non-decreasing positions inside ``data``; ``ValueError`` otherwise.
    """
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    if n <= 0:
        return b""
    raw = np.ascontiguousarray(_u8(data))
    if offsets[0] < 0 or offsets[-1] > len(raw) or bool((np.diff(offsets) < 0).any()):
        raise ValueError("offsets must be n+1 non-decreasing int64 values inside the data")
    ext = _extension()
    if ext is not None:
        return ext.sha256_rows(prefix, raw, offsets)
    copy = hashlib.sha256(prefix).copy
    view = raw.data
    out = bytearray()
    bounds = offsets.tolist()
    for i in range(n):
        h = copy()
        h.update(view[bounds[i] : bounds[i + 1]])
        out += h.digest()
    return bytes(out)


def sha256_keyed(prefix: bytes, digests: bytes | memoryview, codes: np.ndarray, suffixes: list[bytes]) -> bytes:
    """SHA-256(prefix || digest_i || suffixes[codes[i]]) per 32-byte digest, concatenated.

    This is a Merkle leaf per manifest row: the encoding of a row's (label, source) pair is
    made once per distinct pair and looked up by its code. ``ValueError`` when a code names
    no suffix or the lengths disagree.
    """
    n = len(digests) // 32
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    if len(digests) % 32 or len(codes) != n:
        raise ValueError("need one code per 32-byte digest")
    if n == 0:
        return b""
    if int(codes.min()) < 0 or int(codes.max()) >= len(suffixes):
        raise ValueError("a code names no suffix")
    ext = _extension()
    if ext is not None:
        offsets = np.zeros(len(suffixes) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in suffixes], out=offsets[1:])
        return ext.sha256_keyed(prefix, digests, codes, b"".join(suffixes), offsets)
    copy = hashlib.sha256(prefix).copy
    view = memoryview(digests)
    out = bytearray()
    for i, c in enumerate(codes.tolist()):
        h = copy()
        h.update(view[32 * i : 32 * i + 32])
        h.update(suffixes[c])
        out += h.digest()
    return bytes(out)


def sha256_columns(prefix: bytes, fields: Sequence[tuple[bytes, np.ndarray]], portable: bool = False) -> bytes:
    """SHA-256(prefix || head_1 || value_1 || ... || head_k || value_k) per row, concatenated.

    ``fields`` is ``[(head, values), ...]``: a fixed byte string (a value's tag and length)
    and a one-dimensional numeric array of the row count, whose items (1, 2, 4 or 8 bytes)
    are written big-endian. Normalising the values is the caller's (the encoding's); this
    only lays the rows out and hashes them, without building the ``n x width`` matrix.
    ``ValueError`` when the arrays differ in length or item size.

    The compiled extension hashes two rows at a time as :func:`sha256_fixed` does (``portable``: one at a
    time through OpenSSL). The same digests on every path.
    """
    if not fields:
        raise ValueError("need at least one column")
    # native byte order: the compiled path reads each item as the machine stores it (a big-endian column gave other
    # bytes there than here: attack review 28b, A28b-1); converted by value, the digests are the same
    columns = [np.ascontiguousarray(values).reshape(-1) for _, values in fields]
    columns = [c if c.dtype.isnative else c.astype(c.dtype.newbyteorder("=")) for c in columns]
    n = len(columns[0])
    if any(len(c) != n or c.dtype.itemsize not in (1, 2, 4, 8) for c in columns):
        raise ValueError("columns must be one-dimensional, of one length, items of 1, 2, 4 or 8 bytes")
    if n == 0:
        return b""
    ext = _extension()
    if ext is not None:
        return ext.sha256_columns(prefix, [bytes(head) for head, _ in fields], columns, portable)
    layout = []
    for i, ((head, _), values) in enumerate(zip(fields, columns)):
        layout += [(f"h{i}", "u1", (len(head),)), (f"v{i}", values.dtype.newbyteorder(">"))]
    records = np.empty(n, dtype=np.dtype(layout))
    for i, ((head, _), values) in enumerate(zip(fields, columns)):
        records[f"h{i}"] = np.frombuffer(head, dtype=np.uint8)
        records[f"v{i}"] = values
    return sha256_fixed(prefix, records.view(np.uint8).reshape(n, -1))


def merkle_root(blob: bytes | memoryview, portable: bool = False) -> bytes:
    """RFC 6962 MTH over concatenated 32-byte leaf hashes; SHA-256 of nothing for none.

    The compiled extension hashes two nodes at a time on the x86 SHA extensions where the CPU has
    them, else one at a time through OpenSSL; ``portable`` takes the OpenSSL path there too (tests
    compare the two). The same root on every path."""
    n = len(blob) // 32
    if len(blob) % 32:
        raise ValueError("leaf hashes come in 32-byte pieces")
    if n == 0:
        return hashlib.sha256(b"").digest()
    ext = _extension()
    if ext is not None:
        return ext.merkle_root(blob, portable)
    sha = hashlib.sha256
    blob = bytes(blob)
    level = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])  # an odd last node is promoted: RFC 6962's split at 2^k
        level = nxt
    return level[0]


def sha256_files(files: list, limit: int, magics: tuple[bytes, ...] | None) -> tuple[bytes, bytes]:
    """SHA-256 of the small local files a tree listing admitted, as far as the compiled extension takes them.

    ``files`` holds, per record, its ``listing.Seen`` (path, device, inode, size) or None; ``limit`` is the
    largest size (bytes) hashed here; ``magics`` (None, or byte strings of at most 16 bytes each) are the
    starts an image must have. Returns ``(digests, done)``: 32 bytes per file and one flag byte per file. A
    file is done (flag 1, its digest in place) only when it was opened without following a link, was the
    regular file its Seen names (device, inode, size), at most ``limit`` bytes, read whole in one read of
    its size, and started with one of ``magics`` when given; every other file has flag 0 and zero bytes,
    for the caller's reference path (``tree_hashing.hash_files``) to hash or refuse with its own error. The
    pure-Python twin, and an extension built before this function, leave every file to the caller: the
    digests are the reference path's either way (tests compare). ``ValueError`` for a magic past 16 bytes.
    """
    n = len(files)
    ext = _extension()
    batch = getattr(ext, "sha256_files", None)  # an extension built before session 31 lacks it: all left
    if batch is None or n == 0:
        if magics is not None and any(len(m) > 16 for m in magics):
            raise ValueError("each magic must be bytes of at most 16")
        return bytes(32 * n), bytes(n)
    return batch(files, limit, magics)


def build(target_dir: Path | None = None) -> Path:
    """Compile the extension with ``$CC`` (default ``cc``) next to this file, or into ``target_dir``;
    returns its path.

    Raises ``subprocess.CalledProcessError`` when the compiler fails (no OpenSSL headers).
    """
    return native_build.compile_extension("_fastsha", _SOURCE, ["-O2"], libraries=["crypto"], target_dir=target_dir)


if __name__ == "__main__":
    native_build.main(build, path_description)
