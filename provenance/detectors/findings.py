"""Findings of detector runs: stored per run in the store, read back for ``prov findings``."""

from __future__ import annotations

import secrets

from provenance import clock
from provenance.detectors.base import DetectorResult


def save_findings(
    store, base: str, new: str, results: list[DetectorResult], fpr: float, labels: list[str] | None = None
) -> str:
    now = clock.now_iso()
    run = secrets.token_hex(8)  # two runs in the same second are still two runs
    with store.write():
        for r in results:
            store.db["detector_runs"].insert(
                {
                    "run": run,
                    "version": new,
                    "base": base,
                    "detector": r.detector,
                    "status": r.status,
                    "error": r.error,
                    "threshold": r.threshold,
                    "scored": len(r.findings),
                    "flagged": len(r.flagged),
                    "fpr": fpr,
                    "created_at": now,
                }
            )
            store.db["findings"].insert_all(
                [
                    {
                        "run": run,
                        "version": new,
                        "base": base,
                        "detector": f.detector,
                        "position": i,
                        "digest": f.digest,
                        "label": labels[i] if labels else None,
                        "score": float(f.score),
                        "flagged": int(f.flagged),
                        "explanation": f.explanation,
                    }
                    for i, f in enumerate(r.findings)
                ],
                batch_size=1000,
            )
        store.audit(
            "detect",
            new,
            {
                "base": base,
                "run": run,
                "fpr": fpr,
                "detectors": {r.detector: r.status for r in results},
                "flagged": sum(len(r.flagged) for r in results),
            },
        )
    return run


def stored_findings(store, version: str, flagged_only: bool = True) -> dict:
    """The latest detector run of ``version``: per-detector status and its findings."""
    store.version(version)
    row = store.db.execute(
        "select run, base from detector_runs where version = ? order by created_at desc, rowid desc limit 1", [version]
    ).fetchone()
    if row is None:
        return {"version": version, "run": None, "base": None, "detectors": [], "findings": []}
    run, base = row
    detectors = list(store.db["detector_runs"].rows_where("run = ?", [run], order_by="detector"))
    where = "run = ?" + (" and flagged = 1" if flagged_only else "")
    findings = [
        dict(f, flagged=bool(f["flagged"]))
        for f in store.db["findings"].rows_where(where, [run], order_by="score desc")
    ]
    return {"version": version, "run": run, "base": base, "detectors": detectors, "findings": findings}
