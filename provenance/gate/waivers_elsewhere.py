"""Waivers of other versions that name a record flagged on this one: said, never honoured.

A waiver signs one version's name and Merkle root and counts only there (``waiver_judging``). A
reviewer who waived records on txt-v3, then cut the rest out with ``prov quarantine --from txt-v3
--findings``, saw the waived records flagged again on the quarantine's check with no word of the
waivers (newcomer review 12, finding 11), and ``prov check`` listed no stored waiver of another version
at all (README statement 5). Each honoured waiver of another version (judged as ``prov check`` judges
its own: signature under the ``waive`` role, audit entry under a trusted signature) that names a record
flagged here is reported: the record is marked ``waived_on`` that version, and the waiver is listed as
ignored with why. Other versions' waivers that name nothing flagged here are not listed.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError, VerificationError

if TYPE_CHECKING:
    from provenance.store.store import Store
    from provenance.trust.roles import RoleKeys

COMBINED = "combined"


def mark_waived_elsewhere(
    store: Store, version: str, findings: list[dict], role: RoleKeys, signed_entries: int | None
) -> list[dict[str, Any]]:
    """Set ``waived_on`` (sorted version names, or absent) on each of ``findings`` that an honoured waiver of
    another version names (same digest; its label when it names one; ``combined`` or a detector that flagged
    the record), and return those waivers as ignored-waiver facts with ``why``.

    ``findings``: flagged records with ``digest``, ``label`` and ``detectors`` (``[{"detector", "flagged"}]``).
    A waiver of a version that no longer verifies, or names none, is left out (it vouches for nothing).
    """
    from provenance.gate.waiver_judging import judge_waivers

    by_digest: dict[str, list[dict]] = {}
    for f in findings:
        by_digest.setdefault(str(f.get("digest")), []).append(f)
    if not by_digest:
        return []
    rows = store.db.execute("select distinct version, digest from waivers where version != ?", [version]).fetchall()
    tags = sorted({str(tag) for tag, digest in rows if str(digest) in by_digest})
    ignored: list[dict[str, Any]] = []
    for tag in tags:
        try:
            honoured = judge_waivers(store, tag, (), role, signed_entries).report["honoured"]
        except (InputError, VerificationError):
            continue
        for w in honoured:
            hits = [f for f in by_digest.get(w["digest"], []) if _takes_out(w, f)]
            for f in hits:
                f["waived_on"] = sorted({*f.get("waived_on", ()), tag})
            if hits:
                why = (
                    f"waives a finding of version {tag!r}, not {version!r}, and a waiver counts only for the version "
                    f"it names: the record is flagged here again; if it is still accepted, waive it on {version} "
                    f"(prov waive {w['digest'][:12]} --version {shlex.quote(version)} --detector {shlex.quote(w['detector'])} ...)"
                )
                ignored.append(dict(w) | {"origin": f"{w['origin']} of {tag}", "why": why})
    return ignored


def _takes_out(waiver: dict, finding: dict) -> bool:
    """Whether ``waiver`` would take ``finding`` out on its own version: its row (a label it names) and a detector
    that flagged the record, or the combined verdict."""
    if waiver.get("label") is not None and waiver["label"] != finding.get("label"):
        return False
    flagging = {d.get("detector") for d in finding.get("detectors") or [] if d.get("flagged")}
    return waiver["detector"] == COMBINED or waiver["detector"] in flagging
