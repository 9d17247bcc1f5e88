"""Novelty against the trusted base: how far a record sits from its nearest base records.

Covers outlier injection (records unlike anything in the base); patch triggers in
normally blank regions also push records out here.
"""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import Delta, Detector, DetectorResult
from provenance.detectors.extreme import OUTLIER_RANGE
from provenance.detectors.shared import build_result, describe_neighbours, reference_neighbours
from provenance.profiles.reference import ReferenceProfile

NEIGHBOURS_AVERAGED = 5


class OutlierDetector(Detector):
    """Novelty against the trusted base: how far a record sits from its nearest base records (see the module docstring)."""

    name = "outlier"
    families = ("outlier", "backdoor")
    record_independent = True

    def run(self, profile: ReferenceProfile, delta: Delta, fpr: float) -> DetectorResult:
        """Score every record of ``delta`` against ``profile``; flags calibrated to ``fpr`` on the reference."""
        k = min(NEIGHBOURS_AVERAGED, profile.nn_dist.shape[1])
        reference_raw = _mean_finite(profile.nn_dist[:, :k])
        idx, dist = reference_neighbours(profile, delta)
        raw = _mean_finite(dist[:, :k]) if len(delta) else np.zeros(0)
        typical = float(np.median(reference_raw))

        def explain(i: int, value: float, flagged: bool) -> str:
            return (
                f"mean distance to the {k} nearest base records is {value:.2f} "
                f"({value / max(typical, 1e-12):.1f}x the base's typical {typical:.2f}); "
                + describe_neighbours(profile, idx[i], dist[i])
            )

        result = build_result(self.name, delta, raw, reference_raw, fpr, explain)
        # Extreme evidence (a range rule, provenance.detectors.extreme): far beyond the base's own range.
        finite = reference_raw[np.isfinite(reference_raw)]
        limit = OUTLIER_RANGE * float(finite.max()) if finite.size else np.inf
        result.extreme_p = np.where(raw > limit, 0.0, 1.0)
        result.extreme_is_rule = True
        return result


def _mean_finite(distances: np.ndarray) -> np.ndarray:
    finite = np.isfinite(distances)
    total = np.where(finite, distances, 0.0).sum(1)
    return np.where(finite.any(1), total / np.maximum(finite.sum(1), 1), np.inf)
