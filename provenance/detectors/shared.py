"""Pieces several detectors share: neighbours of delta records in the reference sample,
explanations that name base records, and turning raw scores into a result."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from provenance.detectors.base import ColumnFindings, Delta, DetectorResult
from provenance.detectors.calibration import Calibration
from provenance.features.blas import single_threaded_blas
from provenance.features.neighbors import nearest_by_label, nearest_with_count, same_digest_pairs
from provenance.profiles.reference import NEIGHBOURS_KEPT, ReferenceProfile

NEIGHBOURS_SHOWN = 3
BATCH_NEIGHBOURS = 5  # nearest other delta records kept per record (extreme.batch_label_support)
DETAILED_FROM = 0.9  # score from which an unflagged record still gets the full explanation


def standardized_delta(profile: ReferenceProfile, delta: Delta) -> np.ndarray:
    """The delta's features standardised as the profile's sample is, as they arrived (computed once
    per delta): what batch drift measures (``detectors.drift``)."""
    key = ("Z-as-delivered", id(profile))
    if key not in delta.cache:
        delta.cache[key] = profile.standardize(delta.X)
    return delta.cache[key]


def delta_Z(profile: ReferenceProfile, delta: Delta) -> np.ndarray:
    """The delta's standardised features the detectors score (computed once per delta): as
    delivered, less the shift the whole batch shares when ``detectors.drift`` removed one
    (``remove_batch_shift``), so records are judged against their batch, not its drift."""
    key = ("Z", id(profile))
    if key not in delta.cache:
        Z = standardized_delta(profile, delta)
        shift = delta.cache.get(("batch-shift", id(profile)))
        if shift is not None:
            Z = Z.copy()
            Z[shift[0]] -= shift[1].astype(Z.dtype)
        delta.cache[key] = Z
    return delta.cache[key]


def delta_labels(profile: ReferenceProfile, delta: Delta) -> np.ndarray:
    """``profile.label_indexes(delta.labels)`` (n,) int64, -1 for a label the base never had: looked up once
    per delta (six detectors ask) and returned as a copy each time, so a caller may change its own."""
    key = ("label-indexes", id(profile))
    if key not in delta.cache:
        delta.cache[key] = profile.label_indexes(delta.labels)
    return delta.cache[key].copy()


def remove_batch_shift(profile: ReferenceProfile, delta: Delta, rows: np.ndarray, vector: np.ndarray) -> None:
    """Have the detectors score records ``rows`` of ``delta`` less ``vector`` (d,), in standardised
    space (``delta_Z``). Before any detector ran: a scored delta cannot be re-scored in place."""
    if ("Z", id(profile)) in delta.cache:
        raise RuntimeError("the batch shift must be removed before the detectors look at the delta")
    delta.cache[("batch-shift", id(profile))] = (np.asarray(rows, dtype=np.int64), np.asarray(vector))


def reference_geometry(profile: ReferenceProfile, delta: Delta) -> dict[str, np.ndarray]:
    """Each delta record's K nearest sample records and its nearest of its own label and of
    another label, excluding its own digest, in one pass shared by the detectors.

    A relabeled record is in the base with its old label; it must not vote for itself.
    """
    key = ("geometry", id(profile))
    if key not in delta.cache:
        exclude = same_digest_pairs(delta.digest_array, profile.sample_digests)
        delta.cache[key] = nearest_by_label(
            delta_Z(profile, delta),
            profile.sample_Z,
            NEIGHBOURS_KEPT,
            delta_labels(profile, delta),
            profile.sample_labels.astype(np.int64),
            exclude=exclude,
        )
    return delta.cache[key]


def reference_neighbours(profile: ReferenceProfile, delta: Delta) -> tuple[np.ndarray, np.ndarray]:
    """The K nearest sample records of each delta record (see reference_geometry)."""
    geometry = reference_geometry(profile, delta)
    return geometry["idx"], geometry["dist"]


def delta_neighbours(profile: ReferenceProfile, delta: Delta, radii: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each delta record's nearest other delta records, from one pass over the delta x delta
    distances shared by the detectors (``duplicates``' nearest copy and near-copy counts,
    ``extreme.batch_label_support``'s batch-mates).

    Returns ``features.neighbors.nearest_with_count`` of the standardised delta against
    itself (each record left out of its own neighbours) with ``k = min(BATCH_NEIGHBOURS,
    n - 1)``; ``close`` (n x r) counts the records strictly within each of ``radii`` (r,).
    Computed once per delta and radii: a call without radii reuses any earlier pass.
    """
    key = ("delta-neighbours", id(profile))
    cached = delta.cache.get(key)
    wanted = None if radii is None else np.asarray(radii, dtype=np.float64)
    if cached is None or (wanted is not None and not np.array_equal(cached[0], wanted)):
        Z = delta_Z(profile, delta) if len(delta) else np.zeros((0, profile.dim), np.float32)
        k = max(min(BATCH_NEIGHBOURS, len(delta) - 1), 0)
        cached = (wanted, nearest_with_count(Z, Z, k, wanted, queries_are_points=True))
        delta.cache[key] = cached
    return cached[1]


