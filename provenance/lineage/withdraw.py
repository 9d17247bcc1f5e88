"""A maintainer's signed decision not to ship a registered batch (``prov withdraw``).

A trusted signed batch whose records are missing from a candidate, beside unsigned
additions in the same delta, is the shape of a delivery edited in transit and re-declared
(attack review 5, finding 1), so ``lineage.unattributed_beside_signed`` blocks it. A
batch the maintainer chose not to ship (held back, superseded, or dropped on purpose)
looks the same, so the way through is a signed act: a withdrawal is an in-toto
Statement v1 (predicate type ``PREDICATE_TYPE``, ``schemas/batch-withdrawal.schema.json``)
in a DSSE envelope, signed by a key of the ``commit`` role the verifier pins, naming the
batch id and its full Merkle root. It is stored as an object and logged as a
``batch.withdraw`` audit entry; the gate honours it only if the envelope verifies under
the verifier's pins, so whoever can write ``.prov/`` cannot forge one, and a genuine
withdrawal cannot be moved to another batch (its id and root are signed). It also names
the chain hash of the batch's ``batch.add`` entry in *this* store's audit log and the log's
head when it was signed (the entry its own ``batch.withdraw`` entry follows), and is
honoured only where that entry sits right after that head and a trusted signature covers
it (:func:`judge_withdrawals`): a withdrawal copied from another store of the same batch,
from a copy of this store whose log has diverged since (a branch, another checkout), or an
entry planted after the last checkpoint, is not relied on. A withdrawal signed before the
head was named (no ``logHead``) is not relied on either: sign it again.

A withdrawal only says the batch's missing records are accounted for; records of the
batch that are present stay attested by the source's own signature.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from provenance import clock, signing
from provenance.errors import InputError, VerificationError
from provenance.store import audit
from provenance.store.audit import detail_json
from provenance.store.checkpoints import CheckpointKey
from provenance.store.store import Store
from provenance.trust.pins import pins_of, private_key_for_role
from provenance.trust.roles import COMMIT, RoleKeys, verify_role

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog

# The in-toto predicate type of a withdrawal statement (schemas/batch-withdrawal.schema.json).
PREDICATE_TYPE = "https://prov.dev/batch-withdrawal/v1"
ACTION = "batch.withdraw"


def registration_entry(store: Store, batch: str) -> dict | None:
    """The ``batch.add`` audit entry of ``batch`` (``seq``, ``ts``, ``action``, ``subject``,
    ``detail``, ``prev_hash``, ``hash``), or None when it is not registered."""
    row = store.db.execute(
        "select seq, ts, action, subject, detail, prev_hash, hash from audit "
        "where action = 'batch.add' and subject = ? order by seq limit 1",
        [batch],
    ).fetchone()
    keys = ("seq", "ts", "action", "subject", "detail", "prev_hash", "hash")
    return dict(zip(keys, row)) if row is not None else None


def entry_hash(entry: dict) -> str:
    """An audit entry's chain hash recomputed from its fields (``audit.entry_bytes``), never read from its row."""
    return hashlib.sha256(audit.entry_bytes(entry)).hexdigest()


def _registration(store: Store, batch: str) -> tuple[dict, dict]:
    """``(batch.add entry, its detail)`` of ``batch``: detail has source, merkle_root, signed; or InputError."""
    entry = registration_entry(store, batch)
    if entry is None:
        known = [r[0] for r in store.db.execute("select subject from audit where action = 'batch.add' order by seq")]
        raise InputError(
            f"batch {batch!r} is not registered in this store (registered: {', '.join(known[-5:]) or 'none'}; "
            "see prov sources)"
        )
    try:
        detail = detail_json(entry["detail"] or "{}")
    except json.JSONDecodeError:
        detail = {}
    if not isinstance(detail, dict) or not isinstance(detail.get("merkle_root"), str):
        raise InputError(f"batch {batch!r}: its registration records no Merkle root; it cannot be withdrawn")
    return entry, detail


