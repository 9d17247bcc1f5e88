"""The release policy's lineage rules: who signed each record of the candidate, and which sources may not be in it.

Relabels after source, unattributed records (as a count or a fraction), unsigned
additions, forbidden and quarantined sources. Lineage is the candidate's signed lineage
re-judged under the verifier's pins (``GateContext.lineage``). The rules on unsigned
batches and missing signed records are in ``provenance.gate.unsigned``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Setting
from provenance.gate.results import LISTED, RuleResult, bounded_count
from provenance.gate.rules import BOOLEAN, COUNT, FRACTION, CountBound, ParameterRule, SwitchedRule

if TYPE_CHECKING:
    import pyarrow as pa

    from provenance.gate.context import GateContext


def lineage_records(ctx: GateContext, mask: pa.Array) -> list[dict]:
    """The first ``LISTED`` records of the new version's lineage selected by ``mask``.

    Each is ``{"digest": hex, "label", "source", "signed_label"}``.
    """
    part = ctx.lineage.filter(mask).slice(0, LISTED)
    cols = {c: part.column(c).to_pylist() for c in ("digest", "label", "source", "signed_label")}
    return [
        {"digest": d.hex(), "label": label, "source": s, "signed_label": signed}
        for d, label, s, signed in zip(cols["digest"], cols["label"], cols["source"], cols["signed_label"])
    ]


def count_status(ctx: GateContext, status: str) -> tuple[int, pa.Array]:
    """How many records of the new version have lineage ``status``, and the mask selecting them."""
    import pyarrow.compute as pc

    mask = pc.equal(ctx.lineage.column("status"), status)
    return int(pc.sum(mask).as_py() or 0), mask


def added_mask(ctx: GateContext) -> pa.Array:
    """Which rows of the new version's lineage are records added against the base."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    added = np.ascontiguousarray(ctx.diff.delta["added"])
    value_set = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(added), [None, pa.py_buffer(added)])
    return pc.is_in(ctx.lineage.column("digest"), value_set=value_set)


