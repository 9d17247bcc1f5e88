"""A version's lineage as the read side shows it: judged under the verifier's pins, with the reasons.

``prov show``, ``prov sources`` and ``prov diff`` report the lineage a version signed only
while every batch it relied on still counts as evidence under the pins in effect. Once a
source key is revoked (``prov trust revoke``, ``prov keys revoke``), or the verifier pins
keys that never vouched for a batch's key, the records that batch attested are judged again
exactly as ``prov check`` judges them (``classify.trusted_lineage``): an ``attested`` record
whose batch lost standing becomes ``unattributed`` (unless another trusted batch attests
it), and each batch that lost records is listed with the reason
(``standing.untrusted_batches``: "signed by key K of vendor, which was revoked at T"), counting
too the records of such a batch that a version committed after the revocation signed as unattributed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.lineage.classify import ATTESTED, counts, trusted_lineage, version_lineage
from provenance.lineage.standing import Untrusted, untrusted_batches
from provenance.store.store import Store

UNVERIFIED = "its envelope no longer verifies as evidence under your pins"


@dataclass
class JudgedLineage:
    """``table``: the lineage rows (``classify.LINEAGE_SCHEMA``) under the pins; ``signed``: the
    counts the version signed; ``not_trusted``: one item per batch whose records lost ``attested``,
    ``{"batch", "source", "reason", "records"}`` (records: how many of this version's), by batch id."""

    table: pa.Table
    signed: dict[str, int]
    not_trusted: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """``{attested, relabeled_after_source, unattributed}`` under the pins."""
        return counts(self.table)

    @property
    def attested_by(self) -> list[dict]:
        """Each batch that attests records of the version under the pins (``prov show``'s ``attested_by``):
        ``{"batch", "source", "records"}``, most records first, then by batch id. The records of ``counts``'s
        ``attested`` each count under the one batch lineage chose for them (``classify``: a registration whose
        signature verifies, e.g. ``SOURCE@ROOT12.2`` after a revocation), so ``records`` sum to it."""
        attested = self.table.filter(pc.equal(self.table.column("status"), ATTESTED))
        grouped = attested.group_by(["batch", "source"]).aggregate([("digest", "count")])
        rows = zip(
            grouped.column("batch").to_pylist(),
            grouped.column("source").to_pylist(),
            grouped.column("digest_count").to_pylist(),
        )
        items = [{"batch": str(b), "source": "" if s is None else str(s), "records": int(n)} for b, s, n in rows]
        return sorted(items, key=lambda item: (-item["records"], item["batch"]))


def judge_lineage(store: Store, tag: str, untrusted: dict[str, Untrusted] | None = None) -> JudgedLineage:
    """The lineage of version ``tag`` under ``store.pins`` (see the module docstring).

    ``untrusted`` is :func:`standing.untrusted_batches` if the caller has it. While no
    ``attested`` record's batch is in it, the signed lineage stands as it is (no
    re-classification). Raises ``InputError`` for an unknown version and
    ``VerificationError`` as ``classify.version_lineage`` and ``trusted_lineage`` do.
    """
    signed = version_lineage(store, tag)
    signed_counts = counts(signed)
    untrusted = untrusted_batches(store) if untrusted is None else untrusted
    if not untrusted:
        return JudgedLineage(signed, signed_counts)
    attested = pc.equal(signed.column("status"), ATTESTED)
    held = pc.is_in(signed.column("batch"), value_set=pa.array(sorted(untrusted), pa.string()))
    if not pc.any(held).as_py():
        return JudgedLineage(signed, signed_counts)
    table = trusted_lineage(store, tag) if pc.any(pc.and_(attested, held)).as_py() else signed
    not_attested = pc.fill_null(pc.not_equal(table.column("status"), ATTESTED), True)
    lost = pc.and_(attested, not_attested)
    # a version committed after the revocation signed that batch's records unattributed already: they are
    # the revoked batch's all the same, and say so (newcomer review 12, finding 4: "signed and unsigned batch")
    lost = pc.or_(pc.fill_null(lost, False), pc.and_(held, not_attested))
    by_batch = pc.value_counts(pc.fill_null(signed.column("batch").filter(lost), "")).to_pylist()
    sources = dict(zip(signed.column("batch").to_pylist(), signed.column("source").to_pylist()))
    not_trusted = []
    for item in sorted(by_batch, key=lambda x: x["values"]):
        batch = item["values"]
        known = untrusted.get(batch)
        reason = known.reason if known is not None else UNVERIFIED
        source = known.source if known is not None else sources.get(batch) or ""
        not_trusted.append({"batch": batch, "source": source, "reason": reason, "records": int(item["counts"])})
    return JudgedLineage(table, signed_counts, not_trusted)


def statuses_under_pins(
    store: Store, tag: str, ranks_of: tuple[str, ...], untrusted: dict[str, Untrusted] | None = None
) -> tuple[np.ndarray, dict, list] | None:
    """For ``prov diff``: ``(status ranks, counts, not_trusted)`` of ``tag`` under the pins, or None
    when the lineage the version signed stands (no registered signed batch lost standing, or none
    this version's attested records came from; the common case, which reads no lineage object).

    Ranks are int8 indexes into ``ranks_of`` (``delta.statuses.LINEAGE_STATUSES``), one per
    manifest row in order; counts and ``not_trusted`` as :class:`JudgedLineage` gives them.
    ``untrusted`` is :func:`standing.untrusted_batches` if the caller has it.
    """
    untrusted = untrusted_batches(store) if untrusted is None else untrusted
    if not untrusted:
        return None
    judged = judge_lineage(store, tag, untrusted)
    if not judged.not_trusted:
        return None
    status = pc.dictionary_encode(judged.table.column("status")).combine_chunks()
    lookup = np.array([ranks_of.index(s) for s in status.dictionary.to_pylist()] or [0], np.int8)
    ranks = lookup[status.indices.to_numpy(zero_copy_only=False)] if len(status) else np.zeros(0, np.int8)
    return ranks, judged.counts, judged.not_trusted
