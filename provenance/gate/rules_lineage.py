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
    from provenance.gate.quarantine_near import NearCopies
    from provenance.gate.quarantine_returns import Returned


def lineage_records(ctx: GateContext, mask: pa.Array) -> list[dict]:
    """The first ``LISTED`` records of the new version's lineage selected by ``mask``.

    Each is ``{"digest": hex, "label", "source", "signed_label", "locator", "location"}``: where the record
    is (its row, ``file#row`` or a tree's path, read from the signed manifest: the lineage is row for row
    with it), so a reviewer can find the file to move back (newcomer review 12, finding 6).
    """
    import numpy as np
    import pyarrow.compute as pc

    from provenance.delta.records import location

    rows = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))[:LISTED]
    part = ctx.lineage.take(rows)
    cols = {c: part.column(c).to_pylist() for c in ("digest", "label", "source", "signed_label")}
    records = ctx.diff.records
    locators: list = [None] * len(rows)
    if records is not None and records.fetch is not None and len(rows):
        locators = list(records.fetch(rows.astype(np.int64))[0])
    return [
        {
            "digest": d.hex(),
            "label": label,
            "source": s,
            "signed_label": signed,
            "locator": None if loc is None else str(loc),
            "location": location(records.dataset if records is not None else None, loc),
        }
        for d, label, s, signed, loc in zip(
            cols["digest"], cols["label"], cols["source"], cols["signed_label"], locators
        )
    ]


def count_status(ctx: GateContext, status: str) -> tuple[int, pa.Array]:
    """How many records of the new version have lineage ``status``, and the mask selecting them."""
    import pyarrow.compute as pc

    mask = pc.equal(ctx.lineage.column("status"), status)
    return int(pc.sum(mask).as_py() or 0), mask


def added_mask(ctx: GateContext) -> pa.Array:
    """Which rows of the new version's lineage are records added against the base: every digest the
    base does not hold, records a schema change re-keyed included (paired with a base record by
    content or not, their new digests match no batch signed with the old types: R11-1's content
    pairing must not let a retype take signed records out of the lineage rules)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    delta = ctx.diff.delta
    added = np.ascontiguousarray(np.concatenate([delta["added"], delta.get("rekeyed", np.zeros(0, "S32"))]))
    value_set = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(added), [None, pa.py_buffer(added)])
    return pc.is_in(ctx.lineage.column("digest"), value_set=value_set)


def rekeyed_unattributed_in_base(ctx: GateContext) -> pa.Array:
    """Which rows of the new version's lineage are records a schema change re-keyed that pair by content
    with a base record the base signed as ``unattributed`` (newcomer review 16, finding 2): the same
    content as a record no batch carried before, so nothing the delta brings in.

    The pairs are ``ctx.diff.delta``'s ``rekeyed``/``kept_base`` (new and base digests, pair for pair):
    recomputed by the diff, never read from a row: each new record re-read from where its version signed
    its data, re-hashed against its signed digest, re-encoded under the base's *signed* types without loss
    and matched against the base's signed manifest (``delta.bridge``). Records paired by locator (no
    ``kept_base``) are never selected. The base's statuses are the lineage the base *signed*
    (``lineage.classify.version_lineage``: a ``.prov/`` writer cannot turn a signed record unattributed);
    a base digest any of whose rows a batch carried (attested or relabeled after source) is not selected.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.classify import UNATTRIBUTED, version_lineage

    delta = ctx.diff.delta
    came, kept = delta.get("rekeyed"), delta.get("kept_base")
    digests = ctx.lineage.column("digest")
    if came is None or kept is None or not len(kept) or len(kept) != len(came):
        return pc.is_in(digests, value_set=pa.array([], pa.binary(32)))
    base = version_lineage(ctx.store, ctx.base)
    unattributed = pc.equal(base.column("status"), UNATTRIBUTED)
    carried = pc.unique(base.filter(pc.invert(unattributed)).column("digest"))
    only = pc.unique(base.filter(unattributed).column("digest"))
    only = pc.filter(only, pc.invert(pc.is_in(only, value_set=carried)))
    kept_base = _digests(np.ascontiguousarray(kept, dtype="S32"))
    paired = pc.is_in(kept_base, value_set=only).to_numpy(zero_copy_only=False)
    return pc.is_in(digests, value_set=_digests(np.ascontiguousarray(np.asarray(came, dtype="S32")[paired])))


