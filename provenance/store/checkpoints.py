"""Signed checkpoints over the audit log (RFC 9162 signed tree heads) and what they cover.

The audit log is a Merkle tree (RFC 9162 §2.1, the tree of ``provenance.merkle``) whose
leaf i is entry i's canonical bytes (``audit.entry_bytes``, the bytes its chain hash is
computed from). A **checkpoint** is a signed tree head: an in-toto Statement v1 in a DSSE
envelope, signed with Ed25519, whose subject is ``audit-log`` with digest
``rfc6962-sha256`` = the root hash and whose predicate (``CHECKPOINT_TYPE``) is
``{"treeSize", "rootHash", "headHash", "timestamp"}``: entries covered, their root, the
chain hash of the last one (the value a version signs as ``auditLogHead``), and when
(UTC). Schema: ``schemas/audit-checkpoint.schema.json``.

A command that appends audit entries signs a checkpoint when it is given a key
(``Store.write(checkpoint=CheckpointKey...)``). What a check may rely on, and
``prov audit verify``, are ``provenance.store.coverage``.

Keys: ``keys`` arguments map key id (SHA-256 hex of the raw public key) to an Ed25519
public key: the keys the verifier pinned. ``None`` means none were pinned: the store's
registered, unrevoked keys are used and every result says ``pinned: False``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance import clock, keys, merkle, signing
from provenance.errors import InputError, VerificationError
from provenance.store import audit
from provenance.store.schema import CHECKPOINTS, create_checkpoints_table
from provenance.store.vouching import LEFT_PENDING

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog

CHECKPOINT_TYPE = "https://prov.dev/audit-checkpoint/v1"
SUBJECT = "audit-log"
Keys = Mapping[str, Ed25519PublicKey]


@dataclass(frozen=True)
class Checkpoint:
    """One signed tree head: ``size`` entries with RFC 9162 root ``root`` (hex), the chain
    hash ``head`` (hex) of entry ``size``, signed at ``timestamp`` (ISO UTC) by ``keyid``;
    ``object`` is its envelope's object id (``.prov/objects/<object>.json``). ``left_pending``: the version
    entries (seqs) among them its signer did not vouch for (``vouching.LEFT_PENDING``: a revocation's checkpoint
    names those no commit key's head vouched for when it was signed); empty for every other checkpoint."""

    size: int
    root: str
    head: str
    timestamp: str
    keyid: str
    object: str
    left_pending: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        """The checkpoint as JSON-able data (``left_pending`` a list)."""
        return {**self.__dict__, "left_pending": list(self.left_pending)}


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointKey:
    """The private key a command signs its checkpoint with, and the name it registers under."""

    private: Ed25519PrivateKey
    name: str
    # a revocation's: over a log prov audit verify calls broken, its write stands with no checkpoint (pending)
    pending_over_broken_log: bool = False

    @classmethod
    def load(cls, path: str | Path, revocation: bool = False) -> CheckpointKey:
        """Load a PKCS#8 PEM Ed25519 private key (``PROV_PASSPHRASE`` if encrypted); its
        name is the file's stem. ``revocation``: the key of a revocation's checkpoint (:meth:`sign`).
        Raises KeyFileError (exit 2) for a missing or bad key."""
        return cls(keys.load_private(path), Path(path).stem, revocation)

    def sign(self, store: Any, left_pending: Sequence[int] = ()) -> Checkpoint | None:
        """:func:`sign_checkpoint` with this key (``Store.write`` calls it at the end of a write).

        A revocation's key (``pending_over_broken_log``) signs nothing over a broken log either, but does not
        undo the revocation: it returns None, the write commits with its entries pending (``written_checkpoint``
        None) and the command then fails saying so (:func:`require_signed_revocation`). A ``.prov/`` writer who
        breaks the log for a moment must not stop a revocation (attack review 22c's replays of seq 0 rows).
        ``left_pending``: the version entries the checkpoint signs without vouching for them (:func:`sign_checkpoint`)."""
        if self.pending_over_broken_log:
            try:
                signable_entries(store)
            except VerificationError:
                return None
        return sign_checkpoint(store, self.private, self.name, left_pending=left_pending)


def require_signed_revocation(store: Any, signer: CheckpointKey | None, what: str) -> None:
    """After a revocation ``what`` written with checkpoint key ``signer`` (``Store.write``, ``written_checkpoint``):
    raise VerificationError (exit 1) saying the revocation stands but is pending, naming the first break of the log
    that kept it from being signed (:meth:`CheckpointKey.sign`). Nothing without ``signer``, or once signed."""
    if signer is None or getattr(store, "written_checkpoint", None) is not None:
        return
    try:
        signable_entries(store)
    except VerificationError as exc:
        raise VerificationError(
            f"revoked {what}, but no checkpoint signs the revocation: it is pending ({exc}); then revoke again, "
            "or sign one with prov audit checkpoint"
        ) from exc


def leaves(db) -> tuple[list[dict], list[bytes]]:
    """Every audit entry and its Merkle leaf hash, in log order."""
    rows = audit.entries(db)
    return rows, leaf_hashes(rows)


def leaf_hashes(rows: list[dict]) -> list[bytes]:
    """The Merkle leaf hash (RFC 9162 §2.1.1) of each entry of ``rows`` (``audit.entries``), in order."""
    return [merkle.leaf_hash(audit.entry_bytes(e)) for e in rows]


def intact_leaves(db) -> tuple[list[dict], list[bytes]]:
    """:func:`leaves` of a log whose own rows ``prov audit verify`` does not call broken (``audit.intact_entries``:
    hash chain, batch registrations, commits). Raises VerificationError (exit 1) naming the first break."""
    rows = audit.intact_entries(db)
    return rows, leaf_hashes(rows)


def signable_entries(store: Any) -> list[dict]:
    """``audit.chained_entries`` of the log a checkpoint is about to sign, or be kept as its state.

    A maintainer's signature over a log whose hash chain ``prov audit verify`` calls broken (an entry, or its chain
    hash, edited with sqlite3) would vouch for the tampering, so nothing signs it: every path that signs the whole
    log comes here (:func:`sign_checkpoint`, so each write given a checkpoint key and the version or attestation it
    signs in that write; :func:`log_state_now`, so every kept file). Entries that chain but were planted (a batch
    or version registered twice) are not refused here: their readers refuse them whatever signs them (lineage,
    ``gate.sibling_deliveries``), and the gate is tested judging them under a maintainer's signature.
    Raises VerificationError (exit 1) naming the first broken entry; the caller's write rolls back."""
    try:
        return audit.chained_entries(store.db)
    except VerificationError as exc:
        raise VerificationError(
            f"{exc}; prov signs no log state over a broken log, so nothing was signed: restore .prov/ from a copy "
            "you trust (prov audit verify, prov fsck)"
        ) from exc


def sign_checkpoint(
    store: Any,
    private: Ed25519PrivateKey,
    name: str = "checkpoint",
    force: bool = False,
    left_pending: Sequence[int] = (),
) -> Checkpoint | None:
    """Inside ``store.write()``, after the command's entries: sign a tree head over the whole log.

    The signing key's public half is registered in the store's ``keys`` table on first use
    (audit-logged, before the tree is taken, so the checkpoint covers it too; ``name``
    names it there). Returns the checkpoint, or None when the log is empty or (unless
    ``force``) a checkpoint by this key that verifies already covers exactly the log now
    (:func:`covering`): a ``checkpoints`` row is written by whoever writes ``.prov/``, so a
    row's size alone never skips the signature (attack review 17, F17-1). Raises StoreError
    outside a write; VerificationError (exit 1) naming the first break of a log ``prov audit verify`` calls
    broken (:func:`signable_entries`), before anything is appended. ``left_pending``: version entries (seqs) the
    checkpoint covers without vouching for them, signed in its predicate (``vouching.LEFT_PENDING``; a revocation's,
    ``Store.write``): a head that names none vouches for every version entry it covers.
    """
    keyid = keys.key_id(private.public_key())
    signable_entries(store)  # before the key's registration entry: a broken log gets nothing appended or signed
    register_signing_key(store, private, name)
    rows, hashes = leaves(store.db)
    if not rows:
        return None
    create_checkpoints_table(store.db)
    left_pending = tuple(sorted(set(left_pending)))
    if not force and covering(store, private.public_key(), rows, hashes, left_pending) is not None:
        return None
    data, predicate = _signed_tree_head(private, rows, hashes, left_pending)
    oid = store.put_object(data, "json")
    cp = Checkpoint(
        len(rows), predicate["rootHash"], predicate["headHash"], predicate["timestamp"], keyid, oid, left_pending
    )
    store.db.table(CHECKPOINTS).insert(
        {"object": oid, "size": cp.size, "root": cp.root, "head": cp.head, "keyid": keyid, "created_at": cp.timestamp}
    )
    return cp


def _signed_tree_head(
    private: Ed25519PrivateKey, rows: list[dict], hashes: list[bytes], left_pending: Sequence[int] = ()
) -> tuple[bytes, dict]:
    """The canonical bytes of a checkpoint envelope (DSSE, in-toto Statement v1) that ``private`` signs over the
    non-empty log ``rows``/``hashes`` (:func:`leaves`), and its predicate (``treeSize``, RFC 9162 ``rootHash``,
    ``headHash``, ``timestamp``, and ``pendingVersionEntries`` only when ``left_pending`` names any: a checkpoint
    without it is byte for byte what prov signed before)."""
    root = merkle.merkle_root(hashes)
    predicate: dict[str, Any] = {
        "treeSize": len(rows),
        "rootHash": root.hex(),
        "headHash": rows[-1]["hash"],
        "timestamp": clock.now_iso("microseconds"),
    }
    if left_pending:
        predicate[LEFT_PENDING] = sorted(set(left_pending))
    envelope = signing.sign(signing.statement(SUBJECT, root, CHECKPOINT_TYPE, predicate), private)
    return signing.canonical_json(envelope), predicate


def covering(
    store: Any,
    public: Ed25519PublicKey,
    rows: list[dict],
    hashes: list[bytes],
    left_pending: tuple[int, ...] | None = None,
) -> Checkpoint | None:
    """A checkpoint in the store signed by ``public``'s key that covers exactly the log ``rows``/``hashes``
    (:func:`leaves` now): its signature verifies under that key and its treeSize, RFC 9162 root and head
    chain hash are the log's, and (``left_pending`` given) it leaves exactly those version entries pending (a
    revocation's checkpoint is no maintainer's knowing signature over them). None when there is none (rows that
    name the key but do not verify, or cover another log, are passed over: they are no evidence)."""
    if not rows:
        return None
    keyid = keys.key_id(public)
    candidates = [r for r in checkpoint_rows(store.db) if r["keyid"] == keyid and r["size"] == len(rows)]
    if not candidates:
        return None
    for row in reversed(candidates):
        try:
            cp = read_checkpoint(store, row, {keyid: public})
        except (VerificationError, InputError):
            continue
        if departure_from(rows, hashes, cp, "") is None and left_pending in (None, cp.left_pending):
            return cp
    return None


def departure_from(rows: list[dict], hashes: list[bytes], cp: Checkpoint, path: str) -> str | None:
    """Why the audit log ``rows``/``hashes`` (:func:`leaves`) does not hold the log state ``cp`` kept in
    ``path`` (fewer entries than it signed, or first ``treeSize`` entries whose RFC 9162 root or last chain
    hash differ), or None when it does (``gate.kept_states.departure``)."""
    if cp.size > len(rows):
        return (
            f"the store's audit log has {len(rows)} entries, {cp.size - len(rows)} fewer than the "
            f"{cp.size} of the log state kept in {path}"
        )
    if merkle.prefix_roots(hashes, {cp.size})[cp.size].hex() != cp.root or rows[cp.size - 1]["hash"] != cp.head:
        return (
            f"the store's audit log's first {cp.size} entries are not the {cp.size} of the log state kept in "
            f"{path} (root {cp.root[:16]})"
        )
    return None


def checkpoint_now(store: Any, signer: CheckpointKey, kept_log: KeptLog | None = None) -> Checkpoint:
    """``prov audit checkpoint``: sign a checkpoint over the whole log in its own write.

    A checkpoint by this key already in the store is returned only when it verifies under
    the key, covers exactly the log now and leaves no version entry pending (:func:`covering`: a revocation's
    does, and this is the maintainer's knowing signature over them); otherwise a fresh one is
    signed over :func:`leaves`. Raises InputError for an empty log; VerificationError for a broken one
    (:func:`signable_entries`: nothing written). ``kept_log`` (``--checkpoint PREV``:
    ``kept_log.KeptLog.held``, checked by the caller before) is checked again first thing
    inside the write: VerificationError (exit 1, nothing written) when the log no longer holds one of its states.
    """
    with store.write():
        if kept_log is not None:  # a checkpoint signs the log: never one cut back since PREV was kept
            kept_log.require_held(store)
        if audit.head(store.db)[0] == 0:
            raise InputError(f"{store.root}: the audit log is empty; nothing to checkpoint")
        cp = sign_checkpoint(store, signer.private, signer.name)
        if cp is None:
            rows, hashes = leaves(store.db)
            cp = covering(store, signer.private.public_key(), rows, hashes, ())  # a revocation's vouches for less
        if cp is None:
            cp = sign_checkpoint(store, signer.private, signer.name, force=True)
    assert cp is not None
    return cp


def _covers_now(
    store: Any, signer: CheckpointKey, data: bytes, name: str, holds: Sequence[tuple[str, Checkpoint]] = ()
) -> Checkpoint:
    """The checkpoint in ``data`` after checking that it is signed by ``signer`` and covers exactly the store's
    audit log now; raises VerificationError naming ``name`` otherwise (a kept file over an older log would
    let a ``.prov/`` writer erase what came after it: attack review 17, F17-1). On the same reading of the log,
    it must hold each ``(where, state)`` of ``holds`` too, else VerificationError naming ``where``."""
    keyid = keys.key_id(signer.private.public_key())
    cp = parse_checkpoint(data, name, {keyid: signer.private.public_key()})
    rows, hashes = leaves(store.db)
    why = departure_from(rows, hashes, cp, name)
    if why is None and cp.size != len(rows):
        why = f"it signs {cp.size} entries, but the store's audit log holds {len(rows)} now"
    if why is not None:
        raise VerificationError(f"{name}: not the log state now ({why}); nothing kept can be relied on")
    for where, state in holds:
        why = departure_from(rows, hashes, state, where)
        if why is not None:
            raise VerificationError(f"{why}: entries were deleted or rewritten since; no log state was kept")
    return cp


def log_state_now(store: Any, signer: CheckpointKey, holds: Sequence[tuple[str, Checkpoint]] = ()) -> bytes:
    """The envelope (bytes) of a checkpoint ``signer`` signs over exactly the store's audit log now, to keep
    outside the store; nothing is written to the store (attack review 18, F18-1).

    The kept state must be the log as it is: a CI runner's throwaway checkout that appended anything (the
    key's first-use ``key.register`` entry, as :func:`sign_checkpoint` does) would keep a log one entry longer
    than the repository's, and every later run would fail against it. So the key is not registered (verifiers
    check it against the keys they pin; the store's ``keys`` are a cache) and no ``checkpoints`` row is added.
    A checkpoint by this key already in the store that verifies and covers exactly the log now
    (:func:`covering`) is reused (the one a command's own write signed), else a fresh one is signed. A stored
    one is written out as prov writes an envelope (:func:`_own_envelope`: DSSE's ``payloadType``, ``payload``
    and only the signatures by ``signer``'s key that verify), never as the bytes a ``.prov/`` writer may have
    dressed it in (attack review 19b, F19b-2). ``holds``: ``(where, state)`` pairs the log must extend too
    (attack review 18, F18-2).

    Raises InputError for an empty log; VerificationError for a log ``prov audit verify`` calls broken
    (:func:`signable_entries`), or when the envelope does not verify under ``signer``'s
    key, does not cover exactly the log now (a writer appended meanwhile) or the log does not hold one of
    ``holds``.
    """
    rows = signable_entries(store)
    hashes = leaf_hashes(rows)
    if not rows:
        raise InputError(f"{store.root}: the audit log is empty; nothing to checkpoint")
    stored = covering(store, signer.private.public_key(), rows, hashes)
    if stored is not None:
        name = str(store.objects.path(stored.object))
        data = _own_envelope(store.objects.get(stored.object, "audit checkpoint"), name, signer)
    else:
        data, name = _signed_tree_head(signer.private, rows, hashes)[0], "the checkpoint signed now"
    _covers_now(store, signer, data, name, holds)
    return data


def _own_envelope(data: bytes, name: str, signer: CheckpointKey) -> bytes:
    """The checkpoint envelope in ``data`` (read from ``name``) as prov writes one (:func:`_signed_tree_head`:
    ``signing.canonical_json`` of DSSE's ``payloadType``, ``payload`` and ``signatures``), keeping only the
    signatures that verify under ``signer``'s key, each once as ``{"keyid", "sig"}`` with that key's id, and the
    payload and signatures re-encoded in standard base64 (RFC 4648; a lax decoder's other spellings are not kept).
    For an envelope prov wrote, these are its bytes unchanged. Raises InputError (exit 2) naming ``name`` for bytes
    that are no DSSE envelope; VerificationError when no signature verifies under the key."""
    env = signing.parse_envelope(data, name)
    public = signer.private.public_key()
    keyid = keys.key_id(public)
    payload = base64.b64decode(env["payload"])
    message = signing.pae(str(env["payloadType"]), payload)
    sigs: list[bytes] = []
    for s in env["signatures"]:
        try:
            sig = base64.b64decode(str(s.get("sig")))
            public.verify(sig, message)
        except (InvalidSignature, ValueError):
            continue
        if sig not in sigs:  # one signature once, however a .prov/ writer spelled it (attack review 19c, F19c-1)
            sigs.append(sig)
    if not sigs:
        raise VerificationError(f"{name}: no signature of the checkpoint verifies under key {keyid[:16]}")
    # payload and signatures in standard base64 of their decoded bytes: the spelling a strict decoder reads
    own = {"payloadType": env["payloadType"], "payload": base64.b64encode(payload).decode("ascii"), "signatures": []}
    own["signatures"] = [{"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")} for sig in sigs]
    return signing.canonical_json(own)


