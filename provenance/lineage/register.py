"""Registering a batch in the store: a signed batch is verified first, then its records are kept for lineage.

Every later commit classifies its records against the registered batches
(``lineage/classify.py``). A batch is registered once, under the id
``<source>@<first 12 hex digits of its Merkle root>``, unless every registration of it stopped attesting
(a revoked key) and the source signs it again: that is ``<id>.2`` (``lineage/reregister.py``).
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from provenance import clock
from provenance.errors import InputError, VerificationError
from provenance.lineage.batch_ids import registration_id
from provenance.lineage.batches import batch_id, check_batch, default_envelope, hash_batch
from provenance.manifest import Manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.schema_consistency import schema_contradiction
from provenance.sources.schema_delta import schema_problem
from provenance.store import audit
from provenance.store.audit import detail_json
from provenance.store.checkpoints import CheckpointKey
from provenance.store.store import Store
from provenance.trust import source_keys as trust

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog


@dataclass
class AddResult:
    """What ``prov add`` registered (``prov add --json``): batch id, source, whether signed and by which key, counts and root."""

    batch: str
    source: str
    signed: bool
    keyid: str | None
    records: int
    merkle_root: str
    envelope: str | None
    labels: dict[str, int]
    warnings: list[str] = field(default_factory=list)  # said on stderr by prov add; recorded all the same
    earlier_registrations: list[str] = field(default_factory=list)  # SOURCE@ROOT12[.N] this registration follows

    def to_dict(self) -> dict:
        """The result as JSON-able data."""
        return dict(self.__dict__)


def _no_envelope(store: Store, path: str, source: str, expected: Path) -> str:
    keys = [k for k in trust.entries(store, source) if k.status() == "active"]
    why = (
        f"; source {source!r} has a trusted signing key, so an unsigned batch will be blocked by the gate"
        if keys
        else ""
    )
    return (
        f"{path}: no signed envelope ({expected} does not exist){why}; "
        "give --envelope ENVELOPE, or --unsigned to register it as unsigned"
    )


def _signing_source(store: Store, source: str) -> list[str]:
    """The warning for an unsigned batch of a source that signs its batches: one with an active key, or one
    whose key was revoked or whose window ended (newcomer review 12, finding 11): the gate blocks the unsigned
    additions of all three (``lineage.unsigned_from_signing_sources``), so ``prov add`` says so for all three."""
    from provenance.trust.pins import pins_of
    from provenance.trust.revocations import revoked_source_keys

    allow = "prov check blocks its unsigned additions unless the policy's lineage.allow_unsigned_from lists it"
    signing_keys = [k for k in trust.entries(store, source) if k.status() == "active"]
    if signing_keys:
        return [f"{source!r} signs its batches (trusted key {signing_keys[0].keyid[:16]}): {allow}"]
    revoked = sorted((at, kid) for (s, kid), (at, _) in revoked_source_keys(store).items() if s == source)
    if revoked:
        at, kid = revoked[-1]
        return [
            f"{source!r} signs its batches, and its key {kid[:16]} was revoked at {at}: the source must re-sign "
            f"with a new key (`prov trust add {shlex.quote(source)} NEW.pub --key MAINTAINER.key`); {allow}"
        ]
    ended = [k for k in pins_of(store).source_keys(store, source) if k.status() != "active"]
    if ended:
        k = ended[-1]
        return [
            f"{source!r} signs its batches, and its key {k.keyid[:16]} is {k.status()} (valid "
            f"{k.valid_from or '-'} .. {k.valid_until or '-'}): the source must sign with a key valid now "
            f"(`prov trust add {shlex.quote(source)} NEW.pub --key MAINTAINER.key`); {allow}"
        ]
    return []


def _refuse_unpinned(store: Store, path: str, store_keys: bool) -> list[str]:
    """Refuse to verify a signed batch with nothing pinned (``NothingPinned``, exit 2), unless ``store_keys``.

    With nothing pinned the signature would be checked against the source keys kept in ``.prov/``, which
    whoever writes the store plants (review 32e): its registration would then read "signed" on a key no
    verifier chose. Fail closed, naming how to pin; an unsigned batch (``--unsigned``) needs no pins.
    ``store_keys`` (``--store-keys``, nothing pinned only) asks for the store's keys knowingly: the batch is
    registered with a warning (returned) that this was no trust decision; lineage re-judges its signature
    under the pins of every later check. Raises ``InputError`` for ``store_keys`` beside pins.
    """
    from provenance.trust.pins import UNPINNED_SIGNATURE, pins_of

    pins_of(store).require_trust_decision(
        f"{path}: prov add verifies a signed batch only against keys you pin", store_keys
    )
    return [f"{path}: {UNPINNED_SIGNATURE}; a check re-judges it under the keys it pins"] if store_keys else []


def _portable_path(store: Store, path: str) -> str:
    full, base = os.path.abspath(path), str(store.base.resolve())
    return os.path.relpath(full, base) if full.startswith(base + os.sep) else full


def _registration_id(store: Store, path: str, first: str, signed: bool) -> tuple[str, list[str]]:
    """The id to register batch ``first`` (``SOURCE@ROOT12``) under, and its earlier registrations' ids, oldest
    first: ``(first, [])`` for a new batch; ``(first.N, [first, ...])`` for a signed batch every earlier
    registration of which attests nothing under the pins (``lineage/reregister.py``: a revoked key's).

    Raises InputError (exit 2) for a batch registered already (an unsigned one; a registration still attesting
    it; one pending), VerificationError (exit 1) for a row or entry ``prov add`` did not write.
    """
    from provenance.lineage import reregister

    earlier = reregister.registrations(store, first) if signed else []
    bid = first
    if earlier:
        for batch, _, _ in earlier:  # an entry with no row was planted (as below): said before anything else
            if store.db.execute("select 1 from batches where batch = ?", [batch]).fetchone() is None:
                _refuse_planted_entry(store, path, batch)
        try:
            attesting = reregister.still_attesting(store, earlier)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from exc
        if attesting is not None:
            _refuse_registered(store, path, attesting[0], attesting[1])
            raise InputError(f"{path}: these records are already registered as batch {attesting[0]}, {attesting[1]}")
        bid = registration_id(first, len(earlier) + 1)
    _refuse_registered(store, path, bid)
    _refuse_planted_entry(store, path, bid)
    return bid, [b for b, _, _ in earlier]


def _refuse_registered(store: Store, path: str, bid: str, still: str = "") -> None:
    """Refuse (exit 2) a batch already registered, saying how from its ``batch.add`` audit entry (hash-chained,
    what lineage reads), not from the ``batches`` row alone: a row no entry registers was not written by
    ``prov add`` but planted in ``.prov/`` (report-trust12), and fails closed (exit 1) naming it instead of
    telling the caller their records are registered. Every ``prov add`` since batches existed wrote its entry
    in the same write as its row, so no honest store holds a row without one. ``still`` ends the message
    (why the registration still stands)."""
    row = store.db.execute("select signed, added_at from batches where batch = ?", [bid]).fetchone()
    if row is None:
        return
    seq = audit.batch_entry(store.db, bid)
    if seq is None:
        raise VerificationError(
            f"{path}: the store's batches table holds a row for batch {bid} that no audit entry registers: prov add "
            "did not write it (planted in .prov/; prov fsck names it), so whether your records are registered "
            "cannot be told from it; restore .prov/ from a copy you trust (e.g. the last reviewed commit), then "
            "add the batch"
        )
    from provenance.lineage.standing import registration_times

    if bid not in registration_times(store):  # attack review 13, T13-2: a pending entry may be planted too
        raise InputError(
            f"{path}: these records are already registered as batch {bid} by audit entry {seq}, which no "
            "maintainer's signature covers yet (pending): if you did not add them, .prov/ was edited (prov audit "
            "verify lists pending entries): restore .prov/ from a copy you trust, then add the batch"
        )
    (detail,) = store.db.execute("select detail from audit where seq = ?", [seq]).fetchone()
    try:
        facts = detail_json(detail or "{}")
    except json.JSONDecodeError:
        facts = {}
    facts = facts if isinstance(facts, dict) else {}
    signed = bool(facts["signed"]) if "signed" in facts else bool(row[0])
    raise InputError(
        f"{path}: these records are already registered as batch {bid} ({'signed' if signed else 'unsigned'}, "
        f"added {facts.get('added_at') or row[1]}, audit entry {seq}){', ' + still if still else ''}"
    )


def _refuse_planted_entry(store: Store, path: str, bid: str) -> None:
    # A batch.add entry for an id with no batch row was not written by prov add (attack review 6,
    # finding 10); appending a second one would leave a log every reader calls broken.
    seq = audit.batch_entry(store.db, bid)
    if seq is not None:
        raise VerificationError(
            f"{path}: audit entry {seq} already registers batch {bid}, but the store holds no such batch: "
            "prov add did not write that entry (it was planted in .prov/); adding again would break the log. "
            f"Restore .prov/ from before entry {seq} (e.g. the last reviewed commit), then add the batch"
        )


def add_batch(
    store: Store,
    spec: DatasetSpec,
    source: str,
    envelope_path: str | Path | None = None,
    unsigned: bool = False,
    executor: Any = None,
    checkpoint: CheckpointKey | None = None,
    force: bool = False,
    kept_log: KeptLog | None = None,
    store_keys: bool = False,
) -> AddResult:
    """Register a batch and its records; signed if an envelope is given or sits beside DATA.

    A signed batch is verified first (trust, signature, every record) and fails closed; with nothing pinned it is
    refused unless ``store_keys`` (``--store-keys``) asks for the store's own keys, with a warning.
    A batch without an envelope is registered only with ``unsigned=True`` (``--unsigned``):
    otherwise deleting a tampered batch's envelope would turn a rejected batch into an
    accepted unsigned one. Its records then count as unattributed, and the default policy
    blocks unsigned additions from a source that has a trusted batch-signing key.

    With ``checkpoint``, the write ends by signing an audit checkpoint with that key. ``kept_log``
    (``--checkpoint PREV``: ``kept_log.KeptLog.held``, checked by the caller) is checked again first thing
    inside the write: a log cut back meanwhile is not written over.

    A signed batch whose records are registered already, by registrations that all attest nothing under the
    pins now (the key that signed them was revoked; an unsigned one), is registered again as
    ``SOURCE@ROOT12.N`` (``lineage/reregister.py``); one a registration still attests is refused.

    An unsigned batch whose records (digest and label) a batch of another source already registers,
    exactly those, is the same delivery under a second name (newcomer review 10, finding 9): refused
    unless ``force``; one whose records are all in a larger batch of another source is registered
    with a warning. An unsigned batch of a source with an active batch-signing key is registered
    with a warning (``AddResult.warnings``): the default policy blocks its records.

    Raises InputError (no envelope and not ``unsigned``; a signed batch with nothing pinned and not ``store_keys``,
    ``NothingPinned``; ``store_keys`` beside pins; an envelope whose signed schema is not the shape
    ``prov sign`` writes; already registered, under this
    source (unsigned, still attested, or pending) or, unsigned and without ``force``, under another; unreadable
    data), VerificationError (a signature, key or record that does not verify; an audit
    entry not written by ``prov add`` already registers the batch's id; the audit log no longer holds
    a state of ``kept_log``).
    """
    trust.validate_source(source)
    if "://" not in spec.path and not os.path.exists(spec.path):  # before its envelope (newcomer review 14, #14)
        from provenance.names import near_file

        raise InputError(f"{spec.path}: no such file or folder{near_file(spec.path)}")
    if envelope_path is None and not unsigned:
        envelope_path = default_envelope(spec.path)
        if not envelope_path.is_file():
            raise InputError(_no_envelope(store, spec.path, source, envelope_path))
    if envelope_path is not None and unsigned:
        raise InputError(f"{envelope_path}: --envelope and --unsigned contradict each other; give one")
    keyid = captured = envelope = None
    warnings: list[str] = []
    if envelope_path is not None:
        warnings = _refuse_unpinned(store, spec.path, store_keys)
        check = check_batch(store, spec, envelope_path, expected_source=source, executor=executor)
        schema = check.predicate.get("schema", {})
        problem = schema_problem(schema)
        if problem is None:  # attack review 26a, A26a-1/2: well shaped, yet contradicting itself or the records
            problem = schema_contradiction(schema, check.hashed.kind)
        if problem is not None:  # attack review 25a, A25a-6: every later commit would read these schema facts
            raise InputError(
                f"{check.envelope.path}: its signed schema is not the shape prov sign writes ({problem}); ask "
                f"source {source!r} to sign the batch again with 'prov sign'"
            )
        hashed, keyid, captured, envelope = check.hashed, check.keyid, check.predicate.get("capturedAt"), check.envelope
    else:
        hashed = hash_batch(spec, source, executor)
    m = hashed.manifest
    first = batch_id(source, m.root)
    bid, earlier = _registration_id(store, spec.path, first, envelope is not None)
    if envelope_path is None:
        elsewhere = _registered_elsewhere(store, source, m, spec.path)
        same = [bid for bid, whole in elsewhere if whole]
        if same and not force:
            raise InputError(
                f"{spec.path}: these {len(m)} records are already registered as batch {same[0]}: registering "
                f"them again as an unsigned batch of {source!r} gives one delivery two sources; give --force if "
                f"{source!r} really delivered them too"
            )
        warnings += [f"{spec.path}: these {len(m)} records are also registered as batch {b}" for b, _ in elsewhere]
        warnings += _signing_source(store, source)
    table = m.table.set_column(m.table.schema.get_field_index("batch"), "batch", pa.array([bid] * len(m), pa.string()))
    manifest = Manifest.from_table(table, m.digest_algorithm, m.label_kind)
    with store.write(checkpoint):
        if kept_log is not None:  # again under the lock: a log cut meanwhile is not signed over
            kept_log.require_held(store)
        # Again under the lock: another process may have added the same batch (or registration) meanwhile.
        if _registration_id(store, spec.path, first, envelope is not None) != (bid, earlier):
            raise InputError(
                f"{spec.path}: batch {first} was registered again while these records were read; add again"
            )
        manifest_oid = store.put_object(manifest.to_bytes(), "parquet")
        envelope_oid = store.put_object(envelope.raw, "json") if envelope else None
        added_at, data = clock.now_iso(), _portable_path(store, spec.path)
        store.audit(
            "batch.add",
            bid,
            {
                "source": source,
                "signed": envelope is not None,
                "keyid": keyid,
                "merkle_root": m.root.hex(),
                "records": len(m),
                "envelope": envelope_oid,
                "manifest": manifest_oid,
                "captured_at": captured,
                "added_at": added_at,
                "data": data,
                **({"earlier_registrations": earlier} if earlier else {}),
            },
        )
        seq, _ = store.audit_head()
        store.db.table("batches").insert(
            {
                "batch": bid,
                "source": source,
                "signed": int(envelope is not None),
                "keyid": keyid,
                "merkle_root": m.root.hex(),
                "records": len(m),
                "labels": json.dumps(m.label_counts(), sort_keys=True),
                "manifest_object": manifest_oid,
                "envelope_object": envelope_oid,
                "captured_at": captured,
                "added_at": added_at,
                "data": data,
                "audit_seq": seq,
            }
        )
        store.db.conn.executemany(
            "insert into batch_records (digest, label, batch) values (?, ?, ?)",
            ((d, label, bid) for d, label in zip(m.digests, m.labels)),
        )
    return AddResult(
        bid,
        source,
        envelope is not None,
        keyid,
        len(m),
        m.root.hex(),
        envelope.path if envelope else None,
        m.label_counts(),
        warnings,
        earlier,
    )


def _registered_elsewhere(store: Store, source: str, m: Manifest, path: str) -> list[tuple[str, bool]]:
    """The batches of other sources that already register every record (digest and label) of ``m``, each
    with whether it holds exactly those records (the same delivery) rather than more: read from the
    ``batch_records`` rows (an index), each candidate's rows checked against its manifest before they decide
    (:func:`_refuse_forged_rows`). Candidates are the batches holding ``m``'s first record; each is then
    compared whole."""
    digests, labels = m.digests, m.labels
    if not digests:
        return []
    first = (digests[0], labels[0])
    candidates = [
        row[0]
        for row in store.db.execute(
            "select distinct r.batch from batch_records r join batches b on b.batch = r.batch "
            "where r.digest = ? and r.label = ? and b.source != ? order by r.batch",
            [first[0], first[1], source],
        )
    ]
    wanted = set(zip(digests, labels))
    out = []
    for bid in candidates:
        held = set(store.db.execute("select digest, label from batch_records where batch = ?", [bid]).fetchall())
        if wanted <= held:
            _refuse_forged_rows(store, path, bid, held)
            out.append((bid, wanted == held))
    return out


def _refuse_forged_rows(store: Store, path: str, bid: str, held: set) -> None:
    """A refusal or warning must rest on the batch's records, not on rows anyone who writes ``.prov/`` can plant:
    the rows of ``bid`` are compared with its manifest (the signed one when its envelope verifies under the
    pins, else the stored object, re-hashed: ``evidence.batch_records``). Rows it does not hold fail closed
    (VerificationError, exit 1) naming the batch, instead of refusing the caller's batch as a copy of it."""
    from provenance.lineage.evidence import batch_records as verified_records

    table = verified_records(store, only=[bid])
    actual = set(zip(table.column("digest").to_pylist(), table.column("batch_label").to_pylist()))
    if actual != held:
        raise VerificationError(
            f"{path}: the store's record index (batch_records) lists {len(held - actual)} records under batch {bid} "
            f"that its manifest does not hold, and misses {len(actual - held)} it does: .prov/ was edited (rows "
            "planted; prov fsck names the batch), so whether your records are registered already cannot be told "
            "from it; restore .prov/ from a copy you trust (e.g. the last reviewed commit), then add the batch"
        )
