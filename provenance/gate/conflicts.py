"""The rule on records that trusted sources signed with different labels.

Lineage gives each record the best evidence it has: a trusted signed batch with the same
label wins (``provenance.lineage.classify``). So a source that re-delivers another
source's records with other labels, signed with its own valid key, makes them
``attested`` rather than ``relabeled_after_source``: the relabel is attributed to it and
no lineage rule sees a conflict. This rule looks at every trusted signed batch carrying
each record the delta adds or relabels and counts the records whose signers disagree on
the label (security review, finding 9). Only disagreements between *sources* count: a source
that signs its own record again with another label corrects itself (newcomer review 11, finding
5), which every later release would otherwise block with nothing to clear it; the correction is a
relabel by that source (``relabels.max_relabel_rate_per_source``) and the detectors judge it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Setting
from provenance.gate.results import RuleResult, bounded_count
from provenance.gate.rules import COUNT, CountBound

if TYPE_CHECKING:
    from provenance.gate.context import GateContext


class MaxConflictingSignedLabels(CountBound):
    """At most ``bound`` added or relabeled records that trusted sources signed with different labels."""

    key = "lineage.max_conflicting_signed_labels"
    settings = (
        Setting(
            "lineage",
            "max_conflicting_signed_labels",
            COUNT,
            0,
            "added or relabeled records that trusted sources signed with different labels",
        ),
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Count the delta's records whose trusted signed batches name more than one label; block above the bound.

        Which batches are trusted, and the labels they signed, come from envelopes that
        verify under the verifier's pins (``provenance.lineage.evidence``), never from
        batch rows. Each listed record has ``detail``: ``source signed 'label'`` per signer. The count is of
        records (digests); a record the version holds under two labels is listed once per row.
        """
        conflicts = conflicting_records(ctx)
        what = "added or relabeled records that trusted sources signed with different labels"
        records = len({c["digest"] for c in conflicts})  # a version can hold one record under both labels
        if records != len(conflicts):  # "10 records" for 5 images each held twice (newcomer review 12, #11)
            what += f" ({len(conflicts)} rows: the version holds them under more than one label)"
        return bounded_count(self.key, records, self.bound, what, conflicts)


def conflicting_records(ctx: GateContext) -> list[dict]:
    """The delta's records (added or relabeled) whose trusted signers disagree on the label.

    Each is ``{"digest": hex, "label": the new version's, "source", "detail", "signers"}``, in digest order;
    ``signers`` lists ``{"source", "label"}`` for every trusted source that signed the record (``detail`` in words).
    ``source`` is the source whose signed label the version holds: not necessarily the one in the wrong (attack
    review 15, A15-1), so "To release:" never offers cutting it out for this rule.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    delta = ctx.diff.delta
    digests = np.ascontiguousarray(np.concatenate([delta["added"], delta["relabeled"]]).astype("S32"))
    if not len(digests):
        return []
    wanted = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(digests), [None, pa.py_buffer(digests)])
    records = ctx.signed_batch_records
    records = records.filter(pc.is_in(records.column("digest"), value_set=wanted))
    if not records.num_rows:
        return []
    signers: dict[bytes, set[tuple[str, str]]] = {}
    for digest, label, source in zip(
        records.column("digest").to_pylist(),
        records.column("batch_label").to_pylist(),
        records.column("source").to_pylist(),
    ):
        signers.setdefault(digest, set()).add((source, label))
    disputed = {d: s for d, s in signers.items() if _sources_disagree(s)}
    if not disputed:
        return []
    lineage = ctx.lineage
    keep = pc.is_in(lineage.column("digest"), value_set=pa.array(sorted(disputed), pa.binary(32)))
    part = lineage.filter(keep)
    out = []
    for digest, label, source in zip(
        part.column("digest").to_pylist(), part.column("label").to_pylist(), part.column("source").to_pylist()
    ):
        signed = sorted(disputed[digest])
        detail = ", ".join(f"{s} signed {lab!r}" for s, lab in signed)
        named = [{"source": s, "label": lab} for s, lab in signed]
        out.append({"digest": digest.hex(), "label": label, "source": source, "detail": detail, "signers": named})
    return sorted(out, key=lambda r: r["digest"])


def _sources_disagree(signed: set[tuple[str, str]]) -> bool:
    """Whether two different sources signed the record with different labels (one source's own labels,
    an earlier and a corrected one, do not dispute each other)."""
    return any(s1 != s2 and l1 != l2 for s1, l1 in signed for s2, l2 in signed)
