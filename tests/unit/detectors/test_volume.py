import hashlib

import numpy as np

from provenance.detectors import get_detector
from provenance.profiles.reference import build_profile


def _two_vendor_profile(split):
    digests = [hashlib.sha256(r.tobytes()).digest() for r in np.ascontiguousarray(split.Xb, np.float32)]
    sources = ["vendor_a", "vendor_b"] * (len(split.Xb) // 2) + ["vendor_a"] * (len(split.Xb) % 2)
    return build_profile(split.Xb, split.yb.astype(str), digests, featurizer="numeric/v1", sources=sources)


def test_a_known_source_adding_far_more_than_the_others_grew_is_flagged_and_extreme(digits_split):
    profile = _two_vendor_profile(digits_split)
    n = len(digits_split.Xp)
    sources = ["vendor_a"] * 30 + ["vendor_b"] * (n - 30)  # a grows 6%, b by over a hundred percent
    result = get_detector("volume").run(profile, digits_split.delta(sources=sources), fpr=0.01)
    assert result.summary["spiking_sources"] == ["vendor_b"]
    assert {sources[i] for i, f in enumerate(result.findings) if f.flagged} == {"vendor_b"}
    assert result.extreme_p[-1] < 1e-12 and (result.extreme_p[:30] == 1.0).all()
    assert "growing like the other sources" in result.findings[-1].explanation


def test_a_new_source_or_one_delivering_alone_is_not_a_spike(digits_split):
    profile = _two_vendor_profile(digits_split)
    n = len(digits_split.Xp)
    new_source = get_detector("volume").run(profile, digits_split.delta(sources=["scraper"] * n), fpr=0.01)
    assert not any(f.flagged for f in new_source.findings) and "is new" in new_source.findings[0].explanation
    alone = get_detector("volume").run(profile, digits_split.delta(sources=["vendor_b"] * n), fpr=0.01)
    assert not any(f.flagged for f in alone.findings) and "no share to compare" in alone.findings[0].explanation


def test_without_sources_there_is_no_per_source_volume(digits_split):
    digests = [hashlib.sha256(r.tobytes()).digest() for r in np.ascontiguousarray(digits_split.Xb, np.float32)]
    profile = build_profile(digits_split.Xb, digits_split.yb.astype(str), digests, featurizer="numeric/v1")
    delta = digits_split.delta(sources=[None] * len(digits_split.Xp))
    result = get_detector("volume").run(profile, delta, fpr=0.01)
    assert not any(f.flagged for f in result.findings)
    assert "one source or none" in result.findings[0].explanation


def test_records_with_no_source_beside_sources_are_named_as_records(digits_split):
    # newcomer review 29: "source (no source) is new" read as a suspicious source
    profile = _two_vendor_profile(digits_split)
    n = len(digits_split.Xp)
    result = get_detector("volume").run(
        profile, digits_split.delta(sources=[None] * 30 + ["vendor_b"] * (n - 30)), fpr=0.01
    )
    assert result.findings[0].explanation == "30 records with no source, none in the base: no base share to compare"
    assert all("(no source)" not in f.explanation for f in result.findings)
