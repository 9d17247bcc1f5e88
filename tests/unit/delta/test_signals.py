"""Diff-level signals: which changes they flag and the statistics they report (the tails are in test_stats)."""

from __future__ import annotations

import pytest

from provenance.delta import signals


def test_class_mix_shift_flags_a_one_class_flood_not_a_faithful_sample():
    base = {"cat": 5000, "dog": 5000}
    assert not signals.class_mix_shift({"cat": 102, "dog": 98}, base).flagged
    s = signals.class_mix_shift({"cat": 190, "dog": 10}, base)
    assert s.flagged and s.statistic["df"] == 1 and s.statistic["p_value"] < 1e-20
    assert s.statistic["cells"][0]["class"] in ("cat", "dog")


def test_a_class_the_base_holds_none_of_is_called_new_not_over_represented():
    """Wine sorted by class, its third class added last: the signal said "most over-/under-represented: '2' (48 vs 15.6
    expected)" of a class the base holds none of (newcomer review 29, finding 3)."""
    s = signals.class_mix_shift({"2": 48}, {"0": 59, "1": 71})
    assert s.flagged and s.explanation.endswith("; class '2' (48 added) is new: none in the base"), s.explanation
    assert "over-/under-represented" not in s.explanation
    two = signals.class_mix_shift({"2": 48, "3": 5, "0": 1}, {"0": 59, "1": 71})
    assert two.explanation.endswith("; classes '2' (48 added), '3' (5 added) are new: none in the base")
    held = signals.class_mix_shift({"2": 48}, {"0": 59, "1": 71, "2": 3})
    assert "most over-/under-represented: '2' (48 vs" in held.explanation


def test_tiny_shift_on_huge_sample_is_not_flagged():
    s = signals.class_mix_shift({"cat": 505_000, "dog": 495_000}, {"cat": 500_000, "dog": 500_000})
    assert s.statistic["p_value"] < 1e-6 and not s.flagged  # significant but w = 0.005


def test_a_clean_delta_large_next_to_its_base_is_not_a_shift():
    # Both samples are draws from one mix; a goodness-of-fit test against the base's
    # (noisy) mix would call this significant far more often than its p-value says.
    rng = __import__("numpy").random.default_rng(0)
    p_values = []
    for _ in range(300):
        draws = rng.choice(10, size=1800)
        base = {str(c): int((draws[:1000] == c).sum()) for c in range(10)}
        new = {str(c): int((draws[1000:] == c).sum()) for c in range(10)}
        p_values.append(signals.class_mix_shift(new, base).statistic["p_value"])
    assert sum(p < 0.01 for p in p_values) <= 9  # ~1% expected (3 of 300), well short of 3%


def test_relabel_rate_flags_the_source_that_relabels():
    out = {
        s.subject["source"]: s for s in signals.relabel_rate_by_source({"a": 2, "evil": 30}, {"a": 5000, "evil": 300})
    }
    assert out["evil"].flagged and not out["a"].flagged
    assert out["evil"].statistic["rate"] == pytest.approx(0.1)


def test_volume_jump_against_history_and_new_source():
    assert signals.volume_jump("a", 200, 1000, 0.1, [190, 210]).flagged is False
    jump = signals.volume_jump("a", 2000, 1000, 0.1, [190, 210])
    assert jump.flagged and jump.statistic["ratio"] == pytest.approx(10.0)
    new = signals.volume_jump("x", 50, 0, 0.1, [0, 0])
    assert new.name == "new_source" and not new.flagged
    assert signals.volume_jump("a", 5, 1000, 0.1, []) is None


def test_removals_concentrated_in_one_class():
    s = signals.removals_concentrated({"cat": 95, "dog": 5}, {"cat": 500, "dog": 500})
    assert s.flagged and s.subject == {"class": "cat"}
    assert not signals.removals_concentrated({"cat": 52, "dog": 48}, {"cat": 500, "dog": 500}).flagged


def test_records_with_no_source_are_named_as_records_not_as_a_source():
    # newcomer review 29: "source '(no source)'" read as a suspicious source
    from provenance.delta.signals import relabel_rate_by_source, volume_jump

    (sig,) = relabel_rate_by_source({None: 12}, {None: 100, "vendor": 900})
    assert sig.explanation.startswith(
        "records with no source: 12 of 100 kept records relabeled (12.00%) vs 0.10% elsewhere"
    )
    (alone,) = relabel_rate_by_source({None: 12}, {None: 100})  # no other records: the rate is the one assumed
    assert "vs 0.10% assumed (no other records to compare)" in alone.explanation, alone.explanation
    jump = volume_jump(None, 300, 0, 0.1, [])
    assert (
        jump is not None and jump.explanation == "300 records with no source, none in the base: no history to compare"
    )
    jump = volume_jump(None, 300, 100, 0.1, [])
    assert jump is not None and jump.explanation.startswith(
        "300 records with no source added, 30.0x 10.0 from their 100"
    )
    assert all("(no source)" not in s.explanation for s in (sig, alone, jump))