class ChangedAfterKept(VerificationError):
    """The log state was written to its file (checked to cover the log and hold every state it must), and the
    store's audit log changed before the file was read back. It is written under the store's lock
    (``Store.write(keep=...)``), so only a writer that ignores the lock (sqlite3 run directly on ``prov.db``)
    gets in there. The file is left where it was written (it is the state to keep); the message says why the
    log no longer matches it (attack review 19b, F19b-1)."""


def _read_back(store: Any, signer: CheckpointKey, path: str | Path, data: bytes) -> Checkpoint:
    """The checkpoint in the file just written to ``path``, read back: it must hold ``data`` and cover exactly
    the log now. Raises VerificationError naming ``path`` otherwise: :class:`ChangedAfterKept` when the file
    holds ``data`` but the log changed since it was signed."""
    try:
        got = Path(path).read_bytes()
    except OSError as exc:
        raise VerificationError(f"{path}: cannot read back the checkpoint written ({exc.strerror})") from exc
    if got != data:
        raise VerificationError(f"{path}: the file read back is not the checkpoint written")
    try:
        return _covers_now(store, signer, got, str(path))
    except VerificationError as exc:
        raise ChangedAfterKept(str(exc)) from exc


def register_signing_key(store: Any, private: Ed25519PrivateKey, name: str) -> bool:
    """Inside a write: add the key's public half to the store's ``keys`` on first use (audit-logged).

    The store's keys are a cache for reading signatures back, never an authority: a
    verifier trusts only the keys it pins. Returns whether the key was new.
    """
    keyid = keys.key_id(private.public_key())
    if store.db.execute("select 1 from keys where keyid = ?", [keyid]).fetchone():
        return False
    registered_at = clock.now_iso()
    store.db.table("keys").insert(
        {
            "keyid": keyid,
            "name": name,
            "public_pem": keys.public_pem(private.public_key()),
            "registered_at": registered_at,
        }
    )
    store.audit("key.register", keyid, {"name": name, "registered_at": registered_at})
    return True