@single_threaded_blas  # one limit held over both threads: a thread's own limit ending cannot lift it
def both_passes_at_once(profile: ReferenceProfile, delta: Delta, radii: np.ndarray) -> None:
    """Compute the two neighbour passes the detectors share at the same time, one on a second thread.

    ``reference_geometry`` (delta x sample) and ``delta_neighbours(radii)`` (delta x delta, at
    the radii the duplicates detector will ask for: ``duplicates.delta_pass_radii``) are the
    largest parts of a detection run and spend it in BLAS and ``provenance.fastknn``, both of
    which release the GIL: on two cores they overlap. Each pass is the same call the
    detectors would make, so its answer is the same, bit for bit (BLAS stays on one thread).
    A pass that fails is left uncached: the detector that needs it computes it again and
    reports the failure as its own (``registry.run_detectors``). Radii other than the
    detector's later make it compute its pass again, never use a wrong one.
    """
    if len(delta) < 2:
        return
    try:  # shared inputs, computed once before the threads read them
        delta_Z(profile, delta)
        delta.digest_array  # noqa: B018 (a cached property)
    except Exception:
        return

    def geometry() -> None:
        try:
            reference_geometry(profile, delta)
        except Exception:  # computed again, and reported, by the detector that needs it
            pass

    other = threading.Thread(target=geometry, name="prov-reference-geometry")
    other.start()
    try:
        delta_neighbours(profile, delta, radii)
    except Exception:  # as above
        pass
    finally:
        other.join()


def describe_neighbours(
    profile: ReferenceProfile, idx: np.ndarray, dist: np.ndarray, count: int = NEIGHBOURS_SHOWN
) -> str:
    """ "nearest base records: ..." naming up to ``count`` neighbours (index ``idx``, distance ``dist``) with their labels."""
    shown = profile.describe_samples(idx[:count].tolist(), dist[:count].tolist())
    return "nearest base records: " + (", ".join(shown) if shown else "none")


def build_result(
    name: str,
    delta: Delta,
    raw: np.ndarray,
    reference_raw: np.ndarray,
    fpr: float,
    explain: Callable[[int, float, bool], str],
    summary: dict | None = None,
    model_p: np.ndarray | None = None,
) -> DetectorResult:
    """Calibrate on the reference, score and flag the delta, and explain each record.

    ``raw`` (n,) are the delta's raw scores; ``reference_raw`` (m,) the same raw score of
    each reference sample record, computed out of sample (NaN where a record has none),
    in sample order so that the combined verdict can pair detectors record by record.

    ``model_p`` (n,), when given, are p-values of a second statistic that has a model of
    its own null instead of reference scores (the duplicates detector's copy counts, a
    Poisson tail), NaN where that statistic does not apply (a record added once). Where it
    applies, a record's p-value is the smaller of the two, doubled (Bonferroni for two
    tests); elsewhere it is the calibrated one alone, so records the second test cannot
    concern keep the reference's calibration exactly.

    Records a reviewer will look at (flagged, or scoring past DETAILED_FROM) get the
    detector's full explanation; the rest a short one, because naming neighbours for
    every unremarkable record of a large delta costs more than the detection itself.
    """
    reference_raw = np.asarray(reference_raw, dtype=np.float64)
    calibration = Calibration(reference_raw, fpr)
    scores = calibration.scores(raw)
    finite = np.isfinite(reference_raw)
    reference_p = np.full(len(reference_raw), np.nan)
    reference_p[finite] = calibration.p_values(reference_raw[finite])
    flags = calibration.flags(raw)
    if model_p is not None and len(raw):
        calibrated = 1.0 - np.asarray(scores, dtype=np.float64)
        both = np.minimum(1.0, 2.0 * np.minimum(calibrated, np.nan_to_num(model_p, nan=1.0)))
        applies = np.isfinite(model_p)
        scores = np.where(applies, 1.0 - both, scores)
        flags = np.where(applies, both <= fpr, flags)
    threshold = calibration.score_threshold
    # one pass over Python values (10,000 records x 6 detectors per 1% delta of 1 M): numpy
    # scalars and per-record indexing cost more than the findings themselves
    score_values = np.asarray(scores, dtype=np.float64).tolist()
    flag_values = np.asarray(flags, dtype=bool).tolist()
    short = ", flagged above " + f"{threshold:.3f}"
    # the detector's own explanations now (a crash in one is this detector's error); the findings, and the
    # fixed text of the rest, when read (``ColumnFindings``: the combined verdict reads few of them)
    explained = {
        i: explain(i, float(raw[i]), flagged)
        for i, (score, flagged) in enumerate(zip(score_values, flag_values))
        if flagged or score >= DETAILED_FROM
    }
    findings = ColumnFindings(delta.hexes, name, score_values, flag_values, explained, short)
    result = DetectorResult(
        detector=name,
        status="ran",
        error=None,
        threshold=calibration.score_threshold,
        findings=findings,
        summary=summary or {},
        p_values=1.0 - np.asarray(scores, dtype=np.float64),
        reference_p=reference_p,
        reference_raw=reference_raw,
    )
    return result


def typical_distance(first: np.ndarray) -> float:
    """The base's typical distance to its nearest other record: the median of ``first`` (m,),
    over its positive values when most base records have an exact feature twin (data of small
    integer codes: the median is 0 there, and a closeness measured against 0 is undefined);
    1.0 when there is no finite positive distance."""
    finite = first[np.isfinite(first)]
    if finite.size and float(np.median(finite)) > 0:
        return float(np.median(finite))
    positive = finite[finite > 0]
    return float(np.median(positive)) if positive.size else 1.0
