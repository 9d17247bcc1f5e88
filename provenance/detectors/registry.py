"""Detectors by name, and the runner that never skips one in silence.

Unlike a runner that swallows a crashing detector, ``run_detectors`` reports it as a
result with status "error" and the message, and still runs the others; a gate can then
fail closed (exit 3).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from fractions import Fraction
from importlib import metadata

import numpy as np

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

BUILT_IN_DETECTORS: tuple[type[Detector], ...] = (
    KnnLabelDetector,
    OutlierDetector,
    DuplicatesDetector,
    VolumeSpikeDetector,
    SpectralDetector,
    CollisionDetector,
    GradientDetector,
)

_detectors: dict[str, Callable[[], Detector]] = {cls.name: cls for cls in BUILT_IN_DETECTORS}


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
    return _factory(name)()


def _factory(name: str) -> Callable[[], Detector]:
    """What makes the detector named ``name``: its registration, else its entry point (loaded)."""
    factory = _detectors.get(name)
    if factory is None:
        plugins = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
        if name not in plugins:
            raise InputError(f"unknown detector {name!r}; known: {', '.join(available_detectors())}")
        factory = plugins[name].load()
    return factory


def is_built_in(name: str, factory: Callable[[], Detector], detector: Detector) -> bool:
    """Whether ``detector`` (made by ``factory``, registered as ``name``) is provenance's own: the registered
    factory is the built-in class of that name itself, the instance is exactly of it and has no ``run`` of its
    own. Decided from the registration, never from what the detector returns (attack review 27a, R27a-2: a
    result may keep a mark it is given False, and a factory may return a built-in's instance with another run).
    """
    return (
        any(factory is cls for cls in BUILT_IN_DETECTORS)  # identity: a class may say it equals any (A27d-1)
        and getattr(factory, "name", None) == name
        and type(detector) is factory
        and "run" not in vars(detector)
    )


def run_detectors(
    profile: ReferenceProfile,
    delta: Delta,
    names: Sequence[str] | None = None,
    fpr: float = DEFAULT_FPR,
) -> list[DetectorResult]:
    """Run the named detectors (default: all) on the delta, in name order.

    Raises FeatureError before running anything if the delta does not fit the profile
    (that is the user's input to fix); a detector that crashes gives an "error" result.
    Each result is the runner's own (``_own_result``: what the detector returned, read once and checked);
    its ``plug_in`` says whether the detector is other than provenance's own (``is_built_in``, from the
    registration).
    A batch whose mean moved beyond the base's own batches is scored without the shift its
    classes share (``detectors.drift.remove_shift``).
    """
    if not 0.0 < fpr < 1.0:
        raise InputError(f"the false-positive rate must be between 0 and 1, not {fpr}")
    check_compatible(profile, delta)
    detectors = []
    for name in sorted(names) if names is not None else available_detectors():
        factory = _factory(name)  # unknown names: InputError up front
        detector = factory()
        detectors.append((name, detector, is_built_in(name, factory, detector)))
    try:  # a batch that moved as a whole is scored without its shared shift (detectors.drift)
        remove_shift(profile, delta)
    except Exception:  # scored as delivered; batch_drift raises it again, and the gate errors on it
        pass
    if any(name == "duplicates" for name, _, _ in detectors):  # it needs both neighbour passes: run them together
        _both_passes(profile, delta, fpr)
    results = []
    for name, detector, built_in in detectors:
        try:
            result = _own_result(detector.run(profile, delta, fpr), name, built_in)
            _check_result(result, delta, len(profile.sample_batches))
        except Exception as exc:  # reported, never skipped: the gate fails closed on it
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            location = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
            result = DetectorResult(name, "error", f"{type(exc).__name__}: {exc}{location}", None, [])
            result.plug_in = not built_in
        results.append(result)
    return results


ARRAYS = ("p_values", "reference_p", "reference_raw", "extreme_p", "extreme_p_rule_off")


def _own_result(returned: DetectorResult, name: str, built_in: bool) -> DetectorResult:
    """The runner's own ``DetectorResult`` of what a detector returned: what is checked, stored and combined.

    Attack review 27a (R27a-2, R27a-3, R27a-5): the combined verdict and the gate read a result after the
    runner's check, so reading the detector's own object again let a plug-in's result answer differently then
    (a property whose ``extreme_p`` turns NaN, a ``plug_in`` that stays False, a name that equals any). Each
    field is read once here: every array copied as a float64 numpy array (``_check_result`` checks the copy),
    the name must be a plain ``str`` equal to the registered one and is that one, the status a plain ``str``,
    the flags ``bool``; ``plug_in`` is the registration's (``is_built_in``). A built-in's ``ColumnFindings`` is
    passed on as its code made it; any other findings (a plug-in's whatever their type, its own
    ``ColumnFindings`` too, or a built-in's list) become a new list of plain ``Finding``s, each field read once
    (``_plain_finding``; attack review 27d, A27d-2 and A27d-5), so what is checked is what is combined."""
    detector, status = returned.detector, returned.status
    # the gate reads each detector's result by name: one must not answer for another's crash
    if type(detector) is not str or detector != name:
        raise RuntimeError(f"returned a result named {str(detector)[:40]!r}, not {name!r}")
    if type(status) is str and status == "error":  # its own report of a failure: still the gate's error
        raise RuntimeError(f"reported an error: {str(returned.error)[:200]}")
    if type(status) is not str or status not in ("ran", "ok"):  # "ok": a plug-in written when it meant "it ran"
        raise RuntimeError(f"returned status {str(status)[:40]!r}, not 'ran'")
    findings = returned.findings
    if not built_in or type(findings) is not ColumnFindings:
        # a plug-in's findings, whatever their type (its own ColumnFindings too, whose changed() is empty: A27d-5),
        # become plain Findings of the values read once (a Finding whose properties change after the check
        # counted flags the combined verdict never saw: A27d-2); _check_result checks those values' types
        findings = [_plain_finding(f, name) for f in findings]
    threshold, summary = returned.threshold, returned.summary
    if not built_in:  # a plug-in's (A27d-3); a built-in's are its own code's, passed on as it gives them
        if threshold is not None and not (_is_score(threshold) and np.isfinite(float(threshold))):
            raise RuntimeError(f"returned a threshold that is not a finite number ({type(threshold).__name__})")
        if type(summary) is not dict:
            raise RuntimeError(f"returned a summary that is not a dict ({type(summary).__name__})")
        threshold, summary = None if threshold is None else float(threshold), dict(summary)
    arrays = {}
    for field_name in ARRAYS:
        values = getattr(returned, field_name)
        if values is None:
            arrays[field_name] = None
            continue
        try:
            arrays[field_name] = np.array(values, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise RuntimeError(f"returned {field_name} that are not numbers ({exc})") from None
    result = DetectorResult(
        str(name),
        "ran",
        None,
        threshold,
        findings,
        summary,
        extreme_is_label_based=bool(returned.extreme_is_label_based),
        extreme_is_rule=bool(returned.extreme_is_rule),
        # provenance's own detectors only: a plug-in's evidence takes an equal share of what they leave
        extreme_share=extreme_share_of(returned) if built_in else None,
        **arrays,
    )
    result.plug_in = not built_in
    return result


def _plain_finding(finding: Finding, name: str) -> Finding:
    """A plain ``Finding`` of one read of each field of ``finding`` (a plug-in's), named ``name``; its digest and
    explanation must be plain ``str`` (the score's and flag's types are ``_check_result``'s to judge)."""
    digest, score, flagged, explanation = finding.digest, finding.score, finding.flagged, finding.explanation
    if type(digest) is not str or type(explanation) is not str:
        raise RuntimeError(
            f"returned a finding whose digest or explanation is not a plain str ({type(digest).__name__}, "
            f"{type(explanation).__name__})"
        )
    return Finding(digest, name, score, flagged, explanation)


def _both_passes(profile: ReferenceProfile, delta: Delta, fpr: float) -> None:
    """``shared.both_passes_at_once`` at the radii the duplicates detector asks for; a failure here is the
    detectors' to report (each computes what it needs again), never this step's."""
    try:
        _, radii, tight, density = copy_radii(profile, len(delta), fpr)
    except Exception:
        return
    both_passes_at_once(profile, delta, delta_pass_radii(radii, tight, density))


def _check_result(result: DetectorResult, delta: Delta, reference_size: int | None = None) -> None:
    """A detector must score every record once, in delta order, with a number in [0, 1] and a bool flag, and
    give p-values the combined verdict can read; anything else is its bug.

    Finding i must be record ``delta.hex(i)`` (attack review 26f, R26f-1): the combined verdict, each record's
    detectors list and the stored findings read every detector's findings by position, so a plug-in that sorts
    its findings would name clean records flagged and poisoned ones passed. A score that is not a number (a
    string, None, a Decimal, a float subclass whose ``float()`` may lie) is that bug too, not a number to make
    of it (attack review 25c, F3; 26f, R26f-4): the scores a built-in's columns hold are floats it computed, so
    only the findings its run set or changed itself are looked at (every finding of a list: a plug-in's findings
    are always one, ``_own_result``), and only
    numbers of exact types (``SCORE_TYPES``, numpy floats and ints) pass; a flag must be a bool (a text
    "false" is truthy). The p-values are checked as ``_check_p_values`` says (R26f-2, R26f-3)."""
    findings = result.findings
    if len(findings) != len(delta):
        raise RuntimeError(f"returned {len(findings)} findings for {len(delta)} records")
    if result.digests() != delta.hexes:
        at = next(i for i, d in enumerate(result.digests()) if d != delta.hex(i))
        raise RuntimeError(
            f"returned its findings out of delta order: finding {at} is record {str(findings[at].digest)[:12]}, "
            f"not {delta.hex(at)[:12]}"
        )
    own = findings.changed() if isinstance(findings, ColumnFindings) else findings
    not_numbers = [_named(f) for f in own if not _is_score(f.score)]
    if not_numbers:
        raise RuntimeError(f"returned scores that are not numbers for records {', '.join(not_numbers[:5])}")
    not_bools = [_named(f) for f in own if type(f.flagged) not in FLAG_TYPES]
    if not_bools:
        raise RuntimeError(f"returned flags that are not bools for records {', '.join(not_bools[:5])}")
    scores, _ = result.columns(again=True)  # read once now the run is over (a finding made only to name a bad one)
    bad = [_named(findings[i]) for i, score in enumerate(scores) if not 0.0 <= score <= 1.0]
    if bad:
        raise RuntimeError(f"returned scores outside [0, 1] for records {', '.join(bad[:5])}")
    _check_p_values(result, len(delta), reference_size)


SCORE_TYPES = (float, int, bool, Fraction)  # exact types: a subclass may convert to another value than it holds
FLAG_TYPES = (bool, np.bool_)


def _is_score(score: object) -> bool:
    """``score`` is a number of an exact type ``float()`` reads as its value (no subclass of one)."""
    kind = type(score)
    return kind in SCORE_TYPES or (kind.__module__ == "numpy" and issubclass(kind, np.floating | np.integer))


def _check_p_values(result: DetectorResult, n: int, reference_size: int | None = None) -> None:
    """The p-values the combined verdict reads must be float arrays it can read: ``p_values``, ``extreme_p`` and
    ``extreme_p_rule_off`` one per record in [0, 1]; ``reference_p`` one per reference sample record
    (``reference_size``, the profile's sample) in [0, 1] or NaN where the record has none, and
    ``reference_raw`` as long, numbers or NaN. A NaN p-value would make
    the combined statistic NaN and pass every record (R26f-2); one too few crashes the verdict (R26f-3)."""
    for name in ARRAYS:
        array = getattr(result, name)  # the runner's float64 copy (``_own_result``): what combine reads
        if array is None:
            continue
        if name in ("reference_p", "reference_raw"):
            if array.ndim != 1 or (reference_size is not None and len(array) != reference_size):
                raise RuntimeError(f"returned {name} of shape {array.shape} for {reference_size} reference records")
        elif array.ndim != 1 or len(array) != n:
            raise RuntimeError(f"returned {name} of shape {array.shape} for {n} records")
        if name == "reference_raw":
            if result.reference_p is not None and len(array) != len(result.reference_p):
                raise RuntimeError(f"returned {len(array)} reference_raw for {len(result.reference_p)} reference_p")
            continue
        known = ~np.isnan(array) if name == "reference_p" else np.ones(len(array), dtype=bool)
        with np.errstate(invalid="ignore"):
            outside = np.flatnonzero(known & ~((array >= 0.0) & (array <= 1.0)))
        if len(outside):
            where = ", ".join(str(i) for i in outside[:5].tolist())
            raise RuntimeError(f"returned {name} that are not p-values in [0, 1] at positions {where}")


def _named(finding: Finding) -> str:
    """A finding's record as an error names it: the first 12 characters of its digest."""
    return str(finding.digest)[:12]


def extreme_share_of(returned: DetectorResult) -> float | None:
    """``returned.extreme_share`` as a float in (0, 1), or None; anything else is a detector's error (a share of 0
    or 1 would drop the evidence or every other detector's from the extreme rule)."""
    share = getattr(returned, "extreme_share", None)
    if share is None:
        return None
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 < float(share) < 1.0:
        raise RuntimeError(f"returned an extreme_share of {share!r}, not a number in (0, 1)")
    return float(share)
