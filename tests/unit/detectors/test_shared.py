import numpy as np

from provenance.detectors.shared import typical_distance


def test_the_typical_distance_is_the_median_or_over_positive_distances_when_most_records_have_twins():
    assert typical_distance(np.array([0.0, 1.0, 2.0, np.inf])) == 1.0  # the plain median of the finite ones
    assert typical_distance(np.array([0.0, 0.0, 0.0, 1.0, 3.0])) == 2.0  # median 0: over the positive ones
    assert typical_distance(np.zeros(4)) == 1.0
    assert typical_distance(np.zeros(0)) == 1.0


def test_a_sample_record_is_named_by_its_digest_prefix_label_and_distance(digits_split):
    # explanations name base records this way (written once per profile, then per distance)
    profile = digits_split.profile
    for index in (0, 1, len(profile.sample_digests) // 2, len(profile.sample_digests) - 1):
        digest = profile.sample_digests[index].tobytes().hex()[:12]
        label = profile.classes[profile.sample_labels[index]]
        for distance in (0.0, 1.005, 12.3456):
            assert profile.describe_sample(index, distance) == f"{digest} (label {label}, d={distance:.2f})"
