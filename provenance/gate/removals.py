"""The rule on removed unsigned records: a class of the base losing many records no signature vouches for.

Signed records that go missing are ``lineage.signed_batches_incomplete``'s. Records no
trusted signed batch carries have no source to speak for them, so deleting many of them
(one class's examples, to bias a model) showed only in the diff's removed count. This
rule counts, per class, the base's unsigned records that the candidate lacks and that no
signed ``prov quarantine`` in its history since the base removed, against the class's unsigned records in
the base: the base's signed manifest and lineage (re-hashed against its signature), the
candidate's lineage and the verifier's trusted signed batches, never a row.

A candidate that holds no records while its base held some blocks whatever the mode (but ``"off"``),
signed or not, quarantined or not: an empty training set is never a release (newcomer review 27,
finding 5; ``prov commit`` refuses empty data without ``--allow-empty``). So does one that removed more than
``max_removed_fraction`` (default half) of its base's records, a signed quarantine's removals left out: one record
kept of 300 is as much "nothing to train on" as none (attack review 28c, A28c-1, where it passed with the removals
warning only); an intended shrink raises the key (1: any).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Setting
from provenance.gate.results import LISTED, RuleResult, Status
from provenance.gate.rules import COUNT, FRACTION, ModeRule
from provenance.gate.shrink_bound import within_shrink

if TYPE_CHECKING:
    import pyarrow as pa

    from provenance.gate.context import GateContext

MODES = ("warn", "block", "off")
SHRINK_KEY = "max_removed_fraction"  # [removals]: the share of the base a release may remove before it blocks


class MaxUnsignedRemovedRate(ModeRule):
    """Warn (by default) when a class lost more than ``rate`` of the base's unsigned records in it.

    A class counts only when at least ``least`` of its unsigned base records are removed,
    so a small class losing two records stays quiet. Records a signed ``prov quarantine``
    in the candidate's signed history since the base removed (``missing_signed.removed_by_quarantine``
    with ``since_base``) are deliberate and not counted. ``unsigned_removed = "block"`` blocks, ``"off"`` leaves the
    rule out.
    """

    key = "removals.max_unsigned_removed_rate"
    settings = (
        Setting(
            "removals",
            "max_unsigned_removed_rate",
            FRACTION,
            0.1,
            "share of a class's unsigned base records (the base's signed lineage gives them to no trusted signed "
            "batch) the candidate may drop without a signed quarantine",
        ),
        Setting(
            "removals",
            "min_unsigned_removed",
            COUNT,
            10,
            "a class is judged only when at least this many of its unsigned base records are removed",
        ),
        Setting(
            "removals",
            "unsigned_removed",
            {"type": "string", "enum": list(MODES)},
            "warn",
            'what a class over the rate does: "warn" (reported, exit 0), "block", or "off"',
            expects='"warn", "block" or "off"',
        ),
        Setting(
            "removals",
            SHRINK_KEY,
            FRACTION,
            0.5,
            "share of the base's records the candidate may remove, signed or not, before the check blocks whatever "
            'unsigned_removed says (but "off"); records a signed quarantine since the base removed are left out; '
            "raise it (1: any) to release an intended shrink",
        ),
    )

    def __init__(self, rate: float, least: int, mode: str, max_removed_fraction: float = 0.5):
        super().__init__(rate, least, mode)
        self.max_removed_fraction = max_removed_fraction

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass, or warn (block) naming each class over the rate, its counts and the first removed records;
        block when the candidate removed every record of the base."""
        summary = ctx.report["summary"]
        if not summary["records_new"] and summary["records_base"]:
            return self.emptied(ctx, summary["records_base"])
        shrunk = self.shrunk(ctx, summary)
        if shrunk is not None:
            return shrunk
        removed, base = unsigned_removed(ctx)
        quarantined = ""
        if self.over(removed, base):  # only then is it worth recomputing what signed quarantines removed
            before = removed
            removed, base = not_deliberate(ctx, removed, base)
            quarantined = by_quarantine(ctx, before, removed)
        expected = f"at most {100 * self.rate:g}% per class"
        counts = label_counts(removed)
        offenders = self.over(removed, base)
        if not offenders:
            worst = max(counts, key=lambda c: (counts[c] / base[c], c), default=None)
            reason = (
                "no unsigned base records removed"
                if worst is None
                else f"most removed: class {worst} lost {counts[worst]} of its {base[worst]} unsigned base records "
                f"({100 * counts[worst] / base[worst]:.1f}%)"
            )
            if quarantined:  # "none removed" beside a Sources row of 240 removed read as a contradiction
                reason = reason.replace("base records removed", "base records removed outside a signed quarantine")
                reason = f"{reason}; {quarantined}"
            return RuleResult(self.key, "pass", reason, [], sum(counts.values()), expected=expected)
        text = "; ".join(
            f"class {c} lost {counts[c]} of its {base[c]} unsigned base records ({100 * counts[c] / base[c]:.1f}%)"
            for c in offenders[:5]
        )
        more = f"; and {len(offenders) - 5} more classes" if len(offenders) > 5 else ""
        why = (
            f"{text}{more}, more than {100 * self.rate:g}% (at least {self.least}): records no trusted signature "
            f"vouches for were deleted from {ctx.base}'s data with no signed `prov quarantine` for them, the shape "
            "of a deletion that biases a class; remove records on purpose with `prov quarantine`"
        )
        import pyarrow as pa
        import pyarrow.compute as pc

        listed = removed.filter(pc.is_in(removed.column("label"), value_set=pa.array(offenders))).slice(0, LISTED)
        records = [
            {"digest": d.hex(), "label": label, "detail": "removed; no trusted signed batch carries it"}
            for d, label in zip(listed.column("digest").to_pylist(), listed.column("label").to_pylist())
        ]
        count = sum(counts[c] for c in offenders)
        status: Status = "block" if self.mode == "block" else "warn"
        return RuleResult(self.key, status, why, records, count, expected=expected)

    def emptied(self, ctx: GateContext, records: int) -> RuleResult:
        """Block: ``ctx.new`` holds none of the base's ``records`` records (the check's verified manifests say so)."""
        why = (
            f"{ctx.new} holds no records: every one of {ctx.base}'s {records} records was removed, so there is "
            "nothing to train on; an empty version is never released, whatever [removals] unsigned_removed says "
            '(but "off")'
        )
        statistic = {"test": "emptied", "emptied": True, "records_base": records, "records_new": 0}
        expected = f"at most {100 * self.rate:g}% per class"
        return RuleResult(self.key, "block", why, [], records, statistic=statistic, expected=expected)

    def shrunk(self, ctx: GateContext, summary: dict) -> RuleResult | None:
        """Block when the candidate removed more than ``max_removed_fraction`` of the base's distinct records, else
        None. Counted from the check's verified manifests (``summary``: ``removed``, ``digests_base``) and, where a
        schema change paired records by row number only, the base's signed lineage (:func:`removed_from_base`): a
        base record counts as removed unless the candidate holds its digest or a schema change paired it by content
        (``kept_base``: the candidate still holds that content, counted once: attack review 29a, A29a-2); one
        paired by locator is merely at the same row number, whatever the content, and is removed (attack review
        30a, A30a-1: a varying column added to 150 new records hid the 300 of the base they replaced); relabeled
        records are kept. Base records a signed ``prov quarantine`` in the candidate's history since the base
        removed are deliberate and left out of both counts (:func:`quarantined_from_base`), as the per-class rate
        leaves them out: a maintainer who cuts a poisoned majority source signs that, a pull request cannot. The
        share is compared as :func:`shrink_bound.within_shrink` does. The statistic: ``{"test": "shrunk",
        "records_base", "records_new", "removed", "located", "quarantined", "removed_fraction",
        "max_removed_fraction"}`` (records are distinct record digests; ``records_base`` and ``removed`` without
        the quarantined ones; ``located``: removed base records a schema change paired by row number only)."""
        base, removed = summary["digests_base"], removed_from_base(ctx, summary)
        if not base or within_shrink(removed, base, self.max_removed_fraction):
            return None
        located = removed - summary["removed"]
        quarantined = quarantined_from_base(ctx)  # only now: it reads the base's lineage and the ancestry
        removed, base = max(0, removed - quarantined), base - quarantined
        if not base or within_shrink(removed, base, self.max_removed_fraction):
            return None
        share = removed / base
        deliberate = f" (besides {quarantined} a signed quarantine removed)" if quarantined else ""
        if located:  # said, or a schema change that kept every record by row number would read as a false count
            deliberate += (
                f"; {located} of them only share a row number with a record of {ctx.new} across the schema change "
                "(their content is not held)"
            )
        why = (
            f"{ctx.new} removed {removed} of {ctx.base}'s {base} records ({100 * share:.1f}%){deliberate}, more than "
            f"{100 * self.max_removed_fraction:g}%: a release that drops most of its base is blocked whatever "
            f'[removals] unsigned_removed says (but "off"); if the shrink is meant, raise [removals] {SHRINK_KEY}'
        )
        statistic = {
            "test": "shrunk",
            "records_base": base,
            "records_new": summary["digests_new"],
            "removed": removed,
            "located": located,
            "quarantined": quarantined,
            "removed_fraction": share,
            "max_removed_fraction": self.max_removed_fraction,
        }
        expected = f"at most {100 * self.max_removed_fraction:g}% of the base's records removed"
        return RuleResult(self.key, "block", why, [], removed, statistic=statistic, expected=expected)

    def over(self, removed: pa.Table, base: dict[str, int]) -> list[str]:
        """Classes whose removed unsigned records reach the floor and exceed the rate, most removed first."""
        counts = label_counts(removed)
        hits = [c for c, k in counts.items() if k >= self.least and k > self.rate * base[c]]
        return sorted(hits, key=lambda c: (-counts[c], c))


