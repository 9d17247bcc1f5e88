"""Run the registry's detectors through an executor: one task per detector, or per chunk.

Each task is ``run_detectors`` on one detector, so a task's result (scores, flags,
explanations, a crash reported as an "error" result) is exactly what the serial runner
gives for that detector; results come back in name order, as from ``run_detectors``.

A detector that scores every record on its own (it sets ``record_independent = True``:
its score for a record depends on the profile and that record only) is also split
into chunks of the delta; its chunks' findings are concatenated in delta order. A
detector that looks across the delta (duplicates, volume spikes, a shared gradient
direction) always runs whole, so its results cannot depend on the chunking.

With a Dask executor, detectors must be importable on the workers: built-in ones and
``prov.detectors`` entry points are; ones registered at run time in this process are not.
"""

from __future__ import annotations

from collections.abc import Sequence

from provenance.detectors.base import Delta, DetectorResult, check_compatible
from provenance.detectors.registry import DEFAULT_FPR, available_detectors, get_detector, run_detectors
from provenance.errors import InputError
from provenance.profiles.reference import ReferenceProfile

DEFAULT_CHUNK_RECORDS = 20_000


def run_detectors_parallel(
    profile: ReferenceProfile,
    delta: Delta,
    names: Sequence[str] | None = None,
    fpr: float = DEFAULT_FPR,
    executor=None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
) -> list[DetectorResult]:
    """``run_detectors``, with detectors (and chunks of record-independent ones) run as tasks."""
    if not 0.0 < fpr < 1.0:
        raise InputError(f"the false-positive rate must be between 0 and 1, not {fpr}")
    if chunk_records < 1:
        raise InputError(f"chunk_records must be at least 1, not {chunk_records}")
    check_compatible(profile, delta)
    ordered = sorted(names) if names is not None else available_detectors()
    detectors = [(name, get_detector(name)) for name in ordered]  # unknown names: InputError up front
    if executor is None:
        from provenance.executor import executor_from

        executor = executor_from()
    tasks, owner = [], []
    for name, detector in detectors:
        if getattr(detector, "record_independent", False) and len(delta) > chunk_records:
            for start in range(0, len(delta), chunk_records):
                tasks.append((profile, _slice(delta, start, start + chunk_records), name, fpr))
                owner.append(name)
        else:
            tasks.append((profile, delta, name, fpr))
            owner.append(name)
    pieces = executor.map(_run_one, tasks)
    results = []
    for name, _ in detectors:
        parts = [r for r, o in zip(pieces, owner) if o == name]
        results.append(parts[0] if len(parts) == 1 else _join(name, parts))
    return results


def _run_one(task) -> DetectorResult:
    profile, delta, name, fpr = task
    return run_detectors(profile, delta, [name], fpr)[0]


def _slice(delta: Delta, start: int, end: int) -> Delta:
    return Delta(
        digests=delta.digests[start:end],
        X=delta.X[start:end],
        labels=delta.labels[start:end],
        sources=delta.sources[start:end],
        kinds=delta.kinds[start:end],
        old_labels=delta.old_labels[start:end],
    )


def _join(name: str, parts: list[DetectorResult]) -> DetectorResult:
    """Chunks of one record-independent detector, as one result; any failed chunk fails it."""
    failed = [p for p in parts if p.status != "ok"]
    if failed:
        return DetectorResult(name, "error", failed[0].error, None, [])
    thresholds = {p.threshold for p in parts}
    if len(thresholds) != 1:
        return DetectorResult(
            name,
            "error",
            "RuntimeError: record-independent detector gave chunks different "
            f"thresholds {sorted(t for t in thresholds if t is not None)}",
            None,
            [],
        )
    findings = [f for p in parts for f in p.findings]
    return DetectorResult(name, "ok", None, parts[0].threshold, findings, dict(parts[0].summary))
