"""Store tables for detection: reference profiles, detector runs and their findings."""

from __future__ import annotations


def create(db) -> None:
    """Create this stage's tables (called once, inside `prov init`)."""
    db["profiles"].create(
        {"version": str, "object": str, "featurizer": str, "dim": int, "sample": int}, pk="version"
    )
    db["detector_runs"].create(
        {"run": str, "version": str, "base": str, "detector": str, "status": str, "error": str,
         "threshold": float, "scored": int, "flagged": int, "fpr": float, "created_at": str},
        pk=("run", "detector"),
    )
    db["findings"].create(
        {"run": str, "version": str, "base": str, "detector": str, "position": int, "digest": str,
         "label": str, "score": float, "flagged": int, "explanation": str},
        pk=("run", "detector", "position"),  # position in the delta: one digest may carry two labels
    )
    db["findings"].create_index(["version", "flagged"])
    db["waivers"].create(
        {"object": str, "version": str, "digest": str, "detector": str, "keyid": str, "created_at": str}, pk="object"
    )
    db["attestations"].create(
        {"object": str, "version": str, "base": str, "policy_digest": str, "keyid": str, "created_at": str}, pk="object"
    )
