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

A record counts as held beyond signed only when (attack review 32c):

- its flag rests on its copies: the ``duplicates`` detector flags it, and no other detector's evidence would block it
  alone (:func:`flagged_on_copies`). A thief with the source's key who signs 70 records a thousandfold beyond the base and delivers the
  batch twice has them flagged by ``outlier`` on their content, which is exactly what the key signed: the key step
  stays (A32c-2);
- the rows the version *adds* of it (held minus the base's own rows) exceed the rows the source's signed batches
  hold: the base's rows were never in the batch, so a signed flood of 20 copies of each of 70 base records is as the
  key signed it, not the version maker's doing (A32c-5).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.detectors.combine import RecordVerdict
    from provenance.detectors.pipeline import Detection
    from provenance.gate.context import GateContext

KEY = "signed_copies"  # the statistic a blocking detector rule carries: {source: {"flagged_signed", "held_beyond_signed"}}
COPY_EVIDENCE = frozenset({"duplicates"})  # the detectors whose evidence is a record's copies, not its content


def flagged_beyond_signed(ctx: GateContext, detection: Detection, extreme_threshold: float | None) -> dict[str, dict]:
    """``{source: {"flagged_signed": n, "held_beyond_signed": m}}``: of the delta's records the combined verdict
    flags (or whose extreme p-value is at most ``extreme_threshold``), the ``n`` a verified signed batch of
    ``source`` carries under the record's label, and the ``m`` of them flagged on their copies alone
    (:func:`flagged_on_copies`) that the new version adds in more rows than ``source``'s signed batches hold
    together (its rows in the new version minus the base's). Sources by name; empty when no flagged record is
    signed."""
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
        if rows.extra_copies:
            base_rows = int(rows.base_copies[i])
            added = max(base_rows, 1) + int(rows.extra_copies[i]) - base_rows
        else:
            added = 1
        on_copies = flagged_on_copies(verdicts[i], extreme_threshold)
        for source, n in by_record.get((bytes(rows.digests[i]), str(rows.labels[i])), {}).items():
            counts = out.setdefault(source, {"flagged_signed": 0, "held_beyond_signed": 0})
            counts["flagged_signed"] += 1
            counts["held_beyond_signed"] += on_copies and added > n
    return dict(sorted(out.items()))


def flagged_on_copies(verdict: RecordVerdict, extreme_threshold: float | None) -> bool:
    """Whether ``verdict``'s flag rests on the record's copies: a ``COPY_EVIDENCE`` detector flags it alone (or gives
    it an extreme p-value at most ``extreme_threshold``), and no other detector's evidence would block it on its own:
    none gives it an extreme p-value at most ``extreme_threshold`` (with none, none flags it alone). A detector
    flagging a record alone at the FPR is what 1 in 100 clean records get; an extreme p-value is not."""
    alone = {d["detector"] for d in verdict.detectors if d.get("flagged")}
    extreme = set()
    if extreme_threshold is not None:
        extreme = {name for name, p in verdict.extreme_by.items() if p <= extreme_threshold}
    content = (extreme if extreme_threshold is not None else alone) - COPY_EVIDENCE
    return bool((alone | extreme) & COPY_EVIDENCE) and not content
