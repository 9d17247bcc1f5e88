"""The root of trust: a file, signed by root keys the verifier pins, that gives keys their roles.

After TUF's root role (the TUF specification, section 5.3 "Update the root role"): the
file is a DSSE envelope around an in-toto Statement (``predicateType``
``https://prov.dev/root/v1``) whose predicate holds

- ``version`` (an integer from 1) and ``expires`` (ISO 8601 UTC);
- ``keys``: key id (SHA-256 hex of the raw Ed25519 public key) -> ``{"keytype": "ed25519",
  "publicKey": PEM, "name": for people}``;
- ``roles``: ``root`` (required), ``commit``, ``attest``, ``waive`` -> ``{"keyids": [...],
  "threshold": N}``; a role left out has no keys (nobody may sign for it);
- ``sources``: source name -> ``{"keyids": [...], "threshold": N}``, the keys that may sign
  that source's batches;
- ``store`` (optional): the id of the store the root is for (``provenance.store.identity``:
  32 lowercase hex digits, ``prov init`` prints it): a verifier holding the root then pins the
  store id too (``Pins.store_id``), so no ``.prov/`` writer can make a commit sign another
  project's id (attack review 17b).

A verifier names the files oldest first (``--root`` repeated, or ``PROV_ROOT`` paths joined
by ``:``). The first must be signed by at least *T* keys that the verifier pinned with
``--signer`` and that the file lists under ``root``, where *T* is the larger of the file's
own root threshold and the threshold the verifier pins (``--root-threshold``, default 1:
pin it, or one stolen root key can sign a root that lowers the threshold). Each later file
must have the next version number and be signed by the previous root's threshold of the
previous root's keys *and* its own threshold of its own root keys (rotation). The last file
is the one in force and must not have expired. Revoking a key is a new root without it.

Everything wrong with a root file is ``InputError`` (exit 2) naming the file and the problem:
it is the verifier's own trust input, so nothing is evaluated against a doubtful root.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from provenance import clock, keys, signing
from provenance.errors import InputError, VerificationError
from provenance.trust.roles import COMMIT, ROLES, ROOT, RoleKeys, verify_role

PREDICATE_TYPE = "https://prov.dev/root/v1"
SUBJECT = "prov-root"
MAX_ROOT_BYTES = 1 << 20
UNSUPPORTED_THRESHOLDS = {COMMIT: "prov commit signs a version with one key"}


@dataclass(frozen=True)
class Delegation:
    """One role's (or one source's) keys and threshold, as a root file writes them."""

    keyids: tuple[str, ...]
    threshold: int


@dataclass(frozen=True)
class Root:
    """A root file that verified: its facts, and where it came from.

    Attributes:
        version: the root's version number (1, 2, ...).
        expires: when it stops being valid (aware UTC datetime).
        keys: key id -> Ed25519 public key, every key the root names.
        key_names: key id -> the name the root gives it.
        roles: role -> its delegation (``root`` always; others when the root names them).
        sources: source name -> the delegation of its batch-signing keys.
        path: the file it was read from.
        digest: SHA-256 (hex) of the file's bytes.
        store: the store id the root pins (its ``store`` field), or ``None``.
    """

    version: int
    expires: dt.datetime
    keys: Mapping[str, Ed25519PublicKey]
    key_names: Mapping[str, str]
    roles: Mapping[str, Delegation]
    sources: Mapping[str, Delegation]
    path: str
    digest: str
    store: str | None = None

    def describe(self) -> str:
        """``root v3 (root.json, expires 2026-01-01T00:00:00+00:00)``."""
        return f"root v{self.version} ({self.path}, expires {clock.iso(self.expires)})"

    def role_keys(self, role: str) -> RoleKeys:
        """The keys the root gives ``role`` (empty with threshold 1 when the root does not name it)."""
        delegation = self.roles.get(role) or Delegation((), 1)
        return self._keys(role, delegation)

    def source_keys(self, source: str) -> RoleKeys:
        """The keys that may sign batches of ``source`` (empty when the root does not name it)."""
        delegation = self.sources.get(source) or Delegation((), 1)
        return self._keys(f"source {source}", delegation)

    def _keys(self, role: str, delegation: Delegation) -> RoleKeys:
        chosen = {k: self.keys[k] for k in delegation.keyids}
        names = {k: self.key_names.get(k, "") for k in delegation.keyids}
        return RoleKeys(role, chosen, delegation.threshold, self.describe(), names)

    def to_dict(self) -> dict[str, Any]:
        """For ``--json`` outputs: version, expiry, path, digest, and each role's key ids and threshold."""

        def out(d: Delegation) -> dict:
            return {"keyids": list(d.keyids), "threshold": d.threshold}

        return {
            "version": self.version,
            "expires": clock.iso(self.expires),
            "path": self.path,
            "sha256": self.digest,
            "roles": {r: out(d) for r, d in self.roles.items()},
            "sources": {s: out(d) for s, d in self.sources.items()},
            "store": self.store,
        }


