"""Content-addressed objects: plain files named by the SHA-256 of their bytes.

An object is ``.prov/objects/<sha256 hex>.<ext>`` (``parquet``, ``json`` or ``npz``).
Any tool can inspect them, and every read re-hashes the bytes, so an edited or truncated
object is reported rather than trusted. Every write is atomic (temporary file, fsync,
rename, fsync of the folder), so a crash leaves the old state or the whole new file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from provenance.errors import VerificationError
from provenance.output_file import fsync_dir


def atomic_write(
    path: Path, data: bytes | Callable[[BinaryIO], None], mode: int = 0o644, check: Callable[[str], None] | None = None
) -> None:
    """Write to a temporary file beside ``path``, fsync, optionally check it, then rename over.

    ``data`` is the bytes, or a function that writes them to the open file (for streams);
    ``mode`` the new file's permission bits; ``check(temporary path)`` may raise to abandon
    the write. On any failure (including Ctrl-C) the temporary file is removed and
    ``path`` is left as it was; the exception propagates.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _link_into(source: Path, path: Path) -> bool:
    """Hard-link ``source`` to ``path`` atomically and durably (link beside it, fsync, rename, fsync
    of the folder); False, with nothing left behind, when it cannot be linked (another filesystem)."""
    tmp = path.parent / f".tmp-link-{os.getpid()}-{path.name}"
    try:
        os.link(source, tmp)
    except OSError:
        return False
    try:
        os.chmod(tmp, 0o644)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return True


def _sha256_of(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# the extensions prov stores objects under (signed envelopes and statements, manifests and lineage, profiles)
_USUAL_EXTENSIONS = ("json", "parquet", "npz")


class ObjectStore:
    """The folder of content-addressed objects (``.prov/objects/``); ids are SHA-256 hex digests."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, oid: str) -> Path:
        """The file holding object ``oid`` (whatever its extension), or where it would be.

        The extensions prov writes are looked up by name first (one ``stat`` each); only an object under
        another extension costs a scan of the folder (``glob``), which grows with the store. Only a regular
        file (or a link to one) is an object's file: anything else there is as if missing."""
        for ext in _USUAL_EXTENSIONS:
            candidate = self.root / f"{oid}.{ext}"
            if candidate.is_file():
                return candidate
        # a regular file only (links followed): a FIFO or device planted under an object's name would hang or
        # feed a read forever (attack review 19c), so it reads as missing
        matches = [m for m in self.root.glob(f"{oid}.*") if m.is_file()]
        return matches[0] if matches else self.root / oid

    def exists(self, oid: str) -> bool:
        """Whether a file for object ``oid`` exists (its bytes are not checked)."""
        return self.path(oid).name != oid

    def put(self, data: bytes, ext: str) -> tuple[str, bool]:
        """Store ``data``; return (object id, whether this call created the file)."""
        oid = hashlib.sha256(data).hexdigest()
        path = self.root / f"{oid}.{ext}"
        if path.exists():
            return oid, False
        atomic_write(path, data)
        return oid, True

    def put_file(self, source: Path, ext: str, owned: bool = False) -> tuple[str, bool]:
        """Store a file's bytes without holding them in memory: hash, copy, check, rename.

        ``owned``: the caller made ``source`` in its own temporary folder and writes it no
        more (a large commit's manifest), so on the same filesystem it is linked into the
        store instead of copied and hashed again (fsync and rename as for any object); if the
        link fails (another filesystem) it is copied. Returns (object id, whether this call
        created the file).
        """
        oid = _sha256_of(source)
        path = self.root / f"{oid}.{ext}"
        if path.exists():
            return oid, False
        if owned and _link_into(source, path):
            return oid, True

        def copy(out: BinaryIO) -> None:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)

        def same_bytes(tmp: str) -> None:  # the copy must be the bytes that were hashed
            if _sha256_of(tmp) != oid:
                raise OSError(f"{source} changed while it was stored")

        atomic_write(path, copy, check=same_bytes)
        return oid, True

    def get(self, oid: str, what: str = "object") -> bytes:
        """The bytes of object ``oid``, re-hashed before they are returned.

        Raises ``VerificationError`` (exit 1) naming the file and ``what`` (e.g.
        "manifest") when the object is missing or its bytes no longer hash to ``oid``.
        """
        path = self.path(oid)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise VerificationError(f"{path}: {what} {oid[:16]} is missing from the store") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != oid:
            raise VerificationError(f"{path}: {what} {oid[:16]} was altered (its bytes hash to {actual[:16]})")
        return data

    def envelope(self, oid: str, what: str) -> dict:
        """The DSSE envelope kept as object ``oid``, its shape checked (``signing.parse_envelope``), no signature.

        prov keeps only envelopes it wrote under the names its rows record, so an object that is
        not one (a ``versions`` row pointed at a Parquet object, say) is tampering with the store:
        ``VerificationError`` (exit 1) naming ``what``, never the ``InputError`` (exit 2) of a
        user's bad file. Missing or altered objects raise as :meth:`get` does.
        """
        from provenance.errors import InputError
        from provenance.signing import parse_envelope  # cryptography: only for commands that read envelopes

        data = self.get(oid, what)
        try:
            return parse_envelope(data, what)
        except InputError as exc:
            raise VerificationError(
                f"{self.path(oid)}: {exc}, not an envelope prov wrote: the store was tampered with"
            ) from exc

    def remove(self, oid: str) -> None:
        """Delete object ``oid`` (every extension); nothing happens when it is absent."""
        for p in self.root.glob(f"{oid}.*"):
            p.unlink()

    def all_ids(self) -> list[str]:
        """Ids of every object file, sorted (temporary ``.tmp-`` files left out)."""
        return sorted(p.name.split(".")[0] for p in self.root.iterdir() if not p.name.startswith("."))
