"""Naming what changed between a signed manifest (a batch or a version) and the data now."""

from __future__ import annotations

import hashlib

from provenance.changes import REPORTED, describe, record_changes
from provenance.manifest import Manifest


def d(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def m(rows: list[tuple[str, str, str]]) -> Manifest:
    """(content name, label, locator)"""
    return Manifest.build([d(r[0]) for r in rows], [r[1] for r in rows], [r[2] for r in rows], ["vendor"] * len(rows))


SIGNED = m([("a", "1", "0"), ("b", "2", "1"), ("c", "3", "2"), ("e", "5", "3")])


def test_nothing_changed():
    assert record_changes(SIGNED, m([("e", "5", "0"), ("a", "1", "1"), ("b", "2", "2"), ("c", "3", "3")])).listed == {
        "changed": [],
        "added": [],
        "removed": [],
        "relabeled": [],
    }


def test_each_kind_is_named_with_its_place():
    now = m([("a", "1", "0"), ("b", "9", "1"), ("X", "3", "2"), ("new", "4", "4")])
    changes = record_changes(SIGNED, now)
    listed = changes.listed
    assert listed["changed"] == [
        {"locator": "2", "digest": d("X").hex(), "signed_digest": d("c").hex(), "label": "3", "signed_label": "3"}
    ]
    assert listed["relabeled"] == [{"locator": "1", "digest": d("b").hex(), "signed_label": "2", "label": "9"}]
    assert listed["added"] == [{"locator": "4", "digest": d("new").hex(), "label": "4"}]
    assert listed["removed"] == [{"locator": "3", "digest": d("e").hex(), "label": "5"}]
    lines = describe(changes)
    assert lines[0].startswith("changed row 2: content digest " + d("X").hex()[:12])
    assert "relabeled row 1 (digest " + d("b").hex()[:12] + "): 2 -> 9" in lines


def test_a_duplicated_copy_is_an_addition_and_a_dropped_copy_a_removal():
    now = m([("a", "1", "0"), ("b", "2", "1"), ("c", "3", "2"), ("e", "5", "3"), ("a", "1", "4")])
    changes = record_changes(SIGNED, now)
    listed = changes.listed
    assert listed["added"] == [{"locator": "4", "digest": d("a").hex(), "label": "1"}]
    assert record_changes(now, SIGNED).listed["removed"] == [{"locator": "4", "digest": d("a").hex(), "label": "1"}]


def test_rows_sort_naturally_and_long_lists_are_cut():
    signed = m([(f"r{i}", "1", str(i)) for i in range(30)])
    now = m([(f"r{i}", "2", str(i)) for i in range(30)])
    changes = record_changes(signed, now)
    listed = changes.listed
    assert [c["locator"] for c in listed["relabeled"][:3]] == ["0", "1", "2"]
    lines = describe(changes, limit=5)
    assert len(lines) == 6 and lines[-1] == "... and 25 more relabeled"


def test_every_record_edited_in_place_is_named_changed_once_each():
    """Every place holds new content but one (so the sides share a record): each edit pairs by its place.
    Pairing removed each pair from two lists one by one, quadratic: 20k rows took 78 s, 40k 256 s
    (attack review 25d; bench/verify_all_changed.py measures it at 1M rows)."""
    n = 2000
    signed = m([(f"old{i}", str(i % 3), str(i)) for i in range(n)])
    now = m([("old0", "0", "0")] + [(f"new{i}", str(i % 3), str(i)) for i in range(1, n)])
    changes = record_changes(signed, now)
    listed = changes.listed
    assert changes.counts == {"changed": n - 1, "added": 0, "removed": 0, "relabeled": 0}
    assert [c["locator"] for c in listed["changed"]] == [str(i) for i in range(1, REPORTED + 1)]  # the first named
    assert listed["changed"][0] == {
        "locator": "1",
        "digest": d("new1").hex(),
        "signed_digest": d("old1").hex(),
        "label": "1",
        "signed_label": "1",
    }
    assert listed["added"] == listed["removed"] == listed["relabeled"] == []
