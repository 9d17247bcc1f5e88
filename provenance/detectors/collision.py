"""Clean-label feature collision: a record that sits on another class's base records.

A feature-collision poison (Shafahi et al. 2018) looks like its own class to a human but
is crafted so that, in the model's feature space, it lands on a target record of another
class. The score is the log ratio of the distance to the nearest base record of its own
label to the distance to the nearest base record of any other label; the explanation
names that other record, the likely target. An added record that is a near-copy of a base record of
another class (a base record nudged and relabelled) is extreme evidence, blocking alone
(``extreme.other_class_copy_p``). It works best on a user's model
embeddings (plug-in featuriser), where the collision happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from provenance.detectors.base import Delta, Detector, DetectorResult, Finding
from provenance.detectors.calibration import Calibration
from provenance.detectors.extreme import (
    OTHER_CLASS_COPY_SHARE,
    copy_density,
    copy_search_radius,
    other_class_copy_p,
)
from provenance.detectors.shared import (
    build_result,
    delta_labels,
    reference_geometry,
    standardized_delta,
    typical_distance,
)
from provenance.profiles.copy_index import CopyIndex, check_grid_key
from provenance.profiles.reference import ReferenceProfile


def _log_ratio(own: np.ndarray, other: np.ndarray, scale: float) -> np.ndarray:
    eps = 1e-3 * scale
    return np.log((own + eps) / (other + eps))


class CollisionDetector(Detector):
    """Clean-label feature collision: a record that sits on another class's base records (see the module docstring)."""

    name = "collision"
    families = ("feature_collision", "backdoor")
    record_independent = True

    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        """Score every record of ``delta`` against ``profile``; flags calibrated to ``fpr`` on the reference."""
        finite = np.isfinite(profile.own_class_nn_dist) & np.isfinite(profile.other_class_nn_dist)
        # the typical same-class distance (over positive ones where most records have an exact twin:
        # a scale of 0 made the log ratio 0/0 on data of small integer codes)
        scale = typical_distance(profile.own_class_nn_dist[finite])
        if not finite.any():
            return one_class_result(self.name, delta)
        reference_raw = np.full(len(finite), np.nan)
        reference_raw[finite] = _log_ratio(
            profile.own_class_nn_dist[finite], profile.other_class_nn_dist[finite], scale
        )

        labels = delta_labels(profile, delta)
        geometry = reference_geometry(profile, delta)
        own, other = geometry["own_dist"], geometry["other_dist"]
        own_idx, other_idx = geometry["own_idx"], geometry["other_idx"]
        known = (labels >= 0) & np.isfinite(own) & np.isfinite(other)
        # A label the base never had is knn_label's finding; here it scores as typical.
        raw = np.where(known, _log_ratio(own, other, scale), float(np.nanmedian(reference_raw)))

        as_lists: list[list] = []  # the columns an explanation reads, as Python values once (3,800 flagged records)

        def explain(i: int, value: float, flagged: bool) -> str:
            if not as_lists:
                as_lists.extend(column.tolist() for column in (known, other_idx, other, own_idx, own))
            is_known, target_idx, target_dist, mine_idx, mine_dist = (column[i] for column in as_lists)
            if not is_known:
                return f"label {delta.labels[i]!r} has no base records to compare with (see knn_label)"
            target = profile.describe_sample(target_idx, target_dist)
            mine = profile.describe_sample(mine_idx, mine_dist)
            return (
                f"labelled {delta.labels[i]!r} but {np.exp(value):.1f}x closer to another class: "
                f"nearest other-class base record {target}; nearest same-class base record {mine}"
            )

        result = build_result(self.name, delta, raw, reference_raw, fpr, explain)
        # Extreme evidence (provenance.detectors.extreme): an added near-copy of a base record of another class,
        # looked up among every base record where the version keeps a copy index (A32e-1), else among the sample
        collision_p, density = np.asarray(result.p_values, dtype=np.float64), 1.0
        whole = whole_base_nearest(profile, delta, labels)
        result.summary.update(copy_lookup_summary(profile, whole))
        if whole is not None:
            own_whole, other_whole = np.minimum(own, whole.own), np.minimum(other, whole.other)
            moved = known & ((own_whole < own) | (other_whole < other))
            if moved.any():
                raw_whole = _log_ratio(own_whole[moved], other_whole[moved], scale)
                collision_p = collision_p.copy()
                collision_p[moved] = Calibration(reference_raw, fpr).p_values(raw_whole)
            other, density = other_whole, copy_density(profile)
        result.extreme_p = other_class_copy_p(profile, delta, collision_p, other, fpr, density)
        result.extreme_share = OTHER_CLASS_COPY_SHARE
        return result


