"""Records shipped in a withdrawn signed batch's place keep that batch's signed labels (attack review 32d, A32d-3).

A maintainer's ``prov withdraw BATCH`` accounts for a signed delivery that is not shipped as signed. When a column's
signed type cannot be kept (the clinic signed ``bp`` double because of its NaN gaps; the training file holds int64),
the records shipped in the batch's place have other digests, so no lineage rule pairs them with the batch: registered
``--unsigned`` they bound none of the labels the clinic signed, and 14 of 70 labels flipped in them passed every rule.
Here the candidate's added records that the batch's own source does not attest are re-encoded under each withdrawn
trusted batch's *signed* column types, without loss only (``delta.bridge.bridged_digests``: integer <-> float of
exact values), and matched against the batch's signed manifest: a match under another label is a relabel after
source, counted by ``lineage.max_relabeled_after_source``. A record whose content changed too (a filled gap) pairs with none.

Everything relied on is signed: the withdrawal is one a ``commit`` key of the verifier's pins signed and a signature
covers (``lineage.withdraw.withdrawn_batches``), the batch's records, labels and types come from its envelope when it
verifies under the pins (``lineage.evidence.verified_batch``, ``standing.judge_envelope``), and the candidate's
records are read from where it signed its data, each re-hashed against its signed digest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from provenance.gate.context import GateContext


def relabeled_in_withdrawn_place(ctx: GateContext) -> list[dict]:
    """The candidate's added records that re-encode, without loss, to a record of a withdrawn trusted signed batch
    signed under another label, unless the batch's own source attests them (its correction) or their lineage is
    ``relabeled_after_source`` (counted already): records registered ``--unsigned`` or signed by another source.

    Each is ``{"digest": hex (the candidate's), "label", "source": the batch's signed source, "signed_label",
    "locator", "detail"}``, in the delta's order. Empty when no trusted signed batch is withdrawn, or the candidate is
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
    for digest, status, source in zip(*(lineage.column(c).to_pylist() for c in ("digest", "status", "source"))):
        attested_by.setdefault(digest, source if status == ATTESTED else None)
    rows = ctx.delta_rows
    wanted = [i for i, (d, kind) in enumerate(zip(rows.digests, rows.kinds)) if kind == "added" and d in attested_by]
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


def _signed_batch(ctx: GateContext, batch: str, envelope: str | None) -> tuple[str, dict, dict[bytes, str]] | None:
    """``(source, signed schema, {digest: signed label})`` of a batch whose envelope verifies under the pins, or None."""
    from provenance.lineage.evidence import verified_batch
    from provenance.lineage.standing import judge_envelope

    evidence = verified_batch(ctx.store, batch, envelope)
    judged = judge_envelope(ctx.store, batch, envelope)
    if evidence is None or judged.statement is None:
        return None
    source, manifest = evidence
    schema = (judged.statement.get("predicate") or {}).get("schema") or {}
    labels = dict(zip(manifest.table.column("digest").to_pylist(), manifest.table.column("label").to_pylist()))
    return source, dict(schema), labels


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
