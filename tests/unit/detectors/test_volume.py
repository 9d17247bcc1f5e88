from provenance.detectors import get_detector


def test_a_source_adding_far_more_than_its_share_is_flagged(digits_split):
    n_clean = len(digits_split.Xp)
    extra = digits_split.Xp[:60] + 0.25
    sources = ["vendor"] * n_clean + ["new-scraper"] * 60
    delta = digits_split.delta(extra, digits_split.yp[:60], sources=sources)
    result = get_detector("volume").run(digits_split.profile, delta, fpr=0.01)
    flagged_sources = {sources[i] for i, f in enumerate(result.findings) if f.flagged}
    assert flagged_sources == {"new-scraper"}
    assert result.summary["spiking_sources"] == ["new-scraper"]
    assert "new-scraper added 60 records" in result.findings[-1].explanation


def test_a_source_growing_with_the_version_is_not_flagged(digits_split):
    result = get_detector("volume").run(digits_split.profile, digits_split.delta(), fpr=0.01)
    assert not any(f.flagged for f in result.findings)
    assert all(0.0 <= f.score <= 1.0 for f in result.findings)