@dataclass
class WholeBaseNearest:
    """Each delta record's distance to its nearest base record of its own label (``own``) and of another label
    (``other``) among every base record, (n,) each (inf past ``radius`` and for records not added); the index
    searched (``records`` base records), the search ``radius`` (standardised units) and the level ``alpha`` it was
    computed at (the delta's ``extreme_alpha``)."""

    own: np.ndarray
    other: np.ndarray
    records: int
    radius: float
    alpha: float


def whole_index(profile: ReferenceProfile) -> CopyIndex | None:
    """The profile's copy index (``profiles.copy_index.CopyIndex``; carried onto a profile rebuilt without waived
    records or on a candidate's shared columns, ``carried_copy_index``); None where the version keeps none. The
    index is signed inside the profile (``load_profile`` checked its digest). Raises ``FeatureError`` for a damaged
    index (the detector then fails and the gate with it: never a silent fall back to the sample), ``ValueError``
    for one that does not measure in the profile's space (a profile rebuilt without carrying it: a bug)."""
    index = profile.copy_index
    if index is None:
        return None
    if not index.fits(profile.mean, profile.scale):
        raise ValueError("the profile's copy index does not measure in its space (it was not carried onto it)")
    return index


def whole_base_nearest(profile: ReferenceProfile, delta: Delta, labels: np.ndarray) -> WholeBaseNearest | None:
    """Each added record's nearest base record of its own label and of another label among *every* base record
    (:class:`WholeBaseNearest`), exact within the distance past which its copy evidence cannot block this delta at
    the level the gate judges it at (``extreme.copy_search_radius`` uncapped, for ``n = len(delta)`` and
    ``delta.extreme_alpha``: A34a-1), or None where the base keeps no index. ``labels`` (n,) are the records' class
    indices (-1 for a class the base lacks)."""
    index = whole_index(profile)
    alpha = delta.extreme_alpha
    radius = copy_search_radius(profile, len(delta), capped=False, alpha=alpha) if index is not None else None
    if index is None or radius is None:
        return None
    own = np.full(len(delta), np.inf)
    other = np.full(len(delta), np.inf)
    added = np.flatnonzero([kind == "added" for kind in delta.kinds])
    if added.size:
        Z = standardized_delta(profile, delta)[added]  # as delivered: a copy is one whatever its batch's drift
        digests = delta.digest_array[added]
        # on a grid drawn afresh for this check (salted), never the commit's public one: records placed at its
        # cells' corners made every look-up compare with every base record (A34a-2); the distances are the same
        searched = index.searching(radius, check_grid_key(digests))
        own[added], other[added] = searched.nearest(Z, labels[added], digests)
    return WholeBaseNearest(own, other, len(index.keys), radius, alpha)


def copy_lookup_summary(profile: ReferenceProfile, whole: WholeBaseNearest | None) -> dict:
    """What the result's summary says of where near copies were looked up: ``copy_index_records``,
    ``copy_search_radius`` and ``copy_search_alpha`` (the level the radius is the bar of) with the index;
    ``copies_among_sample_only`` true where the base holds records its sample
    misses and keeps no index (the check says so: ``gate.detection``, A33d-4)."""
    if whole is not None:
        return {
            "copy_index_records": whole.records,
            "copy_search_radius": whole.radius,
            "copy_search_alpha": whole.alpha,
        }
    return {
        "sample_records": profile.sample_size,
        "copies_among_sample_only": profile.sample_size < profile.n_records and profile.copy_index is None,
    }


def one_class_result(name: str, delta: Delta) -> DetectorResult:
    """The result when no base record has a nearest record of another class (the base has one
    class): nothing to collide with, so every record scores 0 and none is flagged. Like
    ``volume`` without sources, it ran and carries no p-values, so it does not enter the
    combined verdict (before, calibrating on no reference score raised and the gate could not
    evaluate any one-class dataset: exit 3)."""
    why = "the base has one class: there is no other class's record for a record to sit on"
    findings = [Finding(delta.hex(i), name, 0.0, False, why) for i in range(len(delta))]
    return DetectorResult(name, "ran", None, 1.0, findings, {"not_applicable": why})
