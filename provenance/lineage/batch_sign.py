"""Signing a batch at source, with no store: ``prov sign``. The envelope's format is ``batches``'s."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from provenance import clock, keys, output_file, signing
from provenance.errors import InputError
from provenance.lineage.batches import (
    MANIFEST_FIELD,
    MANIFEST_MEDIA_TYPE,
    default_envelope,
    hash_batch,
    read_envelope,
)
from provenance.lineage.standing import PREDICATE_TYPE
from provenance.sources.build import resolve_kind
from provenance.sources.interface import DatasetSpec
from provenance.trust import source_keys as trust


def _read_options(spec: DatasetSpec, kind: str) -> dict:
    labels = os.path.basename(spec.labels_csv) if spec.labels_csv else None
    return {"kind": kind, "options": spec.options.to_dict(), "labels_csv": labels}


# --- signing at source --------------------------------------------------------------


@dataclass
class SignResult:
    """What ``prov sign`` wrote: the envelope's path (``-``: standard output), the source, the
    number of records, the RFC 6962 Merkle root (hex), the signing key id (hex SHA-256 of the
    public key), the capture time (ISO 8601, UTC), the records per label, and the files the reader skipped
    (``{"path", "reason"}``: not images the tree's reader reads, say), which no record carries."""

    envelope: str
    source: str
    records: int
    merkle_root: str
    keyid: str
    captured_at: str
    labels: dict[str, int]
    skipped: list[dict[str, str | None]] = field(default_factory=list)  # files the reader skipped: path, reason

    def to_dict(self) -> dict:
        """The result as JSON-able data (``prov sign --json``)."""
        return dict(self.__dict__)


def sign_batch(
    spec: DatasetSpec,
    source: str,
    key_path: str | Path,
    out: str | Path | None = None,
    captured_at: str | None = None,
    executor=None,
    replace: bool = False,
    way_out: str = "give --force to replace it, or --out FILE to write another",
) -> SignResult:
    """Hash the batch and write its signed envelope (with the batch manifest); ``prov sign``. No store needed.

    The envelope is DSSE (``signing.sign``, Ed25519) around an in-toto Statement v1 whose
    subject is the batch's name and Merkle root and whose predicate (``PREDICATE_TYPE``)
    names the source, capture time, record and label counts, schema, read options and the
    SHA-256 of the batch manifest, which the envelope carries base64-encoded in its
    ``manifest`` field (``schemas/batch-envelope.schema.json``).

    Args:
        spec: where and how to read the batch.
        source: the source name (``trust.source_keys.validate_source``).
        key_path: the source's Ed25519 private key (PKCS#8 PEM).
        out: the envelope file, ``-`` for standard output; default :func:`default_envelope`.
        captured_at: the capture time (ISO 8601 date or date-time, naive is UTC); default now.
        executor: runs the hashing (default local processes).
        replace: replace a file already at ``out`` (``--force``); else it is refused, untouched.
        way_out: how the refusal of a file already at ``out`` says to get past it (the Python API names
            its own parameters).

    Returns:
        The ``SignResult``.

    Raises:
        InputError: a bad source name or capture time, an output path that cannot be
            written (checked before any data is read), data that cannot be read, or a
            record naming another source (exit 2), something already at ``out`` unless
            ``replace`` (exit 2; checked before any data is read); ``KeyFileError`` (exit 2) for the key.
    """
    trust.validate_source(source)
    private = keys.load_private(key_path)  # before reading data: a bad key should fail fast
    captured = clock.iso(clock.parse(captured_at, "--captured-at")) if captured_at else clock.now_iso()
    out_path = Path(out) if out else default_envelope(spec.path)
    try:  # before reading data: a device, FIFO or folder is refused, and an existing file unless replace
        output_file.check_output(out_path, "--out", replace)
    except output_file.AlreadyExists:
        raise _exists(out_path, way_out) from None
    kind = resolve_kind(spec)
    hashed = hash_batch(spec, source, executor)
    manifest_bytes = hashed.manifest.to_bytes()
    m = hashed.manifest
    predicate = {
        "source": source,
        "capturedAt": captured,
        "records": len(m),
        "labels": m.label_counts(),
        "schema": hashed.schema_fact(),  # with column types and the label's type (sources/facts.py)
        "read": _read_options(spec, kind),
        "manifest": {
            "sha256": hashlib.sha256(manifest_bytes).hexdigest(),
            "mediaType": MANIFEST_MEDIA_TYPE,
            "field": MANIFEST_FIELD,
        },
    }
    stmt = signing.statement(Path(str(spec.path).rstrip("/\\")).name, m.root, PREDICATE_TYPE, predicate)
    envelope = signing.sign(stmt, private)
    envelope[MANIFEST_FIELD] = base64.b64encode(manifest_bytes).decode()
    try:
        output_file.write_output(out_path, json.dumps(envelope, indent=1).encode() + b"\n", "--out", replace)
    except output_file.AlreadyExists:  # created while the batch was hashed: still never replaced
        raise _exists(out_path, way_out) from None
    skipped = [{"path": e.path, "reason": e.reason} for e in hashed.listing.ignored] if hashed.listing else []
    return SignResult(
        str(out_path),
        source,
        len(m),
        m.root.hex(),
        keys.key_id(private.public_key()),
        captured,
        m.label_counts(),
        skipped,
    )


def _exists(path: Path, way_out: str) -> InputError:
    """The refusal to sign over a file already there (a re-sign with a mistyped source went unnoticed)."""
    link = output_file.link_refusal(path, "--out")
    if link is not None:
        return link
    try:
        what = f"an envelope signed for source {read_envelope(path).claimed_source!r}"
    except InputError:
        what = "not a batch envelope prov can read"
    return InputError(f"{path}: already exists ({what}); {way_out}")
