"""Content-addressed objects: plain files named by the SHA-256 of their bytes.

Any tool can inspect them (they are Parquet or JSON), and every read re-hashes the
bytes, so an edited or truncated object is reported rather than trusted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import VerificationError


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


class ObjectStore:
    def __init__(self, root: Path):
        self.root = root

    def path(self, oid: str) -> Path:
        matches = list(self.root.glob(f"{oid}.*"))
        return matches[0] if matches else self.root / oid

    def exists(self, oid: str) -> bool:
        return any(self.root.glob(f"{oid}.*"))

    def put(self, data: bytes, ext: str) -> tuple[str, bool]:
        """Store ``data``; return (object id, whether this call created the file)."""
        oid = hashlib.sha256(data).hexdigest()
        path = self.root / f"{oid}.{ext}"
        if path.exists():
            return oid, False
        atomic_write(path, data)
        return oid, True

    def put_file(self, source: Path, ext: str) -> tuple[str, bool]:
        """Store a file's bytes without holding them in memory: hash, copy, fsync, rename."""
        with open(source, "rb") as fh:
            oid = hashlib.file_digest(fh, "sha256").hexdigest()
        path = self.root / f"{oid}.{ext}"
        if path.exists():
            return oid, False
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            with open(tmp, "rb") as fh:  # the copy must be the bytes that were hashed
                if hashlib.file_digest(fh, "sha256").hexdigest() != oid:
                    raise OSError(f"{source} changed while it was stored")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        fsync_dir(self.root)
        return oid, True

    def get(self, oid: str, what: str = "object") -> bytes:
        path = self.path(oid)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise VerificationError(f"{path}: {what} {oid[:16]} is missing from the store") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != oid:
            raise VerificationError(f"{path}: {what} {oid[:16]} was altered (its bytes hash to {actual[:16]})")
        return data

    def remove(self, oid: str) -> None:
        for p in self.root.glob(f"{oid}.*"):
            p.unlink()

    def all_ids(self) -> list[str]:
        return sorted(p.name.split(".")[0] for p in self.root.iterdir() if not p.name.startswith("."))
