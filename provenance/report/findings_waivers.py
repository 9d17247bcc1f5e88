"""Which records of a stored detector run a reviewer has already waived (``prov findings V``).

A reviewer works through ``prov findings V`` to decide what to waive; without a mark they
could not tell the records already waived from the rest (newcomer review 9, finding 4).
The waivers are judged as ``prov check`` judges them: each stored waiver of ``V``
verified against the ``waive`` role of the verifier's pins (the store's keys when nothing
is pinned), a waiver whose audit entry no trusted signature covers is pending and marks
nothing, and a waiver takes a record out only when it names ``combined`` or a detector that
flagged it on its own (``gate.detection.flagged_records``).
"""

from __future__ import annotations

from provenance.store import Store


def mark_waived(store: Store, version: str, findings: list[dict]) -> None:
    """Set each finding's ``waived``: None, or ``{"waiver", "detector", "reason", "reviewer"}`` of the first
    honoured waiver of ``version`` that takes it out (``schemas/findings.schema.json``); and on a flagged one
    no waiver of ``version`` takes out, ``waived_on``: the other versions whose honoured waivers name it
    (``gate.waivers_elsewhere``: said, never honoured; a waiver counts only for the version it names)."""
    for f in findings:
        f["waived"] = None
    if not findings or not store.db.execute("select 1 from waivers limit 1").fetchone():
        return
    from provenance.gate.detection import COMBINED
    from provenance.gate.waivers import judge_waivers
    from provenance.gate.waivers_elsewhere import mark_waived_elsewhere
    from provenance.report.flagged import detector_entries, detector_flagged
    from provenance.store.coverage import coverage
    from provenance.trust.pins import pins_of
    from provenance.trust.roles import WAIVE

    pins = pins_of(store)
    trusted = pins.maintainer_keys(store)
    signed = coverage(store, store.trusted_keys() if trusted is None else trusted).signed
    role = pins.role_keys(WAIVE, store)
    honoured = judge_waivers(store, version, (), role, signed).report["honoured"]
    for f in findings:
        flagging = {d["detector"] for d in detector_entries(f) if detector_flagged(d)}
        for w in honoured:
            label = w.get("label")  # a waiver that names a label waives that (digest, label) row only
            if w["digest"] != f["digest"] or (label is not None and label != f.get("label")):
                continue
            if w["detector"] == COMBINED or w["detector"] in flagging:
                f["waived"] = {
                    "waiver": w["origin"],
                    "detector": w["detector"],
                    "reason": w.get("reason"),
                    "reviewer": w.get("reviewer"),
                }
                break
    flagged = [f for f in findings if f.get("flagged", True) and f["waived"] is None]
    mark_waived_elsewhere(store, version, flagged, role, signed)
