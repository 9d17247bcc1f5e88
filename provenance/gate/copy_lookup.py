"""Where the check looked up relabelled near copies of base records (``detectors.extreme``'s ``copy_index``).

A relabelled near copy of a base record is found among every base record where the base's profile keeps a copy
index (``profiles.copy_index``), else among its sample only. A base past the index's cap, a file tree, or a version
committed before the index keeps none, and the check said nothing of it: copies of records outside the sample went
unseen in silence (attack review 33d, A33d-4). The rule's statistic and reason now say which, with the reason the
base's signed statement gives (``predicate.profile.copyIndex.reason``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.detectors.pipeline import Detection
    from provenance.gate.context import GateContext

NO_FACTS = "the base was committed before prov kept a copy index; commit its data again as a new version to get one"


def copy_lookup(ctx: GateContext, detection: Detection) -> dict | None:
    """``{"index": bool, "records": int, "radius": float | None, "alpha": float | None, "reason": str | None}``:
    whether the copy index was searched, among how many base records (the index's, else the sample's), within what
    radius (standardised units; None without the index), the ``extreme_alpha`` that radius is the bar of (the
    policy's: A34a-1; None without the index), and, when the base holds records its sample misses and keeps no index, why (the signed
    reason). None when the ``collision`` detector did not run. Raises ``VerificationError`` when the base's statement
    does not verify (read only then)."""
    result = next((r for r in detection.results if r.detector == "collision" and r.status == "ran"), None)
    if result is None or "not_applicable" in result.summary:
        return None
    summary = result.summary
    if "copy_index_records" in summary:
        radius, alpha = float(summary["copy_search_radius"]), float(summary["copy_search_alpha"])
        records = int(summary["copy_index_records"])
        return {"index": True, "records": records, "radius": radius, "alpha": alpha, "reason": None}
    records = int(summary.get("sample_records", 0))
    out: dict = {"index": False, "records": records, "radius": None, "alpha": None, "reason": None}
    if summary.get("copies_among_sample_only"):
        from provenance.version_facts import verified_statement

        facts = verified_statement(ctx.store, ctx.store.version(ctx.base))["predicate"].get("profile") or {}
        out["reason"] = str((facts.get("copyIndex") or {}).get("reason") or NO_FACTS)
    return out


def copy_lookup_words(lookup: dict | None) -> str:
    """The words ``detectors.extreme``'s reason adds when near copies were looked up among the sample only:
    ``; relabelled near copies were looked up among the base's 8,000 sampled records only, no copy index (...)``."""
    if lookup is None or lookup["reason"] is None:
        return ""
    return (
        f"; relabelled near copies of base records were looked up among its {lookup['records']:,} sampled records "
        f"only, not the whole base: no copy index ({lookup['reason']})"
    )