# --- reading one file ----------------------------------------------------------------------


def read_envelope(path: str | Path) -> tuple[dict, bytes]:
    """A root file's DSSE envelope (shape-checked) and its bytes. ``InputError`` names the file."""
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_ROOT_BYTES:
            raise InputError(f"{name}: root file is larger than {MAX_ROOT_BYTES >> 10} KiB")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read root file ({exc.strerror})") from exc
    return signing.parse_envelope(data, f"{name} (root file)"), data


def parse_document(doc: Any, name: str) -> tuple[int, dt.datetime, dict, dict, dict, dict, str | None]:
    """Validate a root predicate; return (version, expires, keys, key_names, roles, sources, store).

    Raises ``InputError`` naming ``name`` and the field for anything out of shape: a
    missing or mistyped field, an unknown role, a key whose id is not its SHA-256, a key
    that is not Ed25519, a threshold below 1 or above its number of keys, a role naming a
    key the root does not list, a ``store`` that is not a store id.
    """
    if not isinstance(doc, dict):
        raise InputError(f"{name}: the root is not a JSON object")
    unknown = sorted(set(doc) - {"version", "expires", "keys", "roles", "sources", "store"})
    if unknown:
        raise InputError(f"{name}: unknown field {unknown[0]!r} in the root")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{name}: version must be an integer from 1, not {version!r}")
    if not isinstance(doc.get("expires"), str):
        raise InputError(f"{name}: expires must be an ISO 8601 date-time")
    expires = clock.parse(doc["expires"], f"{name}: expires")
    raw_keys = doc.get("keys")
    if not isinstance(raw_keys, dict) or not raw_keys:
        raise InputError(f"{name}: keys must map key ids to public keys")
    public: dict[str, Ed25519PublicKey] = {}
    names: dict[str, str] = {}
    for kid, entry in raw_keys.items():
        if (
            not isinstance(entry, dict)
            or entry.get("keytype") != "ed25519"
            or not isinstance(entry.get("publicKey"), str)
        ):
            raise InputError(f"{name}: key {str(kid)[:16]}: needs keytype 'ed25519' and a PEM publicKey")
        key = keys.parse_public(entry["publicKey"].encode(), f"{name}: key {str(kid)[:16]}")
        if keys.key_id(key) != kid:
            raise InputError(f"{name}: key {str(kid)[:16]}: its id is not the SHA-256 of its public key")
        public[kid], names[kid] = key, str(entry.get("name") or "")
    raw_roles = doc.get("roles")
    if not isinstance(raw_roles, dict) or ROOT not in raw_roles:
        raise InputError(f"{name}: roles must name at least the root role")
    for role in raw_roles:
        if role not in ROLES:
            raise InputError(
                f"{name}: unknown role {role!r} (roles are {', '.join(ROLES)}; sources go under 'sources')"
            )
    roles = {r: _delegation(raw_roles[r], public, f"{name}: role {r}") for r in raw_roles}
    for role, why in UNSUPPORTED_THRESHOLDS.items():
        if role in roles and roles[role].threshold > 1:
            raise InputError(f"{name}: role {role} threshold {roles[role].threshold} is not supported ({why})")
    raw_sources = doc.get("sources", {})
    if not isinstance(raw_sources, dict):
        raise InputError(f"{name}: sources must map source names to keys")
    sources = {str(s): _delegation(d, public, f"{name}: source {s}") for s, d in raw_sources.items()}
    store = doc.get("store")
    if store is not None and not _is_store_id(store):
        raise InputError(f"{name}: store must be a store id (32 lowercase hex digits, as prov init prints)")
    return version, expires, public, names, roles, sources, store


def _is_store_id(value: object) -> bool:
    from provenance.store.identity import is_store_id  # the store package only when a root names a store

    return is_store_id(value)


def _delegation(raw: Any, public: Mapping[str, Ed25519PublicKey], where: str) -> Delegation:
    if not isinstance(raw, dict) or set(raw) - {"keyids", "threshold"}:
        raise InputError(f'{where}: must be {{"keyids": [...], "threshold": N}}')
    ids, threshold = raw.get("keyids"), raw.get("threshold", 1)
    if not isinstance(ids, list) or not all(isinstance(k, str) for k in ids) or len(set(ids)) != len(ids):
        raise InputError(f"{where}: keyids must be a list of distinct key ids")
    missing = [k for k in ids if k not in public]
    if missing:
        raise InputError(f"{where}: key {missing[0][:16]} is not among the root's keys")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= max(len(ids), 1):
        raise InputError(f"{where}: threshold must be between 1 and its {len(ids)} keys, not {threshold!r}")
    return Delegation(tuple(ids), threshold)


