"""The evidence lineage counts: registered batches whose signatures verify under the verifier's pins.

A batch counts as signed only if its envelope (a store object) verifies, now, under a key
the verifier trusts for the source *the envelope signs* (``Pins.source_keys``: the root's
sources, store trust entries signed by a pinned key, or with nothing pinned the store's
cached entries), unrevoked and valid at the signed capture time. Its records are then
read from the manifest the envelope carries, bound to the signature by its SHA-256, never
from the ``batches`` row or the stored manifest object, which whoever can write
``.prov/`` can edit. Everything else (unsigned batches, a source key the verifier does not
trust, a damaged envelope) is no evidence: its records are ``unattributed``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pyarrow as pa

from provenance import clock, signing
from provenance.errors import InputError, VerificationError
from provenance.lineage.batches import PREDICATE_TYPE, Envelope, batch_id, signed_manifest
from provenance.manifest import Manifest
from provenance.store.store import Store
from provenance.trust.pins import pins_of
from provenance.trust.source_signatures import verify_for_source

EMPTY = {
    "digest": pa.binary(32),
    "batch_label": pa.string(),
    "batch": pa.string(),
    "source": pa.string(),
    "signed": pa.bool_(),
    "rank": pa.int64(),
}


def verified_batch(
    store: Store, batch: str, envelope_object: str | None, registered_by: dt.datetime | None = None
) -> tuple[str, Manifest] | None:
    """``(source, manifest)`` signed by a key the pins trust for that source, or None if the batch is no evidence.

    ``registered_by`` is when a trusted signature shows the batch was registered
    (:func:`registration_times`; None: now): a key that expired before then attests
    nothing, whatever ``capturedAt`` its holder wrote (attack review 1, finding 6).
    """
    if not envelope_object:
        return None
    name = f"envelope of batch {batch}"
    try:
        raw = store.objects.get(envelope_object, name)
        env = signing.parse_envelope(raw, name)
        claimed = signing.unverified_statement(env)
        source = (claimed.get("predicate") or {}).get("source")
        if not isinstance(source, str):
            return None
        trusted = verify_for_source(store, env, source, name, at_capture_only=True)
        if trusted.key.status(registered_by or clock.now()) != "active":
            return None  # registered only after the key's window closed: a back-dated capturedAt proves nothing
        stmt = trusted.statement
        if stmt.get("predicateType") != PREDICATE_TYPE:
            return None
        pred = stmt.get("predicate") or {}
        root = signing.subject_root(stmt)
        if batch != batch_id(str(pred.get("source")), root):
            return None  # an envelope judged under another batch's id (attack review 5, finding 2)
        manifest = signed_manifest(Envelope(name, raw, env, stmt), pred, root)
    except (InputError, VerificationError):
        return None
    return str(pred["source"]), manifest


def registered_batches(store: Store) -> list[tuple[str, str, bool, str | None, str]]:
    """``(batch, source, signed, envelope object, manifest object)`` of every registered batch, in registration order.

    Read from the hash-chained audit log's ``batch.add`` entries (covered by signed
    checkpoints, which the gate verifies first), not from the ``batches`` rows: whoever
    can write ``.prov/`` could delete a row or mark a signed batch unsigned there and take
    evidence away from the lineage rules (attack review 3, finding 2). A batch whose row
    is missing or disagrees with its audit entry is still read from the entry. An entry
    written before entries recorded these fields falls back to the row.
    """
    import json

    rows = {
        r[0]: r for r in store.db.execute("select batch, source, signed, envelope_object, manifest_object from batches")
    }
    from provenance.store.audit import registered_twice

    twice = registered_twice(store.db)  # `prov add` registers an id once: a second entry was written by hand
    if twice:
        raise VerificationError(twice)
    out = []
    for subject, detail in store.db.execute(
        "select subject, detail from audit where action = 'batch.add' order by seq"
    ).fetchall():
        try:
            d = json.loads(detail or "{}")
        except json.JSONDecodeError:
            d = {}
        if isinstance(d, dict) and d.get("manifest") and "signed" in d:
            out.append((subject, str(d.get("source")), bool(d["signed"]), d.get("envelope"), str(d["manifest"])))
        elif subject in rows:
            batch, source, signed, envelope_oid, manifest_oid = rows[subject]
            out.append((batch, source, bool(signed), envelope_oid, manifest_oid))
    return out


def registration_times(store: Store) -> dict[str, dt.datetime]:
    """Batch -> the earliest time a signed head by a maintainer key the verifier trusts shows its ``batch.add`` entry existed.

    From ``provenance.store.coverage.signed_before``: a checkpoint's signed timestamp or a
    version's signed ``createdAt``, written by the maintainer who signed the head, never by
    the batch's signer or whoever wrote the entry. A batch no trusted head covers yet is
    left out (the caller then uses now: the commit that is about to sign it).
    """
    from provenance.store.coverage import signed_before

    heads = signed_before(store, pins_of(store).maintainer_keys(store))
    out: dict[str, dt.datetime] = {}
    if not heads:
        return out
    for seq, batch in store.db.execute("select seq, subject from audit where action = 'batch.add' order by seq"):
        times = [t for n, t in heads if n >= seq]
        if times and batch not in out:
            try:
                out[batch] = min(clock.parse(t, "signed time") for t in times)
            except InputError:
                continue
    return out


def batch_records(store: Store, only: Iterable[str] | None = None) -> pa.Table:
    """digest, batch_label, batch, source, signed, rank of every registered batch record (or of the batches ``only``).

    ``signed`` is true only for a batch that :func:`verified_batch` accepts; its rows
    are then the signed manifest's and its source the signed one. An unsigned or
    untrusted batch keeps its stored manifest and source, with ``signed`` false.
    ``rank`` is the order of registration.
    """
    wanted = set(only) if only is not None else None
    windows = any(k.valid_until for k in pins_of(store).source_keys(store))
    times = registration_times(store) if windows else {}  # only a key that expires needs them
    parts = []
    for rank, (batch, source, signed, envelope_oid, manifest_oid) in enumerate(registered_batches(store)):
        if wanted is not None and batch not in wanted:
            continue
        evidence = verified_batch(store, batch, envelope_oid, times.get(batch)) if signed else None
        if evidence is not None:
            source, m = evidence
        else:
            name = f"manifest of batch {batch}"
            m = Manifest.from_bytes(store.objects.get(manifest_oid, name), name)
        n = len(m)
        parts.append(
            pa.table(
                {
                    "digest": m.table.column("digest"),
                    "batch_label": m.table.column("label"),
                    "batch": pa.array([batch] * n, pa.string()),
                    "source": pa.array([source] * n, pa.string()),
                    "signed": pa.array([evidence is not None] * n, pa.bool_()),
                    "rank": pa.array([rank] * n, pa.int64()),
                }
            )
        )
    if not parts:
        return pa.table({k: pa.array([], t) for k, t in EMPTY.items()})
    return pa.concat_tables(parts)
