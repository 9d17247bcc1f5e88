"""Which records of a candidate are ones a signed ``prov quarantine`` removed, back again; what lets one back.

Read by ``lineage.block_quarantined_sources`` (``provenance.gate.rules_lineage``). What each
quarantine removed is recomputed from the signed manifests (``GateContext.signed_quarantines``,
``provenance.gate.quarantine_history``). What lets a removed record back is a signed decision
made for it, never a row:

- for a ``--source`` quarantine, what the quarantine itself would have kept (:func:`vouched`):
  a trusted signed batch of a source not quarantined, registered before the quarantine by the
  audit log its signed head fixes, that attests the record (attack review 7b, finding 1);
- for a ``--findings`` quarantine (records the detectors flagged), a reviewer's waiver of the
  combined verdict on the candidate (``prov waive DIGEST --version NEW --detector combined``),
  honoured as the detector rules honour it (attack review 7b, finding 3), for the row (digest and
  label) it names.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from provenance.gate.context import GateContext
    from provenance.gate.quarantine_history import SignedQuarantine


def vouched(ctx: GateContext, batches: frozenset[str]) -> pa.Array:
    """Which rows of the new version's lineage a trusted signed batch of a source not quarantined attests,
    that batch being one of ``batches`` (those registered before a quarantine)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    steps = ctx.source_quarantines
    quarantined = pa.array(sorted(ctx.quarantined_sources | {str(q.source) for q in steps}), pa.string())
    attested = pc.equal(ctx.lineage.column("status"), "attested")
    by_quarantined = pc.is_in(pc.fill_null(ctx.lineage.column("source"), ""), value_set=quarantined)
    early = pc.is_in(pc.fill_null(ctx.lineage.column("batch"), ""), value_set=pa.array(sorted(batches), pa.string()))
    return pc.and_(pc.and_(attested, pc.invert(by_quarantined)), early)


def kept_by_quarantine(ctx: GateContext, sources: set[str]) -> pa.Array | None:
    """Which rows of the new version's lineage have a source column naming a quarantined source that signed
    lineage gives to another: :func:`vouched` for by a batch registered before a quarantine of that source,
    as ``prov quarantine --source`` keeps them (attack review 7, finding 5); None when there are none."""
    import pyarrow.compute as pc

    mask = None
    column = pc.fill_null(ctx.record_sources, "")
    for name in sorted(sources):
        before = frozenset().union(*(q.registered for q in ctx.source_quarantines if q.source == name))
        if not before:
            continue
        kept = pc.and_(pc.equal(column, name), vouched(ctx, before))
        mask = kept if mask is None else pc.or_(mask, kept)
    return mask


def waived_combined(ctx: GateContext) -> pa.Array:
    """The (digest, label) rows (``quarantine_history.row_keys``) whose combined verdict an honoured waiver on the
    new version accepts. Each waiver lets back the row it names, never every label of its digest: a candidate
    holding the corrected row and the flipped row a quarantine cut under one digest needs a waiver for each
    (attack review 9b, T9b-1)."""
    return _row_keys(ctx.waivers.waived)


def waived_rows(ctx: GateContext, after: str) -> pa.Array:
    """The (digest, label) rows (``quarantine_history.row_keys``) an honoured waiver of the combined verdict
    lets back on a version of the new version's signed ancestry made after quarantine ``after`` (it descends
    from it). Such a waiver names a release that held the record with the quarantine in its history: a
    reviewer let that row back there and need not waive it again on every later release that keeps it (attack
    review 8, A5). Only the row as it stood on that release counts (the waiver's label, or for a waiver made
    before waivers named labels, the one label that version's manifest holds it under): a later relabel back to
    the label the quarantine cut is not waived (attack review 9, T1). A waiver of a version before the
    quarantine, or on another branch, does not count."""
    import pyarrow as pa

    tags = list(ctx.ancestry_waivers)
    waived = (
        set().union(*(ctx.ancestry_waivers[tag].waived for tag in tags[: tags.index(after)]))
        if after in tags
        else set()
    )
    return _row_keys(waived) if waived else pa.array([], pa.binary())


def _row_keys(waived: set[tuple[str, str, str | None]]) -> pa.Array:
    """``row_keys`` of the (digest, label) rows of the ``combined`` waivers among ``waived`` (``Waivers.waived``)."""
    import pyarrow as pa

    from provenance.gate.quarantine_history import row_keys

    rows = sorted(
        {(d, label) for d, detector, label in waived if detector == "combined"}, key=lambda r: (r[0], r[1] or "")
    )
    return row_keys(
        pa.table(
            {
                "digest": pa.array([bytes.fromhex(d) for d, _ in rows], pa.binary(32)),
                "label": pa.array([label for _, label in rows], pa.string()),
            }
        )
    )