def label_counts(table: pa.Table) -> dict[str, int]:
    """``{label: rows}`` of ``table``'s ``label`` column."""
    from provenance.manifest import column_counts

    return column_counts(table.column("label"))


def unsigned_removed(ctx: GateContext) -> tuple[pa.Table, dict[str, int]]:
    """The base's unsigned records the candidate lacks (``digest``, ``label`` rows), and ``{label:
    unsigned base records}``. Unsigned is judged from the base version's own signed lineage
    (``lineage.classify.version_lineage``): a base record is signed only when the base signed it as
    carried by a batch (attested, or relabeled after source) that is still one of the verifier's
    trusted signed batches of a source no signed quarantine cut (``ctx.unquarantined_batch_records``,
    the batches ``lineage.signed_batches_incomplete`` judges). So a source that signs copies of base
    records after the base, quarantined later (attack review 7, finding 3) or not (its variant), does
    not take their deletion out of this rule. Records signed quarantines removed are still in the
    first (:func:`not_deliberate`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.classify import ATTESTED, RELABELED, version_lineage

    base = version_lineage(ctx.store, ctx.base)
    trusted = pc.unique(ctx.unquarantined_batch_records.column("batch"))
    carried = pc.is_in(base.column("status"), value_set=pa.array([ATTESTED, RELABELED], pa.string()))
    still = pc.is_in(pc.fill_null(base.column("batch"), ""), value_set=trusted)
    unsigned = base.filter(pc.invert(pc.and_(carried, still))).select(["digest", "label"])
    return unsigned.filter(lacked(ctx, unsigned.column("digest"))), label_counts(unsigned)


def lacked(ctx: GateContext, digests: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Which of the base's ``digests`` the candidate lacks (a boolean mask): not among its lineage's digests, and not
    a base record a schema change paired by content (``kept_base``: the candidate holds that content re-encoded,
    R11-1). A base record a schema change paired by row number only is lacked: the same locator says nothing of the
    content (attack review 30a, A30a-1)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    gone = pc.invert(pc.is_in(digests, value_set=ctx.lineage.column("digest")))
    kept = ctx.diff.delta.get("kept_base")
    if kept is not None and len(kept):
        held = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(kept), [None, pa.py_buffer(kept.tobytes())])
        gone = pc.and_(gone, pc.invert(pc.is_in(digests, value_set=held)))
    return gone


def removed_from_base(ctx: GateContext, summary: dict) -> int:
    """How many distinct base records the candidate lacks (:func:`lacked`). The diff's ``summary["removed"]`` is that
    count unless a schema change paired records by locator (``rekeyed_by``), which it takes out of removed as if
    kept; then the base's signed lineage (re-hashed against its signature) is counted instead."""
    if summary.get("rekeyed_by") != "locator":
        return int(summary["removed"])
    import pyarrow.compute as pc

    from provenance.lineage.classify import version_lineage

    base = pc.unique(version_lineage(ctx.store, ctx.base).column("digest"))
    return int(pc.sum(lacked(ctx, base)).as_py() or 0)


