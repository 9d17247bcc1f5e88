"""Optional batch SHA-256 (the ``provenance._fastsha`` extension), with a pure-Python twin.

hashlib costs about a microsecond per call, which dominates when a row is a few hundred
bytes; the extension hashes a whole batch of rows in one call. It is an optimisation
only: every function gives the same bytes as the reference code in ``hashing.py`` (tests
compare them), and without the extension prov falls back to hashlib.

Set ``PROV_NO_FASTSHA=1`` to force the fallback. ``python -m provenance.fastsha build``
compiles the extension in place (needs a C compiler and OpenSSL headers).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

_lib = None
_tried = False
_SOURCE = Path(__file__).parent / "_native" / "fastsha.c"


def _load():
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if os.environ.get("PROV_NO_FASTSHA"):
        return None
    try:
        from provenance import _fastsha  # noqa: F401  (built by setuptools, or by ``build`` below)
    except ImportError:
        return None
    lib = ctypes.CDLL(_fastsha.__file__)
    p, sz = ctypes.c_void_p, ctypes.c_size_t
    lib.prov_sha256_rows.argtypes = [p, sz, p, p, sz, p]
    lib.prov_sha256_fixed.argtypes = [p, sz, p, sz, sz, p]
    lib.prov_merkle_root.argtypes = [p, sz, p, p]
    for f in (lib.prov_sha256_rows, lib.prov_sha256_fixed, lib.prov_merkle_root):
        f.restype = None
    _lib = lib
    return lib


def available() -> bool:
    return _load() is not None


def _ptr(buf) -> int:
    return np.frombuffer(buf, dtype=np.uint8).ctypes.data if len(buf) else 0


def sha256_fixed(prefix: bytes, matrix: np.ndarray) -> bytes:
    """SHA-256(prefix || row) of each row of a C-contiguous uint8 matrix, concatenated."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    n, width = matrix.shape
    out = np.empty(32 * n, dtype=np.uint8)
    if n:
        _load().prov_sha256_fixed(prefix, len(prefix), matrix.ctypes.data, width, n, out.ctypes.data)
    return out.tobytes()


def sha256_rows(prefix: bytes, data: bytes | np.ndarray, offsets: np.ndarray) -> bytes:
    """SHA-256(prefix || data[offsets[i]:offsets[i+1]]) for each i, concatenated."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    out = np.empty(32 * max(n, 0), dtype=np.uint8)
    if n > 0:
        data = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else np.ascontiguousarray(data)
        _load().prov_sha256_rows(
            prefix, len(prefix), data.ctypes.data if len(data) else 0, offsets.ctypes.data, n, out.ctypes.data
        )
    return out.tobytes()


def merkle_root(blob: bytes) -> bytes:
    """RFC 6962 root over concatenated 32-byte leaf hashes (at least one)."""
    n = len(blob) // 32
    if n == 0:
        return hashlib.sha256(b"").digest()
    src = np.frombuffer(blob, dtype=np.uint8)
    scratch = np.empty(32 * n, dtype=np.uint8)
    out = np.empty(32, dtype=np.uint8)
    _load().prov_merkle_root(src.ctypes.data, n, scratch.ctypes.data, out.ctypes.data)
    return out.tobytes()


def build() -> Path:
    """Compile the extension next to this file (a developer convenience)."""
    target = Path(__file__).parent / ("_fastsha" + sysconfig.get_config_var("EXT_SUFFIX"))
    include = sysconfig.get_paths()["include"]
    cc = os.environ.get("CC", "cc")
    subprocess.run(
        [cc, "-O3", "-shared", "-fPIC", f"-I{include}", str(_SOURCE), "-o", str(target), "-lcrypto"], check=True
    )
    return target


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build())
    else:
        print("fast SHA-256:", "available" if available() else "not built (python -m provenance.fastsha build)")
