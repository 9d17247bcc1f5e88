"""Whether each registered signed batch still counts as evidence under the verifier's pins, and if not, why.

A version signs its lineage as it was judged when it was committed. Afterwards a source key
can be revoked (``prov trust revoke``), or the verifier can pin keys that never vouched for
the batch's key: the batch's records are then no longer *attested* for this verifier, as
``prov check`` decides (``classify.trusted_lineage``). This module answers the cheap part of
that question, one batch at a time, from the batch's envelope object (named by the
hash-chained audit log, re-hashed on read) and the pins: no numpy, no pyarrow, so
``prov show`` can ask it and re-count a version's lineage only when a batch lost standing.

The checks are :func:`provenance.lineage.evidence.verified_batch`'s, but for the carried
manifest, which is bound to the envelope's bytes by the signature and so cannot change
after the version that relied on it was committed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance import clock, signing
from provenance.errors import InputError, VerificationError
from provenance.lineage.batch_ids import batch_id as batch_id  # callers name it here
from provenance.lineage.batch_ids import names_batch
from provenance.trust.pins import pins_of
from provenance.trust.source_signatures import verify_for_source

if TYPE_CHECKING:
    from provenance.store.store import Store
    from provenance.trust.source_keys import TrustedKey

# The in-toto predicate type of a signed batch; the envelope's shape is schemas/batch-envelope.schema.json.
PREDICATE_TYPE = "https://prov.dev/signed-batch/v1"


@dataclass(frozen=True)
class Untrusted:
    """A registered signed batch that is no evidence under the pins: its id, source and why (for people)."""

    batch: str
    source: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """``{"batch", "source", "reason"}``."""
        return {"batch": self.batch, "source": self.source, "reason": self.reason}


@dataclass(frozen=True)
class Judged:
    """A batch envelope judged under the pins: the signed statement, or why it is no evidence.

    ``raw`` and ``env`` are the envelope's bytes and parsed JSON (for reading the manifest it
    carries); ``statement`` is None exactly when ``reason`` says why.
    """

    raw: bytes
    env: dict
    statement: dict | None
    reason: str | None


def judge_envelope(
    store: Store, batch: str, envelope_object: str | None, registered_by: dt.datetime | None = None
) -> Judged:
    """Judge one registered batch's envelope under ``store.pins`` (see the module docstring).

    ``registered_by``: when a trusted signature shows the batch was registered
    (:func:`registration_times`; None: now); a key whose window closed before then attests
    nothing. Never raises for a bad envelope: the reason says what is wrong.
    """
    name = f"envelope of batch {batch}"
    if not envelope_object:
        return Judged(b"", {}, None, "its audit entry names no envelope")
    try:
        raw = store.objects.get(envelope_object, name)
        env = signing.parse_envelope(raw, name)
        claimed = signing.unverified_statement(env)
    except (InputError, VerificationError) as exc:
        return Judged(b"", {}, None, _without(name, str(exc)))
    source = (claimed.get("predicate") or {}).get("source")
    if not isinstance(source, str):
        return Judged(raw, env, None, "its envelope names no source")
    try:
        trusted = verify_for_source(store, env, source, name, at_capture_only=True)
    except (InputError, VerificationError) as exc:
        return Judged(raw, env, None, _without(name, str(exc)))
    if trusted.key.status(registered_by or clock.now()) != "active":
        # registered only after the key's window closed: a back-dated capturedAt proves nothing
        return Judged(
            raw,
            env,
            None,
            f"signed by key {trusted.key.keyid[:16]} of {source}, whose validity window closed before a "
            "maintainer's signature shows the batch registered",
        )
    stmt = trusted.statement
    pred = stmt.get("predicate") or {}
    if stmt.get("predicateType") != PREDICATE_TYPE:
        return Judged(raw, env, None, f"its envelope signs a {stmt.get('predicateType')!r}, not a batch")
    try:
        root = signing.subject_root(stmt)
    except (InputError, VerificationError) as exc:
        return Judged(raw, env, None, _without(name, str(exc)))
    if not names_batch(batch, str(pred.get("source")), root):
        return Judged(raw, env, None, "its envelope was signed for another batch")  # attack review 5, finding 2
    return Judged(raw, env, stmt, None)


def untrusted_batches(store: Store) -> dict[str, Untrusted]:
    """Batch id -> :class:`Untrusted`, for every batch registered as signed that is no evidence under the pins.

    Which batches were registered, and which as signed, is read from the audit log
    (:func:`registered_batches`). Empty when every signed batch still verifies: the
    lineage each version signed then stands for this verifier as it is. The reason of a batch
    whose records a later registration (``SOURCE@ROOT12.N``, signed again) attests says so:
    a version committed before it still relies on the revoked one; the next commit does not.
    """
    windows = any(k.valid_until for k in pins_of(store).source_keys(store))
    times = registration_times(store) if windows else {}  # only a key that expires needs them
    out: dict[str, Untrusted] = {}
    registered = registered_batches(store)
    for batch, source, signed, envelope_oid, _ in registered:
        if signed:
            judged = judge_envelope(store, batch, envelope_oid, times.get(batch))
            if judged.reason is not None:
                out[batch] = Untrusted(batch, source, judged.reason)
    again = _registered_again(registered, out)
    return {b: Untrusted(u.batch, u.source, u.reason + again[b]) if b in again else u for b, u in out.items()}


def may_have_lost_standing(store: Store) -> bool:
    """Whether :func:`untrusted_batches` may name a batch: ``prov log``'s cheap pre-check before judging a release's
    lineage (``version_releases.mark_lost_attestation``). No envelope is read and no batch signature checked.

    It reads what the judgment reads, not a writable row's word: each signed registration the hash-chained audit log
    holds (``batch.add``: its source, the key id that signed the batch, its envelope object) against the keys
    ``Pins.source_keys`` gives now, which are the judgment's own (the signed trust statements, or the root's
    ``sources``, under the pins, with the store's revocations and retirements applied). False only when every
    signed registration names a key so given that is not revoked and has no validity window (threshold 1), and its
    envelope object is in the store: :func:`judge_envelope` then accepts each as it did when a version relied on it,
    since what else it checks is fixed by the envelope's bytes and by entries a version's signed head covers (an
    edit there breaks the log, and ``kept_attestations`` then relies on no release). Anything it cannot tell (a
    window, a revoked key, a key the pins never vouched for, a root threshold above 1, an entry without those
    fields, a batch registered twice) is True: judge. So ``log`` warns whenever ``show`` warns, whatever a ``.prov/``
    writer edits (review 24a: the pre-check that read revocation and retirement rows and actions missed a pending
    ``trust.retire`` rewritten as ``trust.sign`` and a key a new root left out), but for an envelope object whose
    bytes were altered in place, which only a re-hash finds (``show``, ``prov fsck``).
    """
    from provenance.store.audit import detail_json, registered_twice

    pins = pins_of(store)
    if pins.root is not None and any(d.threshold != 1 for d in pins.root.sources.values()):
        return True
    plain = {
        (k.source, k.keyid)
        for k in pins.source_keys(store)
        if not (k.revoked_at or k.valid_from or k.valid_until)  # a window needs registration times: judge
    }
    if registered_twice(store.db):
        return True  # untrusted_batches raises, as show does
    for (detail,) in store.db.execute("select detail from audit where action = 'batch.add'"):
        try:
            facts = detail_json(detail or "{}")
        except json.JSONDecodeError:
            return True
        if not isinstance(facts, dict) or not facts.get("manifest") or "signed" not in facts:
            return True  # an entry registered_batches reads from its row
        if not facts["signed"]:
            continue
        envelope = facts.get("envelope")
        if (str(facts.get("source")), str(facts.get("keyid"))) not in plain:
            return True
        if not isinstance(envelope, str) or not store.objects.exists(envelope):
            return True
    return False


def _registered_again(registered: list[tuple[str, str, bool, str | None, str]], untrusted: dict) -> dict[str, str]:
    """Batch -> ``; its records are registered again as batch B.N, ...`` for each batch of ``untrusted`` a later
    signed registration of the same records (``batch_ids``: ``SOURCE@ROOT12.N``) attests under the pins."""
    from provenance.lineage.batch_ids import first_registration

    standing = [(b, first_registration(b)[0]) for b, _, signed, _, _ in registered if signed and b not in untrusted]
    out = {}
    for batch in untrusted:
        later = [b for b, first in standing if first == first_registration(batch)[0] and b != batch]
        if later:
            out[batch] = (
                f"; its records are registered again as batch {later[-1]}, signed by a trusted key: versions "
                "committed since attest them by it"
            )
    return out


def registered_batches(store: Store) -> list[tuple[str, str, bool, str | None, str]]:
    """``(batch, source, signed, envelope object, manifest object)`` of every registered batch, in registration order.

    Read from the hash-chained audit log's ``batch.add`` entries (covered by signed
    checkpoints, which the gate verifies first), not from the ``batches`` rows: whoever
    can write ``.prov/`` could delete a row or mark a signed batch unsigned there and take
    evidence away from the lineage rules (attack review 3, finding 2). A batch whose row
    is missing or disagrees with its audit entry is still read from the entry. An entry
    written before entries recorded these fields falls back to the row.
    """
    from provenance.store.audit import detail_json

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
            d = detail_json(detail or "{}")
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
    the batch's signer or whoever wrote the entry. A time in whole seconds (a version's
    ``createdAt``) counts as the end of its second (``clock.latest``), against the batch: a
    window ended within that second is judged to have closed first. A batch no trusted head
    covers yet is left out (the caller then uses now: the commit that is about to sign it).
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
                out[batch] = min(clock.latest(t, "signed time") for t in times)
            except InputError:
                continue
    return out


def lost_by_window_end(store: Store, key: TrustedKey, end: dt.datetime | None) -> list[str]:
    """The batches ``key`` signed that a window ending at ``end`` (an aware datetime; None: now, as ``prov trust
    retire`` with no ``--at`` ends it) excludes: ``prov trust retire`` names them and wants ``--yes`` (review 24a,
    item 4). Batch ids in registration order.

    A batch is named when a maintainer's signature shows it registered after ``end`` (:func:`registration_times`; a
    registration none dates yet counts as the last microsecond of now's second, as a head signed later will date it
    no earlier), when its capture time is after ``end``, or when its registration records no capture time (a key
    with a window attests no batch without one: ``verify_for_source``). Read from the hash-chained ``batch.add``
    entries (:func:`signed_registrations`), never from the ``batches`` rows' ``added_at``, which a ``.prov/`` writer
    back-dates to hide a batch from the question. For an end now only the capture time counts: a registration a
    signature dates was registered before now, and one none dates yet is ``prov trust retire``'s other question
    (:func:`undated_registrations`: refused, or dated before the end by the checkpoint ``--checkpoint-key`` signs).

    Whether the batch attests now is not asked: that rests on the key's window and revocations as
    ``Pins.source_keys`` gives them, which apply pending ``trust.retire`` and ``trust.revoke`` entries a ``.prov/``
    writer can append to hide every batch from the question and delete once the retirement is signed (attack review
    24a, A24a-1). A batch named that attests nothing already loses nothing more: asking about it is harmless.
    """
    limit = end if end is not None else clock.now()
    times = registration_times(store) if end is not None else {}
    pending = clock.latest(clock.iso(clock.now()), "now")
    out = []
    for batch, captured in signed_registrations(store, key):
        registered = [times.get(batch, pending)] if end is not None else []
        if captured is None or any(at > limit for at in [captured, *registered]):
            out.append(batch)
    return out


def undated_registrations(store: Store, key: TrustedKey) -> list[str]:
    """The batches ``key`` signed whose registration no head signed by a maintainer key the verifier trusts covers
    yet (:func:`signed_registrations` less :func:`registration_times`), in registration order: a window ending now
    would see the next signature date them after its end (``prov trust retire`` refuses; attack review 13, T13-1)."""
    dated = registration_times(store)
    return [batch for batch, _ in signed_registrations(store, key) if batch not in dated]


def signed_registrations(store: Store, key: TrustedKey) -> list[tuple[str, dt.datetime | None]]:
    """``(batch, capture time or None)`` for each batch registered as signed by ``key`` (its source and key id), in
    registration order.

    Read from the hash-chained ``batch.add`` entries (the key id and capture time each registration records), not
    from the ``batches`` rows, which a ``.prov/`` writer can mark unsigned or give another key id to hide a batch
    from ``prov trust retire``'s questions (attack review 24a, A24a-2). An entry written before entries recorded the
    key id falls back to its row's; a capture time that does not parse counts as none.
    """
    from provenance.store.audit import detail_json

    row_keys = dict(store.db.execute("select batch, keyid from batches where signed"))
    out: list[tuple[str, dt.datetime | None]] = []
    for subject, detail in store.db.execute(
        "select subject, detail from audit where action = 'batch.add' order by seq"
    ):
        try:
            facts = detail_json(detail or "{}")
        except json.JSONDecodeError:
            continue
        if not isinstance(facts, dict) or not facts.get("signed") or facts.get("source") != key.source:
            continue
        if (facts.get("keyid") or row_keys.get(subject)) != key.keyid:
            continue
        try:
            captured: dt.datetime | None = clock.parse(str(facts["captured_at"]), "capturedAt")
        except (KeyError, InputError):
            captured = None
        out.append((str(subject), captured))
    return out


def not_trusted_line(item: dict) -> str:
    """One line for people: ``N records of batch B (S) no longer attested: REASON`` (control characters escaped)."""
    from provenance.escaping import visible

    batch, source, reason = (visible(str(item[k])) for k in ("batch", "source", "reason"))
    records = f"{item['records']} record{'' if item['records'] == 1 else 's'}"
    return f"{records} of batch {batch} ({source}) no longer attested: {reason}"


def _without(name: str, message: str) -> str:
    """``message`` without its leading ``name: `` (the reason is shown beside the batch already)."""
    return message[len(name) + 2 :] if message.startswith(name + ": ") else message
