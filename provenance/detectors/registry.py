"""Detectors by name, and the runner that never skips one in silence.

Unlike a runner that swallows a crashing detector, ``run_detectors`` reports it as a
result with status "error" and the message, and still runs the others; a gate can then
fail closed (exit 3).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from importlib import metadata
from numbers import Real

from provenance.detectors.base import ColumnFindings, Delta, Detector, DetectorResult, Finding, check_compatible
from provenance.detectors.collision import CollisionDetector
from provenance.detectors.drift import remove_shift
from provenance.detectors.duplicates import DuplicatesDetector, copy_radii, delta_pass_radii
from provenance.detectors.gradient import GradientDetector
from provenance.detectors.knn_label import KnnLabelDetector
from provenance.detectors.outlier import OutlierDetector
from provenance.detectors.shared import both_passes_at_once
from provenance.detectors.spectral import SpectralDetector
from provenance.detectors.volume import VolumeSpikeDetector
from provenance.errors import InputError
from provenance.profiles.reference import ReferenceProfile

ENTRY_POINT_GROUP = "prov.detectors"
DEFAULT_FPR = 0.01

_detectors: dict[str, Callable[[], Detector]] = {
    cls.name: cls
    for cls in (
        KnnLabelDetector,
        OutlierDetector,
        DuplicatesDetector,
        VolumeSpikeDetector,
        SpectralDetector,
        CollisionDetector,
        GradientDetector,
    )
}


def register_detector(name: str, factory: Callable[[], Detector], *, replace: bool = False) -> None:
    """Make ``factory()`` the detector named ``name``.

    Raises:
        InputError: ``name`` is taken and ``replace`` is false.
    """
    if name in _detectors and not replace:
        raise InputError(f"a detector named {name!r} is already registered; pass replace=True")
    _detectors[name] = factory


def available_detectors() -> list[str]:
    """Names of the built-in, registered and ``prov.detectors`` entry-point detectors, sorted."""
    plugins = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(set(_detectors) | plugins)


def get_detector(name: str) -> Detector:
    """A new instance of the detector named ``name`` (built in, registered, or an entry point).

    Raises:
        InputError: no detector has that name.
    """
    factory = _detectors.get(name)
    if factory is None:
        plugins = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
        if name not in plugins:
            raise InputError(f"unknown detector {name!r}; known: {', '.join(available_detectors())}")
        factory = plugins[name].load()
    return factory()


def run_detectors(
    profile: ReferenceProfile,
    delta: Delta,
    names: Sequence[str] | None = None,
    fpr: float = DEFAULT_FPR,
) -> list[DetectorResult]:
    """Run the named detectors (default: all) on the delta, in name order.

    Raises FeatureError before running anything if the delta does not fit the profile
    (that is the user's input to fix); a detector that crashes gives an "error" result.
    A batch whose mean moved beyond the base's own batches is scored without the shift its
    classes share (``detectors.drift.remove_shift``).
    """
    if not 0.0 < fpr < 1.0:
        raise InputError(f"the false-positive rate must be between 0 and 1, not {fpr}")
    check_compatible(profile, delta)
    detectors = []
    for name in sorted(names) if names is not None else available_detectors():
        detectors.append((name, get_detector(name)))  # unknown names: InputError up front
    try:  # a batch that moved as a whole is scored without its shared shift (detectors.drift)
        remove_shift(profile, delta)
    except Exception:  # scored as delivered; batch_drift raises it again, and the gate errors on it
        pass
    if any(name == "duplicates" for name, _ in detectors):  # it needs both neighbour passes: run them together
        _both_passes(profile, delta, fpr)
    results = []
    for name, detector in detectors:
        try:
            result = detector.run(profile, delta, fpr)
            if result.status == "ok":  # a plug-in written when "ok" meant "it ran"
                result.status = "ran"
            _check_result(result, delta)
        except Exception as exc:  # reported, never skipped: the gate fails closed on it
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            location = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
            result = DetectorResult(name, "error", f"{type(exc).__name__}: {exc}{location}", None, [])
        results.append(result)
    return results


def _both_passes(profile: ReferenceProfile, delta: Delta, fpr: float) -> None:
    """``shared.both_passes_at_once`` at the radii the duplicates detector asks for; a failure here is the
    detectors' to report (each computes what it needs again), never this step's."""
    try:
        _, radii, tight, density = copy_radii(profile, len(delta), fpr)
    except Exception:
        return
    both_passes_at_once(profile, delta, delta_pass_radii(radii, tight, density))


def _check_result(result: DetectorResult, delta: Delta) -> None:
    """A detector must score every record once, with a number in [0, 1]; anything else is its bug.

    A score that is not a number (a string, None) is that bug too, not a number to make of it (attack
    review 25c, F3): the scores a built-in's columns hold are floats it computed, so only the findings a
    run set or changed itself are looked at (every finding of a plain list)."""
    findings = result.findings
    if len(findings) != len(delta):
        raise RuntimeError(f"returned {len(findings)} findings for {len(delta)} records")
    own = findings.changed() if isinstance(findings, ColumnFindings) else findings
    not_numbers = [_named(f) for f in own if not isinstance(f.score, Real)]
    if not_numbers:
        raise RuntimeError(f"returned scores that are not numbers for records {', '.join(not_numbers[:5])}")
    scores, _ = result.columns(again=True)  # read once now the run is over (a finding made only to name a bad one)
    bad = [_named(findings[i]) for i, score in enumerate(scores) if not 0.0 <= score <= 1.0]
    if bad:
        raise RuntimeError(f"returned scores outside [0, 1] for records {', '.join(bad[:5])}")


def _named(finding: Finding) -> str:
    """A finding's record as an error names it: the first 12 characters of its digest."""
    return str(finding.digest)[:12]