def _statement_document(env: dict, name: str) -> dict:
    stmt = signing.unverified_statement(env)
    if stmt.get("_type") != signing.STATEMENT_TYPE or stmt.get("predicateType") != PREDICATE_TYPE:
        raise InputError(f"{name}: not a prov root file (predicateType {stmt.get('predicateType')!r})")
    doc = stmt.get("predicate")
    if not isinstance(doc, dict):
        raise InputError(f"{name}: the root statement has no predicate object")
    try:
        digest = stmt["subject"][0]["digest"]["sha256"]
    except (KeyError, IndexError, TypeError) as exc:
        raise InputError(f"{name}: the root statement has no sha256 subject digest") from exc
    if digest != document_digest(doc):
        raise InputError(f"{name}: the root statement's subject digest is not that of its predicate")
    return doc


def document_digest(doc: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a root predicate: the root statement's subject digest."""
    return hashlib.sha256(signing.canonical_json(doc)).hexdigest()


# --- verifying the chain -------------------------------------------------------------------


def _check_signed(env: dict, role: RoleKeys, name: str) -> None:
    try:
        verify_role(env, role, name)
    except VerificationError as exc:
        raise InputError(str(exc)) from exc


def load_chain(
    paths: Sequence[str | Path],
    pinned: Mapping[str, Ed25519PublicKey],
    min_threshold: int = 1,
    now: dt.datetime | None = None,
) -> Root:
    """Verify root files oldest first against the ``pinned`` root keys; return the one in force.

    ``pinned`` maps key id -> public key (the verifier's ``--signer`` keys);
    ``min_threshold`` is the least number of them that must sign the first root.
    Raises ``InputError`` (exit 2) naming the file and the problem (see the module docstring).
    """
    return load_chain_history(paths, pinned, min_threshold, now)[-1]


def load_chain_history(
    paths: Sequence[str | Path],
    pinned: Mapping[str, Ed25519PublicKey],
    min_threshold: int = 1,
    now: dt.datetime | None = None,
) -> list[Root]:
    """:func:`load_chain`, returning every root of the verified chain, oldest first (the last is in force).

    The earlier roots say which keys held a role *before* a rotation: an audit checkpoint
    signed then is still checked against them (``provenance.store.coverage``).
    """
    if not paths:
        raise InputError("no root file given")
    if not pinned:
        raise InputError(f"{paths[0]}: a root file is trusted only when signed by keys you pin; pass --signer ROOT.pub")
    previous: Root | None = None
    chain: list[Root] = []
    for path in paths:
        env, data = read_envelope(path)
        name = str(path)
        version, expires, public, names, roles, sources, store = parse_document(_statement_document(env, name), name)
        digest = hashlib.sha256(data).hexdigest()
        current = Root(version, expires, public, names, roles, sources, name, digest, store)
        own = current.role_keys(ROOT)
        own = RoleKeys(ROOT, own.keys, max(own.threshold, min_threshold), f"{name}'s own root keys", own.names)
        if previous is None:
            anchored = {k: v for k, v in own.keys.items() if k in pinned}
            if not anchored:
                raise InputError(f"{name}: none of its root keys is pinned (--signer / PROV_SIGNERS)")
            _check_signed(env, RoleKeys(ROOT, anchored, own.threshold, "pinned root keys", own.names), name)
        else:
            if version != previous.version + 1:
                raise InputError(
                    f"{name}: version {version} does not follow root v{previous.version} ({previous.path})"
                )
            before = previous.role_keys(ROOT)
            _check_signed(env, before, name)
            _check_signed(env, own, name)
        previous = current
        chain.append(current)
    assert previous is not None
    if (now or clock.now()) >= previous.expires:
        raise InputError(
            f"{previous.path}: root v{previous.version} expired at {clock.iso(previous.expires)}; "
            "its root key holders must sign a new version (prov root new, prov root sign)"
        )
    return chain


def statement_for(doc: dict) -> dict:
    """The in-toto Statement a root file signs for the predicate ``doc`` (validated by the caller)."""
    return {
        "_type": signing.STATEMENT_TYPE,
        "subject": [{"name": SUBJECT, "digest": {"sha256": document_digest(doc)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": doc,
    }


def load_document(path: str | Path) -> dict:
    """The root predicate in ``path``: a root file's (signed or not), or a bare JSON document to sign.

    Raises ``InputError`` naming the file if it is neither, or if the predicate is out of shape.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
        obj = json.loads(data)
    except OSError as exc:
        raise InputError(f"{name}: cannot read root file ({exc.strerror})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{name}: root file is not JSON ({exc})") from exc
    is_envelope = isinstance(obj, dict) and "payload" in obj
    doc = _statement_document(signing.parse_envelope(data, name), name) if is_envelope else obj
    parse_document(doc, name)
    return doc
