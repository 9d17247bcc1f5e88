"""The rule against a silent downgrade: no unsigned additions from a source that signs its batches.

A source with a trusted batch-signing key delivers signed batches. An unsigned batch
from it (``prov add --unsigned``, or a batch whose envelope went missing on the way) is
the shape a tampered delivery takes once its signature is stripped, so the default
policy blocks the records it adds. ``lineage.allow_unsigned_from`` lists sources whose
unsigned batches are accepted all the same. Records from no source and no signed batch
stay "unattributed": this rule does not block them (``lineage.max_unsigned_additions``
does, when set) and its report says how many there are. :class:`UnattributedBesideSigned`
blocks them where signed deliveries make them the shape of records edited in transit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Rule, Setting, Settings
from provenance.gate.results import RuleResult, bounded_count
from provenance.gate.rules import BOOLEAN, SwitchedRule, added_mask, count_status, lineage_records, setting_value

if TYPE_CHECKING:
    import pyarrow as pa

    from provenance.gate.context import GateContext


class UnsignedFromSigningSources(Rule):
    """Block added records that came in an unsigned batch from a source that has a trusted
    batch-signing key, unless the policy allows that source (``allow_unsigned_from``)."""

    key = "lineage.unsigned_from_signing_sources"
    settings = (
        Setting(
            "lineage",
            "allow_unsigned_from",
            {"type": "array", "items": {"type": "string", "minLength": 1}},
            [],
            "sources with a trusted batch-signing key whose unsigned batches are accepted anyway "
            "(by default their unsigned additions block)",
            expects="a list of non-empty source names",
        ),
    )

    def __init__(self, allowed: list[str]):
        self.allowed = sorted(set(allowed))

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule:
        """Always on; the setting only lists the sources let through."""
        return cls(setting_value(settings, cls.settings[0]))

    def check(self, ctx: GateContext) -> RuleResult:
        """Count unattributed added records whose source signs its batches; block any."""
        import pyarrow as pa
        import pyarrow.compute as pc

        signing = sorted(set(ctx.signing_sources) - set(self.allowed))
        _, unattributed = count_status(ctx, "unattributed")
        added_unattributed = pc.and_(unattributed, added_mask(ctx))
        sources = pc.fill_null(ctx.lineage.column("source"), "")
        mask = pc.and_(added_unattributed, pc.is_in(sources, value_set=pa.array(signing, pa.string())))
        k = int(pc.sum(mask).as_py() or 0)
        if k:
            what = f"added records from unsigned batches of sources that sign their batches ({', '.join(signing)})"
            return bounded_count(self.key, k, 0, what, lineage_records(ctx, mask))
        no_source = int(pc.sum(pc.and_(added_unattributed, pc.equal(sources, ""))).as_py() or 0)
        allowed = f"; allowed unsigned from {', '.join(self.allowed)}" if self.allowed else ""
        return RuleResult(
            self.key,
            "pass",
            f"no unsigned additions from a source with a trusted signing key{allowed}; "
            f"{no_source} added records are unattributed (no source, no signed batch), not blocked by this rule",
            [],
            0,
        )


class UnattributedBesideSigned(SwitchedRule):
    """Block unattributed additions where signed deliveries make them the shape of tampering.

    Whoever can write the data folder between a source and the commit can alter a few
    records of a signed batch: their digests then match no batch, and they count as
    ``unattributed`` rather than as relabeled or changed. The rule blocks the added
    unattributed records when

    * a trusted signed batch this delta draws on (one with records added here, or one
      registered after the base that the base does not hold) is only partly present in
      the new version: the missing records and the unattributed additions are what an
      edit in transit leaves behind; or
    * every record of the base came in a trusted signed batch: the dataset is delivered
      signed, so a record that no source signed has no standing.

    Which batches are trusted and how many records each carries come from envelopes that
    verify under the verifier's pins (``provenance.lineage.evidence``), never from batch
    rows. ``lineage.unattributed_beside_signed = false`` turns the rule off (for a
    maintainer who adds unsigned records of their own to signed deliveries).
    """

    key = "lineage.unattributed_beside_signed"
    settings = (
        Setting(
            "lineage",
            "unattributed_beside_signed",
            BOOLEAN,
            True,
            "block unattributed additions when a signed batch in the delta is only partly present, "
            "or when every base record came in a trusted signed batch",
        ),
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Count added unattributed records; block them when a partial signed batch or a fully signed base is seen."""
        import pyarrow.compute as pc

        _, unattributed = count_status(ctx, "unattributed")
        mask = pc.and_(unattributed, added_mask(ctx))
        k = int(pc.sum(mask).as_py() or 0)
        if not k:
            return RuleResult(self.key, "pass", "no unattributed additions", [], 0, allowed=0, expected="at most 0")
        partial = partial_signed_batches(ctx)
        if partial:
            shown = "; ".join(
                f"batch {b['batch']} of {b['source']}: {b['present']} of {b['signed']} signed records present"
                for b in partial[:3]
            )
            why = f"added records no trusted signed batch carries, beside signed batches only partly present ({shown})"
            return bounded_count(self.key, k, 0, why, lineage_records(ctx, mask))
        if base_fully_attested(ctx):
            why = f"added records no trusted signed batch carries, where every record of {ctx.base} is signed at source"
            return bounded_count(self.key, k, 0, why, lineage_records(ctx, mask))
        return RuleResult(
            self.key,
            "pass",
            f"{k} unattributed additions; every signed batch in the delta is whole and {ctx.base} "
            "has unsigned records, so this rule does not block them",
            [],
            k,
            expected="signed batches whole, or a base with unsigned records",
        )