def quarantined_from_base(ctx: GateContext) -> int:
    """How many distinct records of the base (its signed lineage, re-hashed) the candidate lacks because a signed
    ``prov quarantine`` in its history since the base removed them (``missing_signed.removed_by_quarantine`` with
    ``since_base``: a quarantine in the base's own history does not excuse deleting what the base took back, attack
    review 29a, A29a-1)."""
    import pyarrow.compute as pc

    from provenance.gate.missing_signed import removed_by_quarantine
    from provenance.lineage.classify import version_lineage

    deliberate = removed_by_quarantine(ctx, since_base=True)
    if not len(deliberate):
        return 0
    base = pc.unique(version_lineage(ctx.store, ctx.base).column("digest"))
    return int(pc.sum(pc.and_(pc.is_in(base, value_set=deliberate), lacked(ctx, base))).as_py() or 0)


def by_quarantine(ctx: GateContext, before: pa.Table, after: pa.Table) -> str:
    """What signed quarantines took of the unsigned base records removed (``before`` minus :func:`not_deliberate`'s
    ``after``), in words: ``"240 removed by signed quarantine v6"`` (each quarantine version whose recomputed
    removals hold them: newcomer review 32), or "" when they took none."""
    import pyarrow.compute as pc

    taken = before.num_rows - after.num_rows
    if not taken:
        return ""
    gone = pc.invert(pc.is_in(before.column("digest"), value_set=after.column("digest")))
    digests = before.filter(gone).column("digest")
    tags = [q.tag for q in ctx.signed_quarantines if pc.any(pc.is_in(digests, value_set=q.removed)).as_py()]
    named = f"quarantine{'s' if len(tags) > 1 else ''} {', '.join(tags)}" if tags else "quarantine"
    return f"{taken} removed by signed {named}"


def not_deliberate(ctx: GateContext, removed: pa.Table, base: dict[str, int]) -> tuple[pa.Table, dict[str, int]]:
    """``removed`` without the records a signed quarantine in the candidate's history since the base removed
    (``missing_signed.removed_by_quarantine`` with ``since_base``, as :func:`quarantined_from_base`), and ``base``'s per-class totals without them too:
    a quarantined source's flood of one class must not dilute the rate a deletion of that class's
    other records is judged at (attack review 7b, finding 2)."""
    import pyarrow.compute as pc

    from provenance.gate.missing_signed import removed_by_quarantine

    quarantined = removed_by_quarantine(ctx, since_base=True)
    if not len(quarantined):
        return removed, base
    deliberate = pc.is_in(removed.column("digest"), value_set=quarantined)
    cut = label_counts(removed.filter(deliberate))
    totals = {c: n - cut.get(c, 0) for c, n in base.items() if n > cut.get(c, 0)}
    return removed.filter(pc.invert(deliberate)), totals
