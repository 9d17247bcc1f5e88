"""How many of a check's flagged records are held more times than the sources that signed them signed them.

A detector block on records a trusted source signed offered "if S's key may be stolen, cut S out" (its signed
records are what is flagged). When whoever made the version repeated S's signed records (S signed each once, the
version holds each four times: ``copies.max_copies_rate`` and the detectors block on the copies), nothing S signed
changed, and the step pointed at an honest source's key (attack review 31d, A31d-6). So the check counts, per
signing source, its flagged signed records and those of them the version holds beyond the rows its signed batches
hold: ``report.next_steps`` offers the distrust step only when most are as the source signed them, and otherwise
points at whoever added the copies. Every count is recomputed: the version's rows from both verified manifests
(the diff's delta rows), the signed rows from the batches whose envelopes verify under the verifier's pins
(``GateContext.signed_batch_records``).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.detectors.pipeline import Detection
    from provenance.gate.context import GateContext

KEY = "signed_copies"  # the statistic a blocking detector rule carries: {source: {"flagged_signed", "held_beyond_signed"}}


def flagged_beyond_signed(ctx: GateContext, detection: Detection, extreme_threshold: float | None) -> dict[str, dict]:
    """``{source: {"flagged_signed": n, "held_beyond_signed": m}}``: of the delta's records the combined verdict
    flags (or whose extreme p-value is at most ``extreme_threshold``), the ``n`` a verified signed batch of
    ``source`` carries under the record's label, and the ``m`` of them the new version holds in more rows than
    ``source``'s signed batches hold together. Sources by name; empty when no flagged record is signed."""
    rows = ctx.delta_rows
    verdicts = detection.verdicts.records
    flagged = [
        i
        for i, v in enumerate(verdicts)
        if v.flagged or (extreme_threshold is not None and v.extreme_p is not None and v.extreme_p <= extreme_threshold)
    ]
    if not flagged or not rows.digests:
        return {}
    signed = ctx.signed_batch_records
    signed_rows = Counter(
        zip(
            (bytes(d) for d in signed.column("digest").to_pylist()),
            signed.column("batch_label").to_pylist(),
            signed.column("source").to_pylist(),
        )
    )
    by_record: dict[tuple[bytes, str], dict[str, int]] = {}
    for (digest, label, source), n in signed_rows.items():
        by_record.setdefault((digest, str(label)), {})[str(source)] = n
    out: dict[str, dict] = {}
    for i in flagged:
        if i >= len(rows.digests):
            continue
        held = max(int(rows.base_copies[i]), 1) + int(rows.extra_copies[i]) if rows.extra_copies else 1
        for source, n in by_record.get((bytes(rows.digests[i]), str(rows.labels[i])), {}).items():
            counts = out.setdefault(source, {"flagged_signed": 0, "held_beyond_signed": 0})
            counts["flagged_signed"] += 1
            counts["held_beyond_signed"] += held > n
    return dict(sorted(out.items()))
