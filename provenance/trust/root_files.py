"""Writing root-of-trust files: a new root document, and signing one (the first or a further signature).

``prov root new`` writes an unsigned document (plain JSON, the predicate described in
``provenance.trust.root``) that people can read and edit; ``prov root sign`` wraps it in a
DSSE envelope signed by one root key, and each further ``prov root sign`` on the envelope
adds one more signature over the same payload, until the threshold is met. Nothing here
decides what is trusted: ``root.load_chain`` does, on the verifier's side.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance import clock, keys, signing
from provenance.errors import InputError
from provenance.store.objects import atomic_write
from provenance.trust.root import ROLES, ROOT, document_digest, load_document, parse_document, statement_for
from provenance.trust.source_keys import validate_source

DEFAULT_VALID_DAYS = 365


def new_document(
    root_keys: Sequence[str | Path],
    root_threshold: int = 1,
    roles: Mapping[str, Sequence[str | Path]] | None = None,
    sources: Mapping[str, Sequence[str | Path]] | None = None,
    version: int = 1,
    expires: str | None = None,
    valid_days: int = DEFAULT_VALID_DAYS,
    store: str | None = None,
) -> dict:
    """A root predicate giving each role the keys in the named ``.pub`` files.

    ``root_keys`` are the root keys (at least ``root_threshold`` of them); ``roles`` maps
    ``commit``/``attest``/``waive`` to key files, ``sources`` a source name to its
    batch-signing key files (thresholds 1). ``expires`` (ISO 8601) defaults to
    ``valid_days`` from now. ``store``: the store id the root pins (``prov root new --store-id``;
    ``None``: none). Raises ``InputError`` for a bad key file, role, source name, threshold or
    store id (the document is validated like a root file).
    """
    table: dict[str, dict] = {}

    def ids(paths: Sequence[str | Path]) -> list[str]:
        out = []
        for path in paths:
            public = keys.load_public(path)
            kid = keys.key_id(public)
            table[kid] = {"keytype": "ed25519", "publicKey": keys.public_pem(public), "name": Path(path).stem}
            out.append(kid)
        return list(dict.fromkeys(out))

    if not root_keys:
        raise InputError("a root needs at least one root key (--root-key KEY.pub)")
    doc_roles = {ROOT: {"keyids": ids(root_keys), "threshold": root_threshold}}
    for role, paths in (roles or {}).items():
        if role not in ROLES or role == ROOT:
            raise InputError(f"role {role!r}: expected one of {', '.join(r for r in ROLES if r != ROOT)}")
        doc_roles[role] = {"keyids": ids(paths), "threshold": 1}
    doc_sources = {validate_source(s): {"keyids": ids(paths), "threshold": 1} for s, paths in (sources or {}).items()}
    until = clock.parse(expires, "--expires") if expires else clock.now() + dt.timedelta(days=valid_days)
    doc = {"version": version, "expires": clock.iso(until), "keys": table, "roles": doc_roles, "sources": doc_sources}
    if store is not None:
        doc["store"] = store
    parse_document(doc, "the new root")
    return doc


@dataclass(frozen=True)
class SignedRoot:
    """What ``sign_root`` wrote: the file, the root's version, the key that signed, every key id that has,
    the subject digest, and whether the key is one of this root's own root keys."""

    path: str
    version: int
    keyid: str
    signatures: tuple[str, ...]
    digest: str
    own_root_key: bool = True  # False: a key this root does not list (the previous root's, in a rotation)

    def to_dict(self) -> dict:
        """For ``prov root sign --json``."""
        return {
            "root": self.path,
            "version": self.version,
            "keyid": self.keyid,
            "signatures": list(self.signatures),
            "subject_sha256": self.digest,
            "own_root_key": self.own_root_key,
        }


def sign_root(path: str | Path, key_path: str | Path, out: str | Path | None = None) -> SignedRoot:
    """Sign the root in ``path`` (an unsigned document or a root file) with ``key_path``; write ``out`` (default ``path``).

    A root file keeps its payload and gains one signature; signing twice with one key
    changes nothing. The key is normally one of the root's root keys; in a rotation the
    previous root's keys sign too (``SignedRoot.own_root_key`` says which it was).
    Raises ``InputError`` for a bad file or key.
    """
    doc = load_document(path)
    private = keys.load_private(key_path)
    kid = keys.key_id(private.public_key())
    target = Path(out) if out else Path(path)
    if not target.parent.is_dir():
        raise InputError(f"{target}: folder {target.parent} does not exist")
    existing = _existing_envelope(path)
    payload = signing.canonical_json(statement_for(doc))
    if existing is not None and base64.b64decode(existing["payload"]) == payload:
        env = existing
    else:
        env = {"payloadType": signing.PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(), "signatures": []}
    signed = {s.get("keyid") for s in env["signatures"]}
    if kid not in signed:
        sig = private.sign(signing.pae(signing.PAYLOAD_TYPE, payload))
        env["signatures"].append({"keyid": kid, "sig": base64.b64encode(sig).decode()})
    atomic_write(target, signing.canonical_json(env) + b"\n")
    keyids = tuple(s.get("keyid", "") for s in env["signatures"])
    own = kid in doc["roles"][ROOT]["keyids"]
    return SignedRoot(str(target), doc["version"], kid, keyids, document_digest(doc), own)


def _existing_envelope(path: str | Path) -> dict | None:
    data = Path(path).read_bytes()
    try:
        return signing.parse_envelope(data, str(path))
    except InputError:
        return None  # an unsigned document
