"""Per-source volume: one computation of counts and growth, read by the diff signal and the volume detector."""

from __future__ import annotations

import pytest

from provenance.delta.volume import history_increments, source_volumes, spike_ratio, volume_signals


def test_growth_of_the_others_and_of_the_whole_version():
    v = source_volumes({"a": 50, "b": 10}, {"a": 100, "b": 100})
    assert (v["a"].added, v["a"].base) == (50, 100)
    assert v["a"].growth_of_others == pytest.approx(0.1) and v["b"].growth_of_others == pytest.approx(0.5)
    assert v["a"].growth_overall == pytest.approx(0.3)
    assert spike_ratio(v["a"]) == pytest.approx(50 / 10)  # against what it would have added growing like b
    new = source_volumes({"new": 40}, {"a": 100}, base_total=100)["new"]
    assert new.base == 0 and spike_ratio(new) == 0.0  # a new source is new, not a spike
    alone = source_volumes({"a": 400}, {"a": 100, "b": 100})["a"]
    assert spike_ratio(alone) == 0.0  # vendors take turns: delivering alone is no spike


def test_without_sources_no_volume_signal_names_source_none():
    assert volume_signals({None: 300}, {None: 1000}, []) == []
    assert volume_signals({"vendor": 300}, {"vendor": 1000}, []) == []
    two = volume_signals({None: 300, "crowd": 10}, {None: 1000, "crowd": 1000}, [])
    assert None in {s.subject["source"] for s in two}  # with sources, "no source" is one of them


def test_a_source_is_judged_against_its_own_signed_history():
    history = [{"a": 600, "b": 100}, {"a": 400, "b": 50}, {"a": 200}]  # newest first: a adds 200 each time
    assert history_increments("a", history) == [200, 200]
    assert history_increments(None, [{"": 5}, {"": 2}]) == [3]
    usual = {s.subject["source"]: s for s in volume_signals({"a": 210, "b": 50}, {"a": 600, "b": 100}, history)}
    assert not usual["a"].flagged
    flood = {s.subject["source"]: s for s in volume_signals({"a": 2000, "b": 50}, {"a": 600, "b": 100}, history)}
    assert flood["a"].flagged and flood["a"].name == "source_volume_jump"


def test_a_source_the_signed_counts_never_name_has_no_history_and_no_basis_alone():
    # a tree's versions count every record under "": its vendors (named by their signed batches) have no history
    tree_history = [{"": 1366}, {"": 966}, {"": 600}]
    assert history_increments("vendorB", tree_history) is None
    (alone,) = volume_signals({"vendorB": 397}, {"vendorA": 1000, "vendorB": 366}, tree_history)
    assert not alone.flagged and "no history to compare" in alone.explanation
    # beside a new source, "the others' growth" is no basis either (newcomer review 12, finding 5: ml2)
    beside_new = {
        s.subject["source"]: s for s in volume_signals({"vendorA": 400, "vendorB": 397}, {"vendorA": 600}, [])
    }
    assert not beside_new["vendorA"].flagged and beside_new["vendorB"].name == "new_source"
    # when the others grew, their growth is a basis: a source far above it is still flagged
    both = {s.subject["source"]: s for s in volume_signals({"a": 900, "b": 30}, {"a": 300, "b": 300}, tree_history)}
    assert both["a"].flagged and "at the others' growth" in both["a"].explanation