def partial_signed_batches(ctx: GateContext) -> list[dict]:
    """Trusted signed batches this delta draws on that the new version holds only part of.

    A batch counts when records it signed are added by the delta, or when it was
    registered after the base and the base holds none of its records. Each is
    ``{"batch", "source", "signed": records it signed, "present": of them in the new version}``,
    from envelopes verified under the verifier's pins.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.evidence import batch_records

    lineage = ctx.lineage
    signed_status = pc.is_in(lineage.column("status"), value_set=pa.array(["attested", "relabeled_after_source"]))
    drawn = pc.unique(lineage.filter(pc.and_(signed_status, added_mask(ctx))).column("batch")).to_pylist()
    store = ctx.store
    base_seq = store.db.execute("select audit_seq from versions where tag = ?", [ctx.base]).fetchone()
    later = []
    if base_seq and base_seq[0] is not None:
        rows = store.db.execute("select batch from batches where signed = 1 and audit_seq > ?", [base_seq[0]])
        later = [r[0] for r in rows.fetchall()]
    wanted = {b for b in drawn if b} | set(later)
    if not wanted:
        return []
    records = batch_records(store, wanted)
    records = records.filter(records.column("signed"))
    present = pc.is_in(records.column("digest"), value_set=lineage.column("digest"))
    out = []
    for batch in sorted(set(records.column("batch").to_pylist())):
        rows = pc.equal(records.column("batch"), batch)
        digests = pc.unique(records.filter(rows).column("digest"))
        held = pc.unique(records.filter(pc.and_(rows, present)).column("digest"))
        if batch not in drawn and held_in_base(ctx, digests):
            continue  # delivered before: not this delta's batch
        if len(held) < len(digests):
            source = records.filter(rows).column("source")[0].as_py()
            out.append({"batch": batch, "source": source, "signed": len(digests), "present": len(held)})
    return out


def held_in_base(ctx: GateContext, digests: pa.Array) -> bool:
    """Whether the base version holds any of ``digests``."""
    import pyarrow.compute as pc

    from provenance.version_facts import load_manifest

    base = load_manifest(ctx.store, ctx.store.version(ctx.base))
    return bool(pc.any(pc.is_in(digests, value_set=base.table.column("digest"))).as_py())


def base_fully_attested(ctx: GateContext) -> bool:
    """Whether every record of the base is ``attested`` under the verifier's pins (and there is one)."""
    import pyarrow.compute as pc

    from provenance.lineage.classify import trusted_lineage

    base = trusted_lineage(ctx.store, ctx.base)
    return base.num_rows > 0 and bool(pc.all(pc.equal(base.column("status"), "attested")).as_py())
