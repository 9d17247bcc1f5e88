"""The rule against a silent downgrade: no unsigned additions from a source that signs its batches.

A source with a trusted batch-signing key delivers signed batches. An unsigned batch
from it (``prov add --unsigned``, or a batch whose envelope went missing on the way) is
the shape a tampered delivery takes once its signature is stripped, so the default
policy blocks the records it adds. ``lineage.allow_unsigned_from`` lists sources whose
unsigned batches are accepted all the same. Records from no source and no signed batch
stay "unattributed": this rule does not block them (``lineage.max_unsigned_additions``
does, when set) and its report says how many there are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Rule, Setting, Settings
from provenance.gate.results import RuleResult, bounded_count
from provenance.gate.rules import added_mask, count_status, lineage_records, setting_value

if TYPE_CHECKING:
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
