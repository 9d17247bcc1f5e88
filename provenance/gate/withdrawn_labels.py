"""Records shipped in a withdrawn signed batch's place keep that batch's signed labels (attack review 32d, A32d-3).

A maintainer's ``prov withdraw BATCH`` accounts for a signed delivery that is not shipped as signed. When a column's
signed type cannot be kept (the clinic signed ``bp`` double because of its NaN gaps; the training file holds int64),
the records shipped in the batch's place have other digests, so no lineage rule pairs them with the batch: registered
``--unsigned`` they bound none of the labels the clinic signed, and 14 of 70 labels flipped in them passed every rule.
Here the candidate's added and relabeled records that the batch's own source does not attest (relabeled: shipped
under the signed labels in the batch's place one version and flipped the next, attack review 33c, A33c-4) are
re-encoded under each withdrawn
trusted batch's *signed* column types, without loss only (``delta.bridge.bridged_digests``: integer <-> float of
exact values), and matched against the batch's signed manifest: a match under another label is a relabel after
source, counted by ``lineage.max_relabeled_after_source``. A record whose content changed too (a filled gap) pairs with none.

Everything relied on is signed: the withdrawal is one a ``commit`` key of the verifier's pins signed and a signature
covers (``lineage.withdraw.withdrawn_batches``), the batch's records, labels and types come from its envelope when
keys the pins name for its source signed it, whatever their standing now (:func:`signed_whatever_standing`: a key
revoked or expired since, by ``prov trust revoke`` or by one ``trust`` row, takes trust away, never this constraint:
attack review 33c, A33c-2), and the candidate's records are read from where it signed its data, each re-hashed
against its signed digest.

A record a batch signed by the verifier's pinned ``commit`` keys attests is the maintainer's own signed correction
and is not compared (:func:`commit_signed_batches`; closing note of session 33, F3: a batch withdrawn because its
source's key was stolen bound the maintainer's corrections until each was waived); one registered ``--unsigned`` or
signed by another source still is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from provenance import signing
from provenance.errors import InputError, VerificationError

if TYPE_CHECKING:
    from provenance.gate.context import GateContext
    from provenance.manifest import Manifest
    from provenance.store.store import Store

# the delta's kinds judged: an added record, and a base record under another label now (``delta.rows.DeltaRecords``)
DELTA_KINDS = ("added", "relabeled")


def relabeled_in_withdrawn_place(ctx: GateContext) -> list[dict]:
    """The candidate's added and relabeled records (the delta's, against the base) that re-encode, without loss, to a
    record of a withdrawn signed batch signed under another label, unless the batch's own source attests them (its correction) or their lineage is
    ``relabeled_after_source`` (counted already): records registered ``--unsigned`` or signed by another source.

    Each is ``{"digest": hex (the candidate's), "label", "source": the batch's signed source, "signed_label",
    "locator", "detail"}``, in the delta's order. Empty when no signed batch is withdrawn, or the candidate is
    a file tree or cannot be bridged to a batch's types (``delta.bridge.not_bridgeable``). Raises
    ``VerificationError`` when the candidate's records are not the signed ones, ``InputError`` when its data cannot
    be read.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.delta.bridge import not_bridgeable
    from provenance.lineage.classify import ATTESTED, RELABELED
    from provenance.lineage.standing import registered_batches
    from provenance.lineage.withdraw import withdrawn_batches
    from provenance.trust.roles import COMMIT
    from provenance.version_facts import read_version_records, verified_statement

    store = ctx.store
    withdrawn = withdrawn_batches(store, ctx.pins.role_keys(COMMIT, store), ctx.audit_coverage.signed)
    if not withdrawn:
        return []
    new_schema = verified_statement(store, store.version(ctx.new))["predicate"].get("schema") or {}
    batches = []
    for batch, _source, signed, envelope, _manifest in registered_batches(store):
        if batch in withdrawn and signed:
            found = _signed_batch(ctx, batch, envelope)
            if found is not None and not_bridgeable(found[1], new_schema) is None:
                batches.append((batch, *found))
    if not batches:
        return []
    # who attests each record: relabels after source are counted already; a source's own attestation is its act
    lineage = ctx.lineage.filter(pc.not_equal(ctx.lineage.column("status"), RELABELED))
    attested_by: dict[bytes, str | None] = {}
    attesting: dict[bytes, str] = {}  # digest -> the batch that attests it
    columns = ("digest", "status", "source", "batch")
    for digest, status, source, batch in zip(*(lineage.column(c).to_pylist() for c in columns)):
        attested_by.setdefault(digest, source if status == ATTESTED else None)
        if status == ATTESTED and batch:
            attesting.setdefault(digest, batch)
    rows = ctx.delta_rows
    wanted = [
        i for i, (d, kind) in enumerate(zip(rows.digests, rows.kinds)) if kind in DELTA_KINDS and d in attested_by
    ]
    # the maintainer's own signed correction (F3: the batch was withdrawn because its key was stolen) is not bound
    maintainers = commit_signed_batches(
        ctx, {attesting[rows.digests[i]] for i in wanted if rows.digests[i] in attesting}
    )
    wanted = [i for i in wanted if attesting.get(rows.digests[i]) not in maintainers]
    if not wanted:
        return []
    digests = [rows.digests[i] for i in wanted]
    records, _kind = read_version_records(store, ctx.new, [rows.locators[i] for i in wanted], digests)
    if records.table is None:
        return []
    out = []
    for batch, source, schema, signed_labels in batches:
        theirs = [j for j, i in enumerate(wanted) if attested_by[rows.digests[i]] != source]
        if theirs:
            table = records.table.take(pa.array(theirs, pa.int64()))
            out += _paired(table, new_schema, batch, source, schema, signed_labels, [wanted[j] for j in theirs], rows)
    return out


def commit_signed_batches(ctx: GateContext, batches: set[str]) -> set[str]:
    """The batches of ``batches`` (registered batch ids) whose envelope enough keys the verifier pins for the
    ``commit`` role signed (the role's threshold; ``Pins.role_keys``, revoked keys left out): the maintainer's own
    signed deliveries, a correction of a withdrawn batch's labels among them (closing note of session 33, F3). A
    commit key already signs the withdrawal and can waive the records, so its signed correction asks no more trust.
    Empty when nothing is pinned (keys the store caches are a writable row's word). The envelope is the one the
    batch's audit entry names (``standing.registered_batches``) and must sign that batch (``standing.names_batch``).
    Never raises: an envelope that does not verify is left out (its records stay bound)."""
    from provenance.lineage.standing import PREDICATE_TYPE, names_batch, registered_batches
    from provenance.trust.pins import STORE_ONLY
    from provenance.trust.roles import COMMIT, verify_role

    if not batches:
        return set()
    role = ctx.pins.role_keys(COMMIT, ctx.store)
    if role.origin == STORE_ONLY or not role.keys:
        return set()
    found = set()
    for batch, _source, signed, envelope, _manifest in registered_batches(ctx.store):
        if batch not in batches or not signed or not envelope:
            continue
        name = f"envelope of batch {batch}"
        try:
            env = signing.parse_envelope(ctx.store.objects.get(envelope, name), name)
            statement = verify_role(env, role, name).statement
            root = signing.subject_root(statement)
        except (InputError, VerificationError):
            continue
        predicate = statement.get("predicate") or {}
        if statement.get("predicateType") == PREDICATE_TYPE and names_batch(batch, str(predicate.get("source")), root):
            found.add(batch)
    return found


def _signed_batch(ctx: GateContext, batch: str, envelope: str | None) -> tuple[str, dict, dict[bytes, str]] | None:
    """``(source, signed schema, {digest: signed label})`` of a batch whose envelope keys the pins name for its source
    signed (:func:`signed_whatever_standing`), or None."""
    found = signed_whatever_standing(ctx.store, batch, envelope)
    if found is None:
        return None
    source, schema, manifest = found
    labels = dict(zip(manifest.table.column("digest").to_pylist(), manifest.table.column("label").to_pylist()))
    return source, schema, labels


def signed_whatever_standing(store: Store, batch: str, envelope: str | None) -> tuple[str, dict, Manifest] | None:
    """``(signed source, signed schema, the manifest the envelope carries)`` of a registered batch whose envelope
    (a store object, ``envelope``) enough keys the pins name for its source signed (the root's threshold; 1 without
    a root), whatever those keys' standing now: revoked (a ``trust`` row or ``prov trust revoke``), expired or
    retired since. None when the envelope is missing or damaged, no such key signed it, or it signs another batch.

    For blocking evidence only (attack review 33c, A33c-2): a withdrawn batch's signed labels bind the records shipped
    in its place, and a revocation, which any ``.prov/`` writer can record, only takes trust away, so it must not
    take that constraint away. What the key's records *attest* stays judged under the pins now
    (``lineage.evidence.verified_batch``). Never raises.
    """
    from provenance.lineage.batches import Envelope, signed_manifest
    from provenance.lineage.standing import PREDICATE_TYPE, names_batch
    from provenance.trust.pins import pins_of
    from provenance.trust.roles import RoleKeys, verify_role

    if not envelope:
        return None
    name = f"envelope of batch {batch}"
    try:
        raw = store.objects.get(envelope, name)
        env = signing.parse_envelope(raw, name)
        source = (signing.unverified_statement(env).get("predicate") or {}).get("source")
        if not isinstance(source, str):
            return None
        pins = pins_of(store)
        named = {k.keyid: k.public_key() for k in pins.source_keys(store, source)}
        threshold = pins.root.source_keys(source).threshold if pins.root is not None else 1
        if not named:
            return None
        role = RoleKeys(f"source {source}", named, threshold, "named by the pins, whatever their standing now")
        statement = verify_role(env, role, name).statement
        predicate = statement.get("predicate") or {}
        root = signing.subject_root(statement)
        if statement.get("predicateType") != PREDICATE_TYPE or not names_batch(
            batch, str(predicate.get("source")), root
        ):
            return None
        manifest = signed_manifest(Envelope(name, raw, env, statement), predicate, root)
    except (InputError, VerificationError):
        return None
    return str(predicate["source"]), dict(predicate.get("schema") or {}), manifest


def _paired(table, new_schema: dict, batch: str, source: str, schema: dict, signed_labels: dict, wanted, rows):
    """The rows of ``table`` (the candidate's records ``wanted`` of ``rows``) that re-encode under ``schema`` to a
    record of ``batch`` signed under another label, as :func:`relabeled_in_withdrawn_place` lists them."""
    from provenance.delta.bridge import bridged_digests

    keys, exact = bridged_digests(table, schema, new_schema)
    out = []
    for j in np.flatnonzero(exact).tolist():
        signed = signed_labels.get(bytes(keys[j]).ljust(32, b"\0"))
        i = wanted[j]
        if signed is not None and signed != rows.labels[i]:
            out.append(
                {
                    "digest": rows.digests[i].hex(),
                    "label": rows.labels[i],
                    "source": source,
                    "signed_label": signed,
                    "locator": rows.locators[i],
                    "detail": f"in the place of withdrawn batch {batch}: {source} signed this content "
                    f"(under its signed column types) as {signed!r}",
                }
            )
    return out