@dataclass
class Returned:
    """Rows of the new version's lineage (masks) that signed quarantines removed and nothing lets back.

    ``by_source``: removed by a ``--source`` quarantine, not :func:`vouched` for by a batch
    registered before it; ``by_findings``: removed by a ``--findings`` quarantine, with no honoured
    waiver of their combined verdict; ``mask``: either.
    """

    ctx: GateContext
    by_source: pa.Array
    by_findings: pa.Array

    @property
    def mask(self) -> pa.Array:
        """Rows either kind of quarantine removed and nothing lets back."""
        import pyarrow.compute as pc

        return pc.or_(self.by_source, self.by_findings)

    def reason(self, outside: pa.Array) -> str:
        """What to add to the rule's reason for the returned rows that ``outside`` selects (those not
        already counted by source name): ``, N of them removed by ...`` for each kind, or empty."""
        import pyarrow.compute as pc

        n = int(pc.sum(pc.and_(self.by_source, outside)).as_py() or 0)
        m = int(pc.sum(pc.and_(self.by_findings, outside)).as_py() or 0)
        text = ""
        if n:
            text += (
                f", {n} of them removed by a signed `prov quarantine --source` and back under another source "
                "name, none, or a batch registered after the quarantine (matched by content digest, or by digest and "
                "label for a label-flipped copy of another source's signed record)"
            )
        if m:
            text += (
                f", {m} of them removed by a signed `prov quarantine --findings` (records the detectors flagged) "
                f"and back; a reviewer's waiver of the combined verdict on {self.ctx.new} lets one back "
                f"(`prov waive DIGEST --version {shlex.quote(self.ctx.new)} --detector combined`)"
            )
        return text

    def details(self, mask: pa.Array, listed: int) -> list[str | None]:
        """For the first ``listed`` rows ``mask`` selects, the quarantine that removed each (or None)."""
        import pyarrow.compute as pc

        ctx = self.ctx
        chosen = ctx.lineage.filter(mask).slice(0, listed)
        source_rows = self.by_source.filter(mask).slice(0, listed).to_pylist()
        findings_rows = self.by_findings.filter(mask).slice(0, listed).to_pylist()
        late = pc.and_(pc.equal(ctx.lineage.column("status"), "attested"), pc.is_valid(ctx.lineage.column("batch")))
        signed = late.filter(mask).slice(0, listed).to_pylist()
        out: list[str | None] = [None] * chosen.num_rows
        for q in ctx.signed_quarantines:
            hits = removed_by(chosen, q)
            if q.source is not None:
                hits = pc.and_(hits, pc.invert(vouched(ctx, q.registered).filter(mask).slice(0, listed)))
            for i, hit in enumerate(hits.to_pylist()):
                if not hit or out[i] is not None:
                    continue
                if q.source is None and findings_rows[i]:
                    out[i] = (
                        f"removed by {q.tag}, the signed quarantine of the records the detectors flagged in {q.parent}"
                    )
                elif q.source is not None and source_rows[i]:
                    late_batch = "; signed by a batch registered after it" if signed[i] else ""
                    out[i] = (
                        f"removed by {q.tag}, the signed quarantine of source {q.source} from {q.parent}{late_batch}"
                    )
        return out


def removed_by(lineage: pa.Table, q: SignedQuarantine) -> pa.Array:
    """Which rows of ``lineage`` (columns ``digest`` and ``label``) quarantine ``q`` removed: their digest is one it
    removed, or their (digest, label) row is (a label-flipped copy of another source's signed record, cut while
    the signed original stayed: attack review 8b, B3)."""
    import pyarrow.compute as pc

    from provenance.gate.quarantine_history import row_keys

    hits = pc.is_in(lineage.column("digest"), value_set=q.removed)
    if q.removed_rows is None or not len(q.removed_rows):
        return hits
    return pc.or_(hits, pc.is_in(row_keys(lineage.select(["digest", "label"])), value_set=q.removed_rows))


def returned_records(ctx: GateContext) -> Returned | None:
    """The new version's records signed quarantines removed that nothing lets back (see the module);
    None when no quarantine verifies under the pins."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.gate.quarantine_history import row_keys

    if not ctx.signed_quarantines:
        return None
    none = pa.array([False] * ctx.lineage.num_rows, pa.bool_())
    by_source, by_findings = none, none
    rows = row_keys(ctx.lineage.select(["digest", "label"]))
    for q in ctx.signed_quarantines:
        removed = removed_by(ctx.lineage, q)
        if q.source is not None:
            by_source = pc.or_(by_source, pc.and_(removed, pc.invert(vouched(ctx, q.registered))))
        else:
            waived = pc.or_(
                pc.is_in(rows, value_set=waived_combined(ctx)), pc.is_in(rows, value_set=waived_rows(ctx, q.tag))
            )
            by_findings = pc.or_(by_findings, pc.and_(removed, pc.invert(waived)))
    return Returned(ctx, by_source, by_findings)
