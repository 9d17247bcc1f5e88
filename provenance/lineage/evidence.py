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

from provenance import signing
from provenance.errors import InputError, VerificationError
from provenance.lineage.batches import Envelope, signed_manifest
from provenance.lineage.standing import judge_envelope, registered_batches, registration_times
from provenance.manifest import Manifest
from provenance.store.store import Store
from provenance.trust.pins import pins_of

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
    nothing, whatever ``capturedAt`` its holder wrote (attack review 1, finding 6). The
    signature and trust are judged by ``standing.judge_envelope`` (which says why a batch
    is no evidence); the manifest is the one the envelope carries, bound by its SHA-256.
    """
    judged = judge_envelope(store, batch, envelope_object, registered_by)
    if judged.statement is None:
        return None
    stmt = judged.statement
    pred = stmt.get("predicate") or {}
    name = f"envelope of batch {batch}"
    try:
        manifest = signed_manifest(Envelope(name, judged.raw, judged.env, stmt), pred, signing.subject_root(stmt))
    except (InputError, VerificationError):
        return None
    return str(pred["source"]), manifest


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