def withdraw_batch(
    store: Store, batch: str, key_path: str | Path, reason: str, kept_log: KeptLog | None = None
) -> dict:
    """Sign, store and audit-log the withdrawal of registered ``batch`` (``prov withdraw``).

    Args:
        store: the open store.
        batch: a registered batch id, ``SOURCE@`` and the first 12 hex digits of its root, with ``.N`` for
            its N-th registration (``SOURCE@ROOT12.2``: signed again after a revocation), as ``prov add`` and
            ``prov sources`` print it.
        key_path: a maintainer's private key (PKCS#8 PEM) that the store's pins trust for
            ``commit`` (with nothing pinned, a key registered in the store).
        reason: why, for a later reader (not empty).
        kept_log: ``--checkpoint PREV`` (``kept_log.KeptLog.held``), checked again first thing inside the write.

    Returns:
        ``{"withdrawal": object id, "batch", "source", "merkle_root", "keyid", "reason"}``.

    Raises:
        InputError: an unknown batch, an empty reason, a batch already withdrawn, or a key
            the verifier would not trust for ``commit`` (its withdrawal would be ignored)
            (exit 2); ``KeyFileError`` (exit 2) for an unreadable key file.
        StoreError: the store is read-only or its lock stays busy, exit 3.
        VerificationError: (exit 1, nothing written) the audit log no longer holds a kept state of ``kept_log``.
    """
    if not reason.strip():
        raise InputError("a withdrawal needs a --reason a later reader can check")
    from provenance.lineage.standing import names_batch

    _, detail = _registration(store, batch)
    source, root = str(detail.get("source")), str(detail["merkle_root"])
    if not names_batch(batch, source, bytes.fromhex(root)):
        raise InputError(f"batch {batch!r}: its registration names another batch (source {source}, root {root[:12]})")
    private, keyid = private_key_for_role(store, key_path, COMMIT, "withdrawal")
    if batch in withdrawn_batches(store, pins_of(store).role_keys(COMMIT, store), signed_entries(store)):
        raise InputError(f"batch {batch} is already withdrawn (see prov audit log)")
    with store.write(CheckpointKey(private, Path(key_path).stem)):  # the entry is not left pending
        if kept_log is not None:  # again under the lock: a log cut meanwhile is not signed over
            kept_log.require_held(store)
        # signed under the lock: the head it names is the entry its own audit entry follows
        stmt = withdrawal_statement(store, batch, reason, keyid)
        oid = store.put_object(signing.canonical_json(signing.sign(stmt, private)), "json")
        store.read_back(store.audit(ACTION, batch, {"object": oid, "keyid": keyid, "reason": reason}))  # B16-2
    return {"withdrawal": oid, "batch": batch, "source": source, "merkle_root": root, "keyid": keyid, "reason": reason}