# --- reading ------------------------------------------------------------------------------


def checkpoint_rows(db) -> list[dict]:
    """The ``checkpoints`` rows, oldest (smallest) first; empty for a store made before checkpoints."""
    if not db[CHECKPOINTS].exists():
        return []
    return list(db[CHECKPOINTS].rows_where(order_by="size, created_at"))


class UnknownSigner(VerificationError):
    """A checkpoint that verifies under none of the keys it was checked against and names none of them.

    It is no evidence either way: ``prov audit verify`` and the gate list it as not relied on
    (``provenance.store.coverage``) instead of failing, since whoever can write ``.prov/``
    can plant one with a key of their own, and an honest one is made by a reviewer's waive
    key or a key a new root rotated out. A kept checkpoint file given on the command line
    (:func:`checkpoint_from_file`) still fails with it (exit 1).
    """

    def __init__(self, message: str, keyid: str | None):
        super().__init__(message)
        self.keyid = keyid


def parse_checkpoint(data: bytes, name: str, trusted: Keys) -> Checkpoint:
    """A checkpoint from its envelope's bytes, after checking its signature and statement.

    Raises InputError (exit 2) naming ``name`` when the bytes are not a checkpoint (bad
    JSON, wrong types, another statement); VerificationError (exit 1) when the signature
    does not verify under ``trusted``: :class:`UnknownSigner` when no signature verifies
    and none names a key of ``trusted`` (a key the verifier did not pin), plain
    VerificationError when one names a key of ``trusted`` but does not verify under it (forged).
    """
    env = signing.parse_envelope(data, name)
    claimed = _claimed_keyids(env)
    try:
        verified = signing.verify(env, trusted, name)
    except VerificationError:
        if (
            env.get("payloadType") == signing.PAYLOAD_TYPE
            and not claimed & set(trusted)
            and not _any_verifies(env, trusted)
        ):
            who = min(claimed) if claimed else None
            raise UnknownSigner(
                f"{name}: audit checkpoint signed by {f'key {who[:16]}' if who else 'an unnamed key'}, "
                "which the verifier did not pin (pin that key with --signer if you trust it)",
                who,
            ) from None
        raise
    stmt = verified.statement
    pred = stmt.get("predicate")
    if stmt.get("predicateType") != CHECKPOINT_TYPE or not isinstance(pred, dict):
        raise InputError(f"{name}: not an audit checkpoint (predicateType {stmt.get('predicateType')!r})")
    size, root, head, ts = (pred.get(k) for k in ("treeSize", "rootHash", "headHash", "timestamp"))
    if not (type(size) is int and size >= 1 and _is_hex(root) and _is_hex(head) and isinstance(ts, str)):
        raise InputError(f"{name}: malformed audit checkpoint (needs treeSize >= 1, rootHash, headHash, timestamp)")
    try:  # an ISO 8601 time, as prov signs it: what signed_by and coverage show (attack review 24d, A24d-1)
        clock.parse(ts, "timestamp")
    except InputError:
        raise InputError(
            f"{name}: malformed audit checkpoint (its timestamp {ts[:40]!r} is no ISO 8601 time)"
        ) from None
    try:
        subject = signing.subject_root(stmt).hex()
        subject_name = stmt["subject"][0].get("name")
    except (VerificationError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise InputError(f"{name}: malformed audit checkpoint (its subject)") from exc
    if subject != root or subject_name != SUBJECT:
        raise VerificationError(f"{name}: audit checkpoint's subject differs from its rootHash")
    left = pred.get(LEFT_PENDING, [])
    if not (isinstance(left, list) and all(type(s) is int and 1 <= s <= size for s in left)):
        raise InputError(f"{name}: malformed audit checkpoint ({LEFT_PENDING} must list entries it covers)")
    return Checkpoint(size, str(root), str(head), ts, verified.keyid, hashlib.sha256(data).hexdigest(), tuple(left))


def read_checkpoint(store: Any, row: Mapping, trusted: Keys) -> Checkpoint:
    """The checkpoint a ``checkpoints`` row names (:func:`parse_checkpoint` on its object).

    Also raises VerificationError when the object's bytes were altered or the row differs
    from what the checkpoint signed.
    """
    path = str(store.objects.path(row["object"]))
    try:
        cp = parse_checkpoint(store.objects.get(row["object"], "audit checkpoint"), path, trusted)
    except UnknownSigner:
        if row["keyid"] in trusted:  # the row names a trusted key the envelope is not signed by: forged
            raise VerificationError(
                f"{path}: the store's checkpoint row names key {str(row['keyid'])[:16]}, "
                "but the checkpoint does not verify under it (forged)"
            ) from None
        raise
    if (row["size"], row["root"], row["head"], row["keyid"]) != (cp.size, cp.root, cp.head, cp.keyid):
        raise VerificationError(f"{path}: the store's checkpoint row differs from what the checkpoint signed")
    return cp


def checkpoint_from_file(path: str, trusted: Keys) -> Checkpoint:
    """A checkpoint kept outside the store (an envelope file a verifier saved earlier).

    Raises InputError (exit 2) naming ``path`` when it is unreadable or not a checkpoint,
    VerificationError (exit 1) when its signature does not verify under ``trusted``.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(signing.MAX_ENVELOPE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read checkpoint ({exc.strerror})") from exc
    return parse_checkpoint(data, path, trusted)


def _any_verifies(env: Mapping, trusted: Keys) -> bool:
    """Whether any signature of ``env`` (shape-checked) verifies under any key of ``trusted``."""
    message = signing.pae(str(env["payloadType"]), base64.b64decode(env["payload"]))
    for s in env["signatures"]:
        sig = base64.b64decode(s["sig"])
        for key in trusted.values():
            if signing.signature_verifies(key, sig, message):
                return True
    return False


def _claimed_keyids(env: Mapping) -> set[str]:
    return {str(s["keyid"]) for s in env.get("signatures") or [] if isinstance(s, dict) and s.get("keyid")}


def _is_hex(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def trusted_keys(store: Any, pinned: Keys | None) -> Keys:
    """The keys to check signatures with: the pinned ones, else the store's registered, unrevoked keys."""
    return store.trusted_keys() if pinned is None else pinned


def kept_checkpoint_path(store: Any, out: str | None, subject: str) -> Path:
    """Where a revocation's checkpoint is kept outside ``.prov/``: ``out``, else
    ``prov-revocation-SUBJECT.checkpoint.json`` in the current folder (``SUBJECT`` with
    anything but letters, digits, ``.``, ``_`` and ``-`` made ``_``).

    Called before the revocation is written, so a bad path changes nothing. Raises
    InputError (exit 2) for ``-``, a path inside ``store``'s ``.prov/`` folder (the default name too, run from
    in there), as :func:`refuse_written_in_store` says (attack review 20, A20-2, A20-3), when the file exists
    (a kept checkpoint is never overwritten) or its folder does not.
    """
    path = (
        Path(out)
        if out is not None
        else Path(f"prov-revocation-{re.sub(r'[^A-Za-z0-9_.-]', '_', subject)}.checkpoint.json")
    )
    refuse_written_in_store(store, str(path) if out is None else out, "--out")
    if path.exists() or path.is_symlink():
        raise InputError(f"{path}: already exists; a kept checkpoint is never overwritten (give --out ANOTHER_FILE)")
    if not path.parent.is_dir():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    return path


def keep_checkpoint(
    store: Any, signer: CheckpointKey, path: Path, holds: Sequence[tuple[str, Checkpoint]] | None = None
) -> Checkpoint:
    """Write the checkpoint ``signer`` signs over the whole log now (:func:`log_state_now`: the one the command's
    own write signed when it still covers every entry; nothing is written to the store) to ``path``, a new file
    (never overwritten; written whole under a temporary name, then linked into place: ``output_file``): the
    signed log state to keep outside the store.

    A store revocation survives a ``.prov/`` writer's rollback of the log only once a state
    signed after it is kept where the verifier reads it (``prov audit verify --checkpoint``;
    attack review 6, finding 9). Called as the revocation's ``Store.write(keep=...)``, after its transaction
    commits and before its lock is released, so no prov writer cuts the log in between (attack review 19b,
    F19b-1). The log signed must still extend ``holds`` (``(where, state)`` pairs; default: the checkpoint the
    store handle's last write signed, ``Store.written_checkpoint``, the revocation's own), and the file is read
    back (:func:`_read_back`): a writer that ignores the lock is caught, never kept as the state after it.
    Returns the checkpoint read back from ``path``.

    Raises InputError if ``path`` exists or cannot be written (nothing left there); VerificationError, with no
    file written, when the last write signed no checkpoint (and no ``holds`` are given), the checkpoint does not
    verify under ``signer``'s key or does not cover exactly the log now, or the log does not hold one of
    ``holds``; :class:`ChangedAfterKept` (the file left) when the log changed before it was read back.
    """
    from provenance import output_file

    if holds is None:
        written = getattr(store, "written_checkpoint", None)
        if written is None:
            signable_entries(store)  # a revocation left pending over a broken log (CheckpointKey.sign) says why
            raise VerificationError(f"{path}: the store's last write signed no log state; nothing was kept")
        holds = [("the revocation's own write", written)]
    data = log_state_now(store, signer, holds)
    try:
        output_file.write_output(path, data, "--out", replace=False)
    except output_file.AlreadyExists:
        raise InputError(f"{path}: already exists; a kept checkpoint is never overwritten") from None
    return _read_back(store, signer, path, data)


def keep_command(path: Path) -> str:
    """The one command that keeps ``path`` where the example CI workflow reads the kept log state."""
    return f"gh variable set PROV_KEPT_LOG_STATE < {shlex.quote(str(path))}"


def checkpoint_out_path(store: Any, out: str, flag: str = "--checkpoint-out") -> Path:
    """Check, before any work, where a command writes the log state to keep outside the store (``prov commit
    --checkpoint-out FILE``) and return the file it will write (``out`` itself).

    A regular file already at ``out`` is replaced atomically (it is the one asked for: CI keeps the newest
    state under one name); nothing else is written. Raises InputError (exit 2) naming ``out`` for a path
    inside the store's ``.prov/`` folder (a ``.prov/`` writer deletes a state kept there with the entries it
    signed), a symbolic link (prov never writes through one to a file it was not asked for), a folder,
    FIFO or device, or a folder that does not exist.
    """
    from provenance import output_file

    link = output_file.link_refusal(out, flag)
    if link is not None:
        raise link
    target = output_file.check_output(out, flag)
    refuse_written_in_store(store, out, flag)  # no link (refused above): ``out`` is where ``target`` is
    assert target is not None  # None only for "-", refused
    if target.is_file() and not _is_checkpoint_file(target):
        raise InputError(
            f"{flag} {out}: a file is there that is no kept log state (a checkpoint); prov replaces only an "
            "earlier checkpoint there: give another path, or move that file away first"
        )
    return target


def refuse_written_in_store(store: Any, out: str, flag: str) -> None:
    """Refuse, before anything is written, ``out`` as the file a log state is kept in (``prov commit
    --checkpoint-out``, ``prov audit checkpoint --out``, ``prov trust revoke --out``, ``prov keys revoke --out``):
    ``-`` (standard output keeps nothing), or a path inside the store's ``.prov/`` folder, by name, through a
    symbolic link in its folders, or through a bind mount (:func:`_inside_store`): a ``.prov/`` writer deletes a
    state kept there with the entries it signed, or swaps an older one in (attack reviews 18, F18-4; 20, A20-1-3).

    Raises InputError (exit 2) naming ``out``."""
    from provenance import output_file

    if out == output_file.STDOUT:
        raise InputError(f"{flag} -: the log state is kept in a file; give a path outside .prov/")
    target = Path(out)
    if _inside_store(store, Path(os.path.realpath(target.parent)) / target.name):
        raise InputError(
            f"{flag} {out}: is inside the store ({store.root}); keep the log state outside .prov/, where "
            "a .prov/ writer cannot delete it with the entries it signed (e.g. a CI artifact)"
        )


def refuse_kept_in_store(store: Any, path: str, flag: str = "--checkpoint") -> None:
    """Refuse, before reading it, a kept log state given to rely on (``--checkpoint FILE``, ``--release-state
    FILE``) that is inside the store's ``.prov/`` folder, itself, through a symbolic link (every link resolved),
    through a bind mount of it or of a folder above or in it (:func:`_inside_store`; attack review 20, A20-1),
    or as a file there by another name (a hard link, or one file bind-mounted: the same ``(st_dev, st_ino)``;
    attack review 20b, A20b-1): a ``.prov/`` writer can swap an older genuine state in there, or write one into
    the file both names share, so it proves nothing about the log it lives beside, as
    :func:`checkpoint_out_path` refuses to write there (attack review 18, F18-4).

    Raises InputError (exit 2) naming ``path`` (and where a link resolves to, or the file in ``.prov/`` it is).
    """
    where = Path(os.path.realpath(path))
    named = _named_in_store(store, where)
    mounted = None if named else _mounted_store_folder(store, where)
    if mounted is not None:
        via = f"; {mounted} is a folder of the store mounted there too"
    elif named:
        via = f"; it is a link to {where}" if where != Path(os.path.abspath(path)) else ""
    else:
        found = _same_file_in_store(store, where)
        if found is None:
            return
        twin, links = found
        via = f"; it is a hard link to {twin}" if links > 1 else f"; it is {twin}, mounted there too"
    raise InputError(
        f"{flag} {path}: is inside the store ({store.root}{via}); a log state kept inside the store it vouches "
        "for proves nothing (a .prov/ writer can swap in an older one): keep it outside .prov/ (e.g. a CI artifact)"
    )


def _same_file_in_store(store: Any, where: Path) -> tuple[Path, int] | None:
    """The file under the store's ``.prov/`` folder that ``where`` (a resolved path) is, by another name, and its
    link count: ``(file, st_nlink)``. A hard link to a file there (attack review 20's fix), or one file of ``.prov/``
    bind-mounted at ``where`` (``docker run -v .prov/kept.cp:/ci/kept.cp``: one name, its folder outside the
    store; attack review 20b, A20b-1), is the same ``(st_dev, st_ino)``. None when ``where`` is no regular file
    (reading it then says why) or no file there is it. Walks ``.prov/`` (its objects too) with one ``lstat`` a
    file."""
    try:
        st = where.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    for folder, _, names in os.walk(store.root):
        for name in names:
            candidate = Path(folder) / name
            try:
                other = candidate.lstat()
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                return candidate, st.st_nlink
    return None


def _inside_store(store: Any, where: Path) -> bool:
    """Whether ``where`` (a path with its folders' links resolved) is the store's ``.prov/`` folder or in it:
    by name, or as the same folder reached another way (:func:`_mounted_store_folder`)."""
    return _named_in_store(store, where) or _mounted_store_folder(store, where) is not None


def _named_in_store(store: Any, where: Path) -> bool:
    """Whether ``where`` (a path with its folders' links resolved) names the store's ``.prov/`` folder or a path
    under it."""
    inside = Path(os.path.realpath(store.root))
    return where == inside or inside in where.parents


def _mounted_store_folder(store: Any, where: Path) -> Path | None:
    """The first of ``where`` and its existing parent folders that is the store's ``.prov/`` folder or a folder
    under it reached by another name: the same ``(st_dev, st_ino)`` (POSIX ``stat``), as a bind mount of ``.prov/``
    (or of a folder above or below it) shows it (attack review 20, A20-1). A folder has one name per mount, so a
    match is that folder itself. None when there is none, or ``.prov/`` cannot be examined."""
    ids: set[tuple[int, int]] = set()
    for folder, _, _ in os.walk(store.root):  # links under it not followed: only folders that are .prov/'s own
        try:
            st = os.stat(folder)
        except OSError:
            continue
        ids.add((st.st_dev, st.st_ino))
    for folder in (where, *where.parents):
        try:
            st = folder.stat()
        except OSError:
            continue  # not there (yet): its parents say where it would be
        if (st.st_dev, st.st_ino) in ids:
            return folder
    return None


def _is_checkpoint_file(path: Path) -> bool:
    """Whether ``path`` holds a DSSE envelope of an in-toto statement of type :data:`CHECKPOINT_TYPE` (an earlier
    kept log state, which ``--checkpoint-out``/``--out`` may replace); its signature is not judged here. Read at
    most 1 MiB: a checkpoint is a few hundred bytes, and a larger file is none (a key, data, a database)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
        env = json.loads(data)
        statement = json.loads(base64.b64decode(env["payload"], validate=True))
        return isinstance(env.get("signatures"), list) and statement.get("predicateType") == CHECKPOINT_TYPE
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False


def write_checkpoint_out(
    store: Any,
    signer: CheckpointKey,
    out: str,
    flag: str = "--checkpoint-out",
    holds: Sequence[tuple[str, Checkpoint]] = (),
) -> Checkpoint:
    """Sign a checkpoint over the whole log now with ``signer`` (:func:`log_state_now`: the one the command's own
    write signed with that key when it still covers every entry; nothing is written to the store, so the state
    kept is the log as it is: attack review 18, F18-1) and write its envelope to ``out``, checked
    by :func:`checkpoint_out_path` again (atomically: a temporary file beside it, then a rename; a reader
    never sees half of it). Returns the checkpoint read back from ``out``: signed by ``signer`` over exactly the
    log now, whatever the store's ``checkpoints`` rows say (attack review 17, F17-1). ``holds``: ``(where,
    state)`` pairs the signed log must extend (the state a command's own write left, the kept states it was
    given; ``prov commit --checkpoint-out`` calls this inside that write's lock, ``Store.write(keep=...)``): a log
    cut before it is never kept (attack review 18, F18-2). Raises InputError as :func:`checkpoint_out_path`;
    VerificationError, with nothing written, when the checkpoint does not cover exactly the log now or the log
    does not hold one of ``holds``; :class:`ChangedAfterKept` (the file left) when the log changed before it
    was read back."""
    from provenance import output_file

    checkpoint_out_path(store, out, flag)
    data = log_state_now(store, signer, holds)
    output_file.write_output(out, data, flag)
    return _read_back(store, signer, out, data)
