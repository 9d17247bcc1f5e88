"""Registering a batch's records again after every earlier registration stopped attesting them (``prov add``).

When a source's key is stolen and revoked (``prov trust revoke``), every batch it signed attests nothing
more, in every version. The source's genuine records are the same records: signed again with its new key
they have the same Merkle root, so the same batch id ``SOURCE@ROOT12``. ``prov add`` registers them as
the next registration, ``SOURCE@ROOT12.2`` (``.3`` after that, ``lineage/batch_ids.py``), when:

- the batch is signed, and its envelope verifies under the verifier's pins now (``check_batch``: a key
  the pins make the source's, valid now, not revoked), which is what attests the records again, and
- every earlier registration of the id sits under a maintainer's signature the pins trust (a pending
  ``batch.add`` entry may have been planted) and attests nothing under the pins now
  (``standing.judge_envelope``): a revoked or untrusted key, or an unsigned registration.

A batch an earlier registration still attests (a retired or expired key's, registered before its end)
is refused as before, saying so. Each registration is its own hash-chained ``batch.add`` entry, judged
on its own: the revoked one keeps its revocation in every report, the new one attests by its own
signature, and lineage picks the registration whose signature verifies (``classify``).
"""

from __future__ import annotations

import json

from provenance.errors import InputError
from provenance.lineage.batch_ids import first_registration
from provenance.lineage.standing import judge_envelope, registered_batches, registration_times
from provenance.store.audit import detail_json
from provenance.store.store import Store


def registrations(store: Store, first: str) -> list[tuple[str, int, dict]]:
    """``(id, audit entry seq, audit detail)`` of every ``batch.add`` entry registering batch ``first`` (``SOURCE@ROOT12``) or a
    later registration of it (``first.N``), in log order (the hash-chained audit log, not the ``batches`` rows)."""
    out = []
    for subject, seq, detail in store.db.execute(
        "select subject, seq, detail from audit where action = 'batch.add' and (subject = ? or substr(subject, 1, ?) = ?) "
        "order by seq",
        [first, len(first) + 1, first + "."],
    ):
        if first_registration(subject)[0] != first:
            continue
        try:
            facts = detail_json(detail or "{}")
        except json.JSONDecodeError:
            facts = {}
        out.append((subject, seq, facts if isinstance(facts, dict) else {}))
    return out


def still_attesting(store: Store, earlier: list[tuple[str, int, dict]]) -> tuple[str, str] | None:
    """``(id, why)`` of the first of ``earlier`` (:func:`registrations`) that still attests its records under the
    pins (signed, its envelope judged sound when a maintainer's signature shows it registered), or None.

    Raises InputError (exit 2) naming the first registration no maintainer's signature the pins trust covers
    yet (pending): whether it attests cannot be relied on, and it may have been planted in ``.prov/``.
    """
    times = registration_times(store)
    # signed and envelope as lineage reads them (an entry from before entries recorded them falls back to its row)
    read = {batch: (signed, envelope) for batch, _, signed, envelope, _ in registered_batches(store)}
    for batch, seq, facts in earlier:
        if batch not in times:  # the words of register._refuse_registered
            raise InputError(
                f"these records are already registered as batch {batch} by audit entry {seq}, which no maintainer's "
                "signature covers yet (pending): if you did not add them, .prov/ was edited (prov audit verify lists "
                "pending entries): restore .prov/ from a copy you trust, then add the batch"
            )
        signed, envelope = read.get(batch, (bool(facts.get("signed")), facts.get("envelope")))
        if not signed:
            continue
        judged = judge_envelope(store, batch, envelope, times[batch])
        if judged.reason is None:
            key = str(facts.get("keyid") or "")[:16]
            return batch, (
                f"still attested under your pins (signed by key {key}), so nothing is added: a batch is registered "
                "once, and again only when no registration attests it any more (its key revoked; a retired or "
                "expired key's batch registered before its end still attests)"
            )
    return None