def withdrawal_statement(store: Store, batch: str, reason: str, keyid: str) -> dict:
    """The in-toto Statement v1 (``schemas/batch-withdrawal.schema.json``) withdrawing registered ``batch``, unsigned.

    Names the batch's ``batch.add`` entry and the log's head now (``logHead``: position and
    recomputed chain hash of the newest entry), so the ``batch.withdraw`` entry must be
    appended next, in the same write. ``keyid`` is the signing key's id (hex). Raises
    ``InputError`` (exit 2) for a batch this store does not register with a Merkle root.
    """
    entry, detail = _registration(store, batch)
    root = str(detail["merkle_root"])
    return {
        "_type": signing.STATEMENT_TYPE,
        "subject": [{"name": batch, "digest": {"sha256": root}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "batch": batch,
            "source": str(detail.get("source")),
            "merkleRoot": root,
            "reason": reason,
            "withdrawnBy": keyid,
            "createdAt": clock.now_iso(),
            "registration": {"seq": entry["seq"], "entryHash": entry_hash(entry)},
            "logHead": _log_head(store),
        },
    }


def _entry_at(store: Store, seq: int) -> dict | None:
    """The audit entry at position ``seq`` (its table columns), or None."""
    row = store.db.execute(
        "select seq, ts, action, subject, detail, prev_hash, hash from audit where seq = ?", [seq]
    ).fetchone()
    keys = ("seq", "ts", "action", "subject", "detail", "prev_hash", "hash")
    return dict(zip(keys, row)) if row is not None else None


def _log_head(store: Store) -> dict:
    """``{"seq", "entryHash"}`` of the newest audit entry, its chain hash recomputed from its fields."""
    seq, _ = store.audit_head()
    tip = _entry_at(store, seq)
    return {"seq": seq, "entryHash": entry_hash(tip) if tip is not None else audit.GENESIS}


def signed_entries(store: Store) -> int:
    """How many leading audit entries a signature by a maintainer key of the store's pins covers
    (``store.coverage``; the store's own keys when nothing is pinned)."""
    from provenance.store.coverage import coverage

    pins = pins_of(store)
    trusted = pins.maintainer_keys(store)
    return coverage(store, store.trusted_keys() if trusted is None else trusted).signed


def judge_withdrawals(store: Store, role: RoleKeys, signed: int) -> list[dict]:
    """Every ``batch.withdraw`` audit entry, judged: honoured (``"status": "withdrawn"``) or ``"not relied on"``.

    Args:
        store: the open store.
        role: the keys that may sign withdrawals (the ``commit`` role of the verifier's pins).
        signed: how many leading audit entries a trusted signature covers
            (``AuditCoverage.signed``; :func:`signed_entries`).

    A withdrawal is honoured only if its envelope verifies under ``role``, carries
    ``PREDICATE_TYPE``, names the entry's batch under the batch's own id (``SOURCE@root[:12]``
    of its signed root, or ``.N`` after it for a later registration), names the chain hash and position of that batch's ``batch.add``
    entry in this store's log (so one made in another store does not count here), names as
    ``logHead`` the position and recomputed chain hash of the entry right before its own
    (so one made in a copy whose log diverged does not count here), and its own entry is
    under a trusted signature (a pending entry, planted after the last checkpoint, is not
    relied on). Returns, in log order, ``{"seq", "batch", "status",
    "why"}`` plus, when the envelope verified, ``"source", "reason", "keyid",
    "withdrawn_at"`` (signed fields); ``why`` says what is wrong (None when honoured).
    Never raises for a bad entry.
    """
    out: list[dict] = []
    for seq, subject, detail in store.db.execute(
        f"select seq, subject, detail from audit where action = '{ACTION}' order by seq"
    ).fetchall():
        judged: dict = {"seq": seq, "batch": subject, "status": "not relied on", "why": None}
        out.append(judged)
        try:
            oid = detail_json(detail or "{}").get("object")
            raw = store.objects.get(str(oid), f"withdrawal of batch {subject}")
            env = signing.parse_envelope(raw, f"withdrawal of batch {subject}")
            stmt = verify_role(env, role, f"withdrawal of batch {subject}").statement
        except (AttributeError, TypeError, ValueError, InputError, VerificationError) as exc:
            judged["why"] = f"its envelope does not verify under the {role.role} role: {exc}"
            continue
        pred = stmt.get("predicate")
        if stmt.get("predicateType") != PREDICATE_TYPE or not isinstance(pred, dict):
            judged["why"] = "its envelope is not a batch withdrawal"
            continue
        judged |= {
            "source": pred.get("source"),
            "reason": pred.get("reason"),
            "keyid": pred.get("withdrawnBy"),
            "withdrawn_at": pred.get("createdAt"),
        }
        judged["why"] = _unbound(store, subject, seq, pred, signed)
        if judged["why"] is None:
            judged["status"] = "withdrawn"
    return out


def _unbound(store: Store, subject: str, seq: int, pred: dict, signed: int) -> str | None:
    """Why a verified withdrawal predicate does not hold for entry ``seq`` of this store, or None."""
    from provenance.lineage.standing import names_batch

    try:
        own = names_batch(subject, str(pred.get("source")), bytes.fromhex(str(pred.get("merkleRoot"))))
    except ValueError:
        return "it names no valid Merkle root"
    if not (pred.get("batch") == subject and own):
        return f"it withdraws batch {pred.get('batch')}, not {subject}"
    entry = registration_entry(store, subject)
    bound = pred.get("registration")
    bound = bound if isinstance(bound, dict) else {}
    if entry is None or bound.get("seq") != entry["seq"] or bound.get("entryHash") != entry_hash(entry):
        return "it was signed for another registration of the batch (another store, or a log rewritten since)"
    if entry["seq"] >= seq:
        return "its audit entry comes before the batch's registration"
    head = pred.get("logHead")
    if head is None:
        return "it was signed before withdrawals named the audit-log head they follow; sign it again with prov withdraw"
    before = _entry_at(store, seq - 1)
    if (
        not isinstance(head, dict)
        or head.get("seq") != seq - 1
        or before is None
        or head.get("entryHash") != entry_hash(before)
    ):
        return "it was signed on another audit log (a copy of this store that has diverged, or a log rewritten since)"
    if seq > signed:
        return "its audit entry is pending (after the last trusted signature)"
    return None


def withdrawn_batches(store: Store, role: RoleKeys, signed: int) -> dict[str, dict]:
    """Batch id -> ``{"source", "reason", "keyid", "withdrawn_at"}`` of every honoured withdrawal
    (:func:`judge_withdrawals` with the same arguments); the first honoured entry per batch.

    Anything else (a missing or damaged object, another key, another batch or store, a
    pending entry) is no withdrawal: the batch's missing records then still count.
    """
    out: dict[str, dict] = {}
    for judged in judge_withdrawals(store, role, signed):
        if judged["status"] == "withdrawn":
            out.setdefault(judged["batch"], {k: judged[k] for k in ("source", "reason", "keyid", "withdrawn_at")})
    return out


def withdrawal_summary(store: Store) -> list[dict]:
    """Every withdrawal in the store judged under the store's pins as the gate judges it (``prov sources``, ``prov show``).

    :func:`judge_withdrawals` with the ``commit`` role of ``store.pins`` and the audit
    coverage of its maintainer keys (the store's own keys when nothing is pinned): a list of
    ``{"seq", "batch", "status": "withdrawn" | "not relied on", "why", "source", "reason",
    "keyid", "withdrawn_at"}`` (the last four only when the envelope verified), in log order.
    """
    return judge_withdrawals(store, pins_of(store).role_keys(COMMIT, store), signed_entries(store))


def withdrawal_line(judged: dict) -> str:
    """One line for people from a :func:`judge_withdrawals` item (names escaped with ``escaping.visible``), e.g.
    ``withdrawn: batch vendor@0123456789ab (held back), signed by key 3f2a... at 2026-12-01T04:00:00Z``."""
    from provenance.escaping import visible

    if judged["status"] == "withdrawn":
        return (
            f"withdrawn: batch {visible(judged['batch'])} ({visible(str(judged['reason']))}), "
            f"signed by key {str(judged['keyid'])[:16]} at {visible(str(judged['withdrawn_at']))}"
        )
    return f"withdrawal of batch {visible(judged['batch'])} not relied on: {visible(str(judged['why']))}"
