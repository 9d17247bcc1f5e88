"""Findings of detector runs: stored per run in the store, read back for ``prov findings``.

A run stores one row per detector in ``detector_runs`` (its status: "ran" means it ran,
"error" means it crashed) plus the combined verdict as the row of detector
``combined``; ``findings`` holds, per scored record, the combined verdict (detector
``combined``) and each detector's own score and flag. ``stored_findings`` puts them
back together as one finding per record: ``digest``, ``flagged``, ``score``,
``explanation`` and ``detectors`` (each detector's name, score and own flag).
"""

from __future__ import annotations

import secrets

from provenance import clock
from provenance.detectors.base import DetectorResult
from provenance.detectors.combine import Verdicts

COMBINED = "combined"


def save_findings(
    store,
    base: str,
    new: str,
    results: list[DetectorResult],
    fpr: float,
    labels: list[str] | None = None,
    verdicts: Verdicts | None = None,
) -> str:
    """Store one run: per-detector statuses, the combined verdicts, per-detector scores."""
    now = clock.now_iso()
    run = secrets.token_hex(8)  # two runs in the same second are still two runs
    rows = [
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
        for r in results
    ]
    if verdicts is not None:
        rows.append(
            {
                "run": run,
                "version": new,
                "base": base,
                "detector": COMBINED,
                "status": "ran",
                "error": None,
                "threshold": 1.0 - fpr,
                "scored": len(verdicts.records),
                "flagged": len(verdicts.flagged),
                "fpr": fpr,
                "created_at": now,
            }
        )
    with store.write():
        store.db["detector_runs"].insert_all(rows)
        for r in results:
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
        if verdicts is not None:
            store.db["findings"].insert_all(
                [
                    {
                        "run": run,
                        "version": new,
                        "base": base,
                        "detector": COMBINED,
                        "position": i,
                        "digest": v.digest,
                        "label": labels[i] if labels else None,
                        "score": float(v.score),
                        "flagged": int(v.flagged),
                        "explanation": v.explanation,
                    }
                    for i, v in enumerate(verdicts.records)
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
                "flagged": len(verdicts.flagged) if verdicts is not None else sum(len(r.flagged) for r in results),
            },
        )
    return run


def stored_findings(store, version: str, flagged_only: bool = True) -> dict:
    """The latest detector run of ``version``: per-detector status and one finding per record.

    Returns {"version", "run", "base", "detectors": [one row per detector, and the
    ``combined`` row], "findings": [{"digest", "label", "flagged", "score",
    "explanation", "detectors": [{"detector", "score", "flagged"}]}]}, worst first;
    with ``flagged_only`` only records the combined verdict flags.
    """
    store.version(version)
    row = store.db.execute(
        "select run, base from detector_runs where version = ? order by created_at desc, rowid desc limit 1", [version]
    ).fetchone()
    if row is None:
        return {"version": version, "run": None, "base": None, "detectors": [], "findings": []}
    run, base = row
    detectors = list(store.db["detector_runs"].rows_where("run = ?", [run], order_by="detector"))
    for d in detectors:  # runs stored before "ran" replaced "ok" (which meant only that it ran)
        d["status"] = "ran" if d["status"] == "ok" else d["status"]
    where = "run = ? and detector = ?" + (" and flagged = 1" if flagged_only else "")
    combined = list(store.db["findings"].rows_where(where, [run, COMBINED], order_by="score desc, position"))
    per_detector: dict[int, list[dict]] = {}
    positions = [f["position"] for f in combined]
    for start in range(0, len(positions), 500):
        chunk = positions[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for f in store.db.execute(
            f"select position, detector, score, flagged from findings where run = ? and detector != ? "
            f"and position in ({marks}) order by detector",
            [run, COMBINED, *chunk],
        ):
            per_detector.setdefault(f[0], []).append({"detector": f[1], "score": f[2], "flagged": bool(f[3])})
    findings = [
        {
            "digest": f["digest"],
            "label": f["label"],
            "flagged": bool(f["flagged"]),
            "score": f["score"],
            "explanation": f["explanation"],
            "detectors": per_detector.get(f["position"], []),
        }
        for f in combined
    ]
    return {"version": version, "run": run, "base": base, "detectors": detectors, "findings": findings}
