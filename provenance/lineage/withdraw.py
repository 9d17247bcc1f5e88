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
withdrawal cannot be moved to another batch (its id and root are signed).

A withdrawal only says the batch's missing records are accounted for; records of the
batch that are present stay attested by the source's own signature.
"""

from __future__ import annotations

import json
from pathlib import Path

from provenance import clock, signing
from provenance.errors import InputError, VerificationError
from provenance.lineage.batches import batch_id
from provenance.store.checkpoints import CheckpointKey
from provenance.store.store import Store
from provenance.trust.pins import pins_of, private_key_for_role
from provenance.trust.roles import COMMIT, RoleKeys, verify_role

# The in-toto predicate type of a withdrawal statement (schemas/batch-withdrawal.schema.json).
PREDICATE_TYPE = "https://prov.dev/batch-withdrawal/v1"
ACTION = "batch.withdraw"


def _registration(store: Store, batch: str) -> dict:
    """The ``batch.add`` audit entry's detail of ``batch`` (source, merkle_root, signed), or InputError."""
    row = store.db.execute(
        "select detail from audit where action = 'batch.add' and subject = ? order by seq limit 1", [batch]
    ).fetchone()
    if row is None:
        known = [r[0] for r in store.db.execute("select subject from audit where action = 'batch.add' order by seq")]
        raise InputError(
            f"batch {batch!r} is not registered in this store (registered: {', '.join(known[-5:]) or 'none'}; "
            "see prov sources)"
        )
    try:
        detail = json.loads(row[0] or "{}")
    except json.JSONDecodeError:
        detail = {}
    if not isinstance(detail, dict) or not isinstance(detail.get("merkle_root"), str):
        raise InputError(f"batch {batch!r}: its registration records no Merkle root; it cannot be withdrawn")
    return detail


def withdraw_batch(store: Store, batch: str, key_path: str | Path, reason: str) -> dict:
    """Sign, store and audit-log the withdrawal of registered ``batch`` (``prov withdraw``).

    Args:
        store: the open store.
        batch: a registered batch id, ``SOURCE@`` and the first 12 hex digits of its root
            (as ``prov add`` and ``prov sources`` print it).
        key_path: a maintainer's private key (PKCS#8 PEM) that the store's pins trust for
            ``commit`` (with nothing pinned, a key registered in the store).
        reason: why, for a later reader (not empty).

    Returns:
        ``{"withdrawal": object id, "batch", "source", "merkle_root", "keyid", "reason"}``.

    Raises:
        InputError: an unknown batch, an empty reason, a batch already withdrawn, or a key
            the verifier would not trust for ``commit`` (its withdrawal would be ignored)
            (exit 2); ``KeyFileError`` (exit 2) for an unreadable key file.
        StoreError: the store is read-only or its lock stays busy, exit 3.
    """
    if not reason.strip():
        raise InputError("a withdrawal needs a --reason a later reader can check")
    detail = _registration(store, batch)
    source, root = str(detail.get("source")), str(detail["merkle_root"])
    if batch != batch_id(source, bytes.fromhex(root)):
        raise InputError(f"batch {batch!r}: its registration names another batch (source {source}, root {root[:12]})")
    private, keyid = private_key_for_role(store, key_path, COMMIT, "withdrawal")
    if batch in withdrawn_batches(store, pins_of(store).role_keys(COMMIT, store)):
        raise InputError(f"batch {batch} is already withdrawn (see prov audit log)")
    now = clock.now_iso()
    stmt = {
        "_type": signing.STATEMENT_TYPE,
        "subject": [{"name": batch, "digest": {"sha256": root}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "batch": batch,
            "source": source,
            "merkleRoot": root,
            "reason": reason,
            "withdrawnBy": keyid,
            "createdAt": now,
        },
    }
    envelope = signing.sign(stmt, private)
    with store.write(CheckpointKey(private, Path(key_path).stem)):  # the entry is not left pending
        oid = store.put_object(signing.canonical_json(envelope), "json")
        store.audit(ACTION, batch, {"object": oid, "keyid": keyid, "reason": reason})
    return {"withdrawal": oid, "batch": batch, "source": source, "merkle_root": root, "keyid": keyid, "reason": reason}


def withdrawn_batches(store: Store, role: RoleKeys) -> dict[str, dict]:
    """Batch id -> the signed predicate of its withdrawal, for every withdrawal that meets ``role``.

    Read from the ``batch.withdraw`` audit entries; each named envelope must verify under
    ``role`` (the ``commit`` role of the verifier's pins), carry ``PREDICATE_TYPE``, and
    name the entry's batch with the batch's own id (``SOURCE@root[:12]`` of its signed
    root). Anything else (a missing or damaged object, another key, another batch) is no
    withdrawal and is left out: the batch's missing records then still count.
    """
    out: dict[str, dict] = {}
    for subject, detail in store.db.execute(f"select subject, detail from audit where action = '{ACTION}'"):
        try:
            oid = json.loads(detail or "{}").get("object")
            raw = store.objects.get(str(oid), f"withdrawal of batch {subject}")
            env = signing.parse_envelope(raw, f"withdrawal of batch {subject}")
            stmt = verify_role(env, role, f"withdrawal of batch {subject}").statement
        except (AttributeError, TypeError, ValueError, InputError, VerificationError):
            continue
        pred = stmt.get("predicate")
        if stmt.get("predicateType") != PREDICATE_TYPE or not isinstance(pred, dict):
            continue
        try:
            own_id = batch_id(str(pred.get("source")), bytes.fromhex(str(pred.get("merkleRoot"))))
        except ValueError:
            continue
        if pred.get("batch") == subject == own_id:
            out.setdefault(subject, pred)
    return out