class MaxRelabeledAfterSource(CountBound):
    """At most ``bound`` records whose label differs from the one their source signed."""

    key = "lineage.max_relabeled_after_source"
    settings = (
        Setting(
            "lineage",
            "max_relabeled_after_source",
            COUNT,
            0,
            "records whose label differs from the one their source signed",
        ),
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Count lineage status ``relabeled_after_source``; block above the bound."""
        k, mask = count_status(ctx, "relabeled_after_source")
        what = "records relabeled after their source signed them"
        return bounded_count(self.key, k, self.bound, what, lineage_records(ctx, mask) if k else [])


class MaxUnattributed(CountBound):
    """At most ``bound`` records that no trusted signed batch carries."""

    key = "lineage.max_unattributed"
    settings = (Setting("lineage", "max_unattributed", COUNT, None, "records no trusted signed batch carries"),)

    def check(self, ctx: GateContext) -> RuleResult:
        """Count lineage status ``unattributed``; block above the bound."""
        k, mask = count_status(ctx, "unattributed")
        what = "records no trusted signed batch carries"
        return bounded_count(self.key, k, self.bound, what, lineage_records(ctx, mask) if k else [])


class MaxUnattributedFraction(ParameterRule):
    """At most this fraction of the new version's records may be unattributed."""

    key = "lineage.max_unattributed_fraction"
    settings = (
        Setting("lineage", "max_unattributed_fraction", FRACTION, None, "the same, as a fraction of the version"),
    )

    def __init__(self, fraction: float):
        self.fraction = fraction

    def check(self, ctx: GateContext) -> RuleResult:
        """Block when unattributed records exceed ``int(fraction * records)``."""
        k, mask = count_status(ctx, "unattributed")
        n = ctx.lineage.num_rows
        what = f"of {n} records no trusted signed batch carries (at most {100 * self.fraction:g}%)"
        return bounded_count(self.key, k, int(self.fraction * n), what, lineage_records(ctx, mask) if k else [])


class MaxUnsignedAdditions(CountBound):
    """At most ``bound`` added records without a trusted signature (unattributed additions)."""

    key = "lineage.max_unsigned_additions"
    settings = (
        Setting(
            "lineage",
            "max_unsigned_additions",
            COUNT,
            None,
            "added records from unsigned or unattributed batches",
        ),
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Count the diff's unattributed additions; block above the bound, naming them."""
        k = int(ctx.report["summary"].get("unattributed_added", 0))
        records: list[dict] = []
        if k and self.bound is not None and k > self.bound:
            import pyarrow.compute as pc

            _, unattributed = count_status(ctx, "unattributed")
            records = lineage_records(ctx, pc.and_(unattributed, added_mask(ctx)))
        return bounded_count(self.key, k, self.bound, "added records without a trusted signature", records)


class ForbiddenSources(ParameterRule):
    """No record may come from one of the named sources."""

    key = "lineage.forbidden_sources"
    settings = (
        Setting(
            "lineage",
            "forbidden_sources",
            {"type": "array", "items": {"type": "string", "minLength": 1}},
            [],
            "sources whose records may not be in a release",
            expects="a list of non-empty source names",
        ),
    )

    def __init__(self, sources: list[str]):
        self.sources = sorted(set(sources))

    def check(self, ctx: GateContext) -> RuleResult:
        """Block when any record of the new version comes from a forbidden source."""
        return source_records(ctx, self.key, set(self.sources), "forbidden")


class BlockQuarantinedSources(SwitchedRule):
    """Sources cut out with ``prov quarantine`` may not come back, under their own name or another.

    Blocks a record of the new version that a quarantined source's registered batch
    carries, whose source column (as the version signed it) names a quarantined source, or
    whose content a signed ``prov quarantine --source`` version in the signed history of the
    new version or the base removed (``GateContext.source_quarantines``: the quarantine's
    parent manifest minus its own, recomputed), whatever source name it now carries: the
    source column is not hashed, so a data writer can re-add the same records as ``scrape``
    (attack review 6b, finding 1).

    What vouches for a record against both (:func:`vouched`) is what ``prov quarantine`` itself
    kept: a trusted signed batch of a source not quarantined, registered before the quarantine
    (the audit log its signed head fixes), that attests the record. So the records a quarantine
    kept, tagged with the quarantined source in the unhashed column, do not block it (attack
    review 7, finding 5), and a second trusted source that signs the removed records after the
    quarantine does not bring them back (attack review 7b, finding 1).
    """

    key = "lineage.block_quarantined_sources"
    settings = (
        Setting(
            "lineage",
            "block_quarantined_sources",
            BOOLEAN,
            True,
            "sources cut out with `prov quarantine` may not come back",
        ),
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Block when any record of the new version comes from a quarantined source or is one a quarantine removed."""
        if not ctx.quarantined_sources and not ctx.source_quarantines:
            return RuleResult(self.key, "pass", "no source has been quarantined", allowed=0, expected="at most 0")
        sources = set(ctx.quarantined_sources)
        return source_records(
            ctx, self.key, sources, "quarantined", returned_records(ctx), kept_by_quarantine(ctx, sources)
        )


def vouched(ctx: GateContext, batches: frozenset[str]) -> pa.Array:
    """Which rows of the new version's lineage a trusted signed batch of a source not quarantined attests,
    that batch being one of ``batches`` (those registered before a quarantine)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    steps = ctx.source_quarantines
    quarantined = pa.array(sorted(ctx.quarantined_sources | {q.source for q in steps}), pa.string())
    attested = pc.equal(ctx.lineage.column("status"), "attested")
    by_quarantined = pc.is_in(pc.fill_null(ctx.lineage.column("source"), ""), value_set=quarantined)
    early = pc.is_in(pc.fill_null(ctx.lineage.column("batch"), ""), value_set=pa.array(sorted(batches), pa.string()))
    return pc.and_(pc.and_(attested, pc.invert(by_quarantined)), early)


def returned_records(ctx: GateContext) -> pa.Array | None:
    """Which rows of the new version's lineage are records a signed source quarantine removed
    (``GateContext.source_quarantines``), except those :func:`vouched` for by a batch registered
    before that quarantine; None when no source quarantine is in the signed history."""
    import pyarrow.compute as pc

    mask = None
    for q in ctx.source_quarantines:
        back = pc.and_(
            pc.is_in(ctx.lineage.column("digest"), value_set=q.removed), pc.invert(vouched(ctx, q.registered))
        )
        mask = back if mask is None else pc.or_(mask, back)
    return mask


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


def source_records(
    ctx: GateContext,
    rule: str,
    sources: set[str],
    why: str,
    returned: pa.Array | None = None,
    kept: pa.Array | None = None,
) -> RuleResult:
    """Block when any record of the new version comes from one of ``sources``: by its lineage
    (the registered batch that carries it) or by the data's source column as the version signed
    it, the two ways ``prov quarantine --source`` finds a source's records, except the rows
    ``kept`` selects by their column (:func:`kept_by_quarantine`); or when ``returned`` (a mask
    over the lineage, :func:`returned_records`) selects it. A returned record is listed with a
    ``detail`` naming the quarantine that removed it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = pa.array(sorted(sources), pa.string())
    by_batch = pc.is_in(pc.fill_null(ctx.lineage.column("source"), ""), value_set=names)
    by_column = pc.is_in(pc.fill_null(ctx.record_sources, ""), value_set=names)
    if kept is not None:
        by_column = pc.and_(by_column, pc.invert(kept))
    mask = pc.or_(by_batch, by_column)
    back = 0
    if returned is not None:
        back = int(pc.sum(pc.and_(returned, pc.invert(mask))).as_py() or 0)
        mask = pc.or_(mask, returned)
    k = int(pc.sum(mask).as_py() or 0)
    what = f"records from {why} sources ({', '.join(sorted(sources))})"
    if back:
        what += (
            f", {back} of them removed by a signed `prov quarantine --source` and back under another source "
            "name, none, or a batch registered after the quarantine (matched by content digest)"
        )
    if not k:
        return bounded_count(rule, 0, 0, what, [])
    listed = lineage_records(ctx, mask)
    for record, column in zip(listed, ctx.record_sources.filter(mask).slice(0, len(listed)).to_pylist()):
        record["source"] = record["source"] or column
    if back:
        late = pc.and_(pc.equal(ctx.lineage.column("status"), "attested"), pc.is_valid(ctx.lineage.column("batch")))
        late_listed = late.filter(mask).slice(0, len(listed)).to_pylist()
        digests = pa.array([bytes.fromhex(r["digest"]) for r in listed], pa.binary(32))
        for q in ctx.source_quarantines:
            hits = pc.and_(
                pc.is_in(digests, value_set=q.removed),
                pc.invert(vouched(ctx, q.registered).filter(mask).slice(0, len(listed))),
            )
            for record, hit, signed in zip(listed, hits.to_pylist(), late_listed):
                if hit and "detail" not in record and record["source"] not in sources:
                    record["detail"] = f"removed by {q.tag}, the signed quarantine of source {q.source} from {q.parent}"
                    if signed:
                        record["detail"] += "; signed by a batch registered after it"
    return bounded_count(rule, k, 0, what, listed)