def _digests(array) -> pa.Array:
    """An ``S32`` numpy array as a pyarrow ``binary(32)`` array (whole digests: numpy drops trailing zero bytes)."""
    import pyarrow as pa

    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(array), [None, pa.py_buffer(array)])


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
        """Count lineage status ``relabeled_after_source``, and the added records shipped in a withdrawn signed
        batch's place under other labels than it signed (``gate.withdrawn_labels``, attack review 32d, A32d-3);
        block above the bound. A row the base's signed ancestry held under its label before the source's batch
        carried its content is the team's, not counted (``lineage.held_before``, newcomer 34, finding 2); when that
        ancestry does not verify, every such row counts (fails closed)."""
        import pyarrow.compute as pc

        from provenance.errors import InputError, VerificationError
        from provenance.gate.withdrawn_labels import relabeled_in_withdrawn_place
        from provenance.lineage.held_before import held_before_source

        k, mask = count_status(ctx, "relabeled_after_source")
        what = "records relabeled after their source signed them"
        if k:
            try:
                teams = held_before_source(ctx.store, ctx.base, ctx.lineage)
            except (InputError, VerificationError) as exc:
                what += f" (the base's signed ancestry could not tell the team's rows: {exc})"
            else:
                held = int(pc.sum(teams).as_py() or 0)
                if held:
                    mask = pc.and_(mask, pc.invert(teams))
                    k -= held
                    what += (
                        f" (not counted: {held} the base's signed ancestry held under the same label before the "
                        "source signed its content, the team's own)"
                    )
        try:
            withdrawn = relabeled_in_withdrawn_place(ctx)
        except VerificationError as exc:
            why = f"records shipped in a withdrawn signed batch's place are not the signed ones: {exc}"
            return RuleResult(self.key, "block", why, allowed=self.bound, expected=f"at most {self.bound}")
        except InputError as exc:
            why = f"records shipped in a withdrawn signed batch's place could not be read: {exc}"
            return RuleResult(self.key, "error", why, allowed=self.bound, expected=f"at most {self.bound}")
        if withdrawn:
            what += f" ({len(withdrawn)} of them in the place of a withdrawn signed batch)"
        records = (lineage_records(ctx, mask) if k else []) + withdrawn
        return bounded_count(self.key, k + len(withdrawn), self.bound, what, records)


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
    """Sources cut out with ``prov quarantine`` may not come back, under their own name or another,
    nor may the records a signed quarantine removed.

    Blocks a record of the new version that a quarantined source's registered batch
    carries, whose source column (as the version signed it) names a quarantined source, or
    whose content a signed ``prov quarantine`` version removed (``GateContext.signed_quarantines``:
    the quarantine's parent manifest minus its own, recomputed), whatever source name it now
    carries: the source column is not hashed, so a data writer can re-add the same records as
    ``scrape`` (attack review 6b, finding 1); and records a ``--findings`` quarantine cut, which
    are in no delta when the check's base still holds them (attack review 7b, finding 3).

    What lets a record through is what ``provenance.gate.quarantine_returns`` says: a record
    whose column names a quarantined source, or that a source quarantine removed, when a trusted
    signed batch of another source registered before the quarantine attests it (what the
    quarantine kept; attack reviews 7, finding 5, and 7b, finding 1); a record a findings
    quarantine removed, when a reviewer's waiver of its combined verdict on the new version is
    honoured.
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
        import pyarrow.compute as pc

        from provenance.errors import InputError, VerificationError
        from provenance.features.base import FeatureError
        from provenance.gate.quarantine_near import near_returned
        from provenance.gate.quarantine_returns import kept_by_quarantine, returned_records

        if not ctx.quarantined_sources and not ctx.signed_quarantines:
            return RuleResult(self.key, "pass", "no source has been quarantined", allowed=0, expected="at most 0")
        sources = set(ctx.quarantined_sources)
        returned, kept = returned_records(ctx), kept_by_quarantine(ctx, sources)
        exact = source_mask(ctx, sources, kept)
        try:
            near = near_returned(ctx, exact if returned is None else pc.or_(exact, returned.mask))
        except VerificationError as exc:
            why = f"the records a signed quarantine removed are not the signed ones, so near copies cannot be judged: {exc}"
            return RuleResult(self.key, "block", why, allowed=0, expected="at most 0")
        except (InputError, FeatureError) as exc:
            why = f"near copies of the records a signed quarantine removed could not be checked: {exc}"
            return RuleResult(self.key, "error", why, allowed=0, expected="at most 0")
        return source_records(ctx, self.key, sources, "quarantined", returned, kept, near)


def source_mask(ctx: GateContext, sources: set[str], kept: pa.Array | None = None) -> pa.Array:
    """Rows of the new version's lineage that come from one of ``sources``: by its lineage (the registered
    batch that carries it) or by the data's source column as the version signed it, except the rows ``kept``
    selects by their column (``quarantine_returns.kept_by_quarantine``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = pa.array(sorted(sources), pa.string())
    by_batch = pc.is_in(pc.fill_null(ctx.lineage.column("source"), ""), value_set=names)
    by_column = pc.is_in(pc.fill_null(ctx.record_sources, ""), value_set=names)
    if kept is not None:
        by_column = pc.and_(by_column, pc.invert(kept))
    return pc.or_(by_batch, by_column)


def source_records(
    ctx: GateContext,
    rule: str,
    sources: set[str],
    why: str,
    returned: Returned | None = None,
    kept: pa.Array | None = None,
    near: NearCopies | None = None,
) -> RuleResult:
    """Block when any record of the new version comes from one of ``sources``: by its lineage
    (the registered batch that carries it) or by the data's source column as the version signed
    it, the two ways ``prov quarantine --source`` finds a source's records, except the rows
    ``kept`` selects by their column (``quarantine_returns.kept_by_quarantine``); or when
    ``returned`` (``quarantine_returns.returned_records``) selects it, or it is one of the ``near``
    copies of removed records (``quarantine_near.near_returned``). A returned record is listed
    with a ``detail`` naming the quarantine that removed it."""
    import pyarrow.compute as pc

    from provenance.gate.quarantine_near import NO_ADDITIONS, NO_QUARANTINE

    mask = source_mask(ctx, sources, kept)
    what = f"records from {why} sources ({', '.join(sorted(sources))})" if sources else "records"
    if returned is not None:
        what += returned.reason(pc.invert(mask))
        mask = pc.or_(mask, returned.mask)
    close = len(near.digests) if near is not None else 0
    if near is not None and close:
        what += (
            f", {close} of them near copies of records a signed quarantine removed (closer to one than the base's "
            f"two closest records are to each other, {near.radius:.3g})"
        )
    k = int(pc.sum(mask).as_py() or 0) + close
    if near is not None and near.note is not None and near.note not in (NO_QUARANTINE, NO_ADDITIONS):
        what += f" (near copies of removed records not compared: {near.note})"  # attack review 8b, B1: say so
    for gone in near.missing if near is not None else []:  # attack review 8b, B4: the store lost a signed object
        what += f"; {gone}"
    if not k:
        return bounded_count(rule, 0, 0, what, [])
    listed = lineage_records(ctx, mask)
    for record, column in zip(listed, ctx.record_sources.filter(mask).slice(0, len(listed)).to_pylist()):
        record["source"] = record["source"] or column
    if returned is not None:
        for record, detail in zip(listed, returned.details(mask, len(listed))):
            if detail is not None and record["source"] not in sources:
                record["detail"] = detail
    if near is not None and close and len(listed) < LISTED:
        import pyarrow as pa

        chosen = pc.is_in(ctx.lineage.column("digest"), value_set=pa.array(near.digests, pa.binary(32)))
        named = {r["digest"]: r["source"] for r in lineage_records(ctx, chosen)}
        for d, label, detail in list(zip(near.digests, near.labels, near.details))[: LISTED - len(listed)]:
            listed.append({"digest": d.hex(), "label": label, "source": named.get(d.hex()), "signed_label": None,
                           "detail": detail})  # fmt: skip
    return bounded_count(rule, k, 0, what, listed)
