"""The copies rule's arithmetic (provenance.gate.copies): copies sorted by how often the base holds the
record copied, each class against its binomial quantile at the base's own rate (Good-Turing for records
held once and twice, the records' own rates above), and the re-delivery slack for records held once only."""

from __future__ import annotations

import numpy as np

from provenance.gate.copies import Copies, copy_class


def copies(extra: list[int], held: list[int], rows_added: int, base_rows: int, repeated: list[int]) -> Copies:
    return Copies(
        np.array(extra, np.int64), np.array(held, np.int64), rows_added, base_rows, np.array(repeated, np.int64)
    )


def test_classes_double_with_the_base_rows_of_the_record_copied():
    assert copy_class(np.array([0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 111])).tolist() == [0, 0, 1, 2, 2, 3, 3, 4, 4, 5, 7]


def test_each_class_is_expected_at_the_base_own_rate():
    """A base of 1,000 rows holding 50 records twice, 10 three times and one 40 times: of 400 rows added,
    2 * 50 / 1000 are expected to repeat a record held once (40), 3 * 10 / 1000 one held twice (12), and the
    record held 40 times its 40 / 1000 (16)."""
    c = copies([], [], 400, 1000, [2] * 50 + [3] * 10 + [40])
    got = {x["held"]: (x["expected"], x["quantile"]) for x in c.classes()}
    assert {k: v[0] for k, v in got.items()} == {"1": 40.0, "2": 12.0, "3-4": 12.0, "33-64": 16.0}
    # a quantile a clean delivery passes but with probability 0.001 over the four classes
    assert all(expected + 3 * np.sqrt(expected) < q < expected + 6 * np.sqrt(expected) for expected, q in got.values())


def test_the_expected_copies_pass_and_a_flood_of_the_most_repeated_record_blocks():
    """16 copies of the record held 40 times are what 400 rows bring; 20 more (5% of the rows) block, though
    they would fit the re-delivery slack (max_copies_rate 2% of 420 = 8 beyond the quantile): that slack is
    for records held once only."""
    base = dict(base_rows=1000, repeated=[2] * 50 + [3] * 10 + [40])
    clean = copies([16, 1, 1], [40, 1, 2], 400, **base)
    assert not clean.blocks(0.02, 10) and clean.excess(0.02, 10)[0] == 0
    flood = copies([36, 1, 1], [40, 1, 2], 420, **base)
    excess, allowed, classes, _ = flood.excess(0.02, 10)
    assert flood.blocks(0.02, 10) and allowed == 9 and excess == 36 - classes[-1]["quantile"] > 0


def test_a_record_held_many_times_opens_no_room_for_copies_of_other_records():
    """Attack review 12, C12-2: one record held 150 times. 210 copies of records held once are 201 beyond
    what min_copies allows; the 150-row record's expected copies are in its own class."""
    c = copies([1] * 210, [1] * 210, 210, 1049, [150])
    excess, allowed, classes, _ = c.excess(0.02, 10)
    assert (excess, allowed) == (201, 9) and c.blocks(0.02, 10)
    assert classes[-1]["held"] == "129-256" and classes[-1]["copies"] == 0


def test_too_few_copies_are_not_judged():
    c = copies([9], [0], 9, 100, [])
    assert c.excess(0.02, 10)[0] == 0 and not c.blocks(0.02, 10)
    c = copies([10], [0], 10, 100, [])
    assert c.excess(0.02, 10)[0] == 1 and c.blocks(0.02, 10)


def spread(base: dict, unique: int, per_class: dict[int, int]) -> Copies:
    """``unique`` new rows plus ``per_class[c]`` copies of one record held ``c`` times, for each ``c``."""
    extra, held = list(per_class.values()), list(per_class)
    return copies(extra, held, unique + sum(extra), **base)


def test_copies_spread_one_under_every_class_quantile_block_on_the_total():
    """Attack review 22b, H1: copies at one under each class's quantile, recomputed as the flood's own rows
    raise the rows added, pass every class; together they are far over the total's quantile, which counts on
    the 280 rows that copy nothing (the classes' rates sum to 0.2: about 280 * 0.2 / 0.8 = 70 copies expected)."""
    base = dict(base_rows=1000, repeated=[2] * 50 + [3] * 10 + [40])
    clean = spread(base, 280, {1: 35, 2: 10, 3: 11, 40: 14})
    assert not clean.blocks(0.02, 10)
    total = clean.excess(0.02, 10)[3]
    assert (total["copies"], total["unique_rows"], total["expected"]) == (70, 280, 70.0)
    flood: dict[int, int] = {1: 0, 2: 0, 3: 0, 40: 0}
    for _ in range(50):  # the attacker's loop: fill each class to one under its quantile
        c = spread(base, 280, flood)
        _, allowed, classes, _ = c.excess(0.02, 10)
        room = {x["class"]: x["quantile"] + (allowed if not x["class"] else 0) - x["copies"] - 1 for x in classes}
        grown = {h: n + max(0, room[int(copy_class(np.array([h]))[0])]) for h, n in flood.items()}
        if grown == flood:
            break
        flood = grown
    c = spread(base, 280, flood)
    excess, allowed, classes, total = c.excess(0.02, 10)
    assert all(x["copies"] < x["quantile"] + (allowed if not x["class"] else 0) for x in classes), classes
    assert c.blocks(0.02, 10) and excess == total["copies"] - total["quantile"] - allowed > 0, (total, allowed)
    # the total's quantile does not move with the flood: the same 280 unique rows, whatever the copies
    assert total["quantile"] == clean.excess(0.02, 10)[3]["quantile"]
