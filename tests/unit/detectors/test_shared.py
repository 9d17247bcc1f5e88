import numpy as np

from provenance.detectors.shared import typical_distance


def test_the_typical_distance_is_the_median_or_over_positive_distances_when_most_records_have_twins():
    assert typical_distance(np.array([0.0, 1.0, 2.0, np.inf])) == 1.0  # the plain median of the finite ones
    assert typical_distance(np.array([0.0, 0.0, 0.0, 1.0, 3.0])) == 2.0  # median 0: over the positive ones
    assert typical_distance(np.zeros(4)) == 1.0
    assert typical_distance(np.zeros(0)) == 1.0
