"""The base's clumping ratio (provenance.gate.copies_ratio): its file-order pseudo-batches' copies over what the
same rows in random order carry, and how the copies rule (provenance.gate.copies) uses it."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from provenance.gate.copies import Copies
from provenance.gate.copies_ratio import clumping_ratio, exchangeable_copies, raised_odds
from provenance.profiles.batch_copies import BatchCopies, batch_copies, batches_of_ranks


def test_exchangeable_copies_are_the_mean_over_every_order_of_the_rows():
    """Six rows (a record twice, one three times, one once) in three runs of two: the mean copies of each run
    over all 60 distinct orders, counted by hand, equal the hypergeometric formula."""
    rows = ["a", "a", "b", "b", "b", "c"]
    orders = set(itertools.permutations(rows))
    means = np.zeros(3)
    for order in orders:
        seen: set[str] = set()
        for i, record in enumerate(order):
            means[i // 2] += record in seen
            seen.add(record)
    means /= len(orders)
    got = exchangeable_copies(np.array([2, 2, 2]), 6, np.array([2, 3]))
    assert np.allclose(got, means), (got, means)


def base_clumping(file_order: list[int], count: int = 10) -> tuple[BatchCopies, int, np.ndarray]:
    """(``BatchCopies``, rows, the rows of each repeated record) of a base whose rows hold the records
    ``file_order`` (record ids in file order), counted as the gate counts a base's manifest."""
    records = np.asarray(file_order)
    by_record = np.argsort(records, kind="stable")  # a manifest's rows: by record, then file order
    batches = batches_of_ranks(by_record, count, len(records))
    counts = np.bincount(records)
    return batch_copies(records[by_record], batches, count), len(records), counts[counts > 1]


def test_a_sorted_file_clumps_and_the_same_rows_shuffled_do_not():
    """200 records held 5 times each: sorted (each record's rows together) its pseudo-batches repeat records
    several times as often as random order predicts; shuffled, about as often."""
    sorted_order = [r for r in range(200) for _ in range(5)]
    shuffled = list(np.random.default_rng(3).permutation(sorted_order))
    assert clumping_ratio(*base_clumping(sorted_order)) > 1.5
    assert 0.8 < clumping_ratio(*base_clumping(shuffled)) < 1.25


def test_one_clumped_pseudo_batch_widens_nothing():
    """A shuffled base with a flood of copies of one record appended as its last tenth: the most clumped pseudo-
    batch is left out, so the ratio stays that of the shuffled rows (attack review 23b's ratchet)."""
    rng = np.random.default_rng(5)
    clean = list(rng.permutation([r for r in range(300) for _ in range(3)]))
    flooded = clean + [7] * 100
    assert clumping_ratio(*base_clumping(flooded)) < 1.3


def test_raised_odds_multiplies_the_copies_per_unique_row():
    rate = raised_odds(0.25, 3.0)
    assert np.isclose(rate / (1 - rate), 3.0 * 0.25 / 0.75)
    assert raised_odds(0.25, 1.0) == 0.25 and raised_odds(0.0, 4.0) == 0.0


def delivery(held: np.ndarray, extra: np.ndarray, rows_added: int, base: tuple[BatchCopies, int, np.ndarray]) -> Copies:
    clumping, rows, repeated = base
    return Copies(extra.astype(np.int64), held.astype(np.int64), rows_added, rows, repeated.astype(np.int64), clumping)


def test_a_delivery_as_clumped_as_the_base_passes_and_a_redelivery_blocks():
    """A base of 1,000 rows in ten runs of 100, each run 10 records of 8 rows side by side and 20 records held once
    (a file sorted by those records): its pseudo-batches' copies fall in the class of records held at most once
    (each record is new to the rows before its run), so only the clumping ratio lifts the class of records held 5-8
    times. 180 copies of 36 of those records in 200 rows pass with it and block at the whole base's rate; 60 copies
    of records held once (a re-delivery) block with it."""
    order: list[int] = []
    for run in range(10):
        order += [r for r in range(10 * run, 10 * run + 10) for _ in range(8)] + list(
            range(100 + 20 * run, 120 + 20 * run)
        )
    base = base_clumping(order)
    spread = delivery(np.full(36, 8), np.full(36, 5), 200, base)
    assert not spread.blocks(0.02, 10), spread.excess(0.02, 10)
    assert replace(spread, clumping=None).blocks(0.02, 10)
    judged = spread.beyond_slack(0.02, 10)
    held_5_8 = next(c for c in judged.classes() if c["held"] == "5-8")
    assert 1.0 < judged.clumping_ratio < 4.0 and np.isclose(held_5_8["rate"], 0.8 * judged.clumping_ratio, atol=1e-6)
    # a re-delivery of 60 records the base holds once: the base repeats none of them, so no ratio makes room
    redelivered = delivery(np.ones(60), np.ones(60), 200, base)
    assert redelivered.blocks(0.02, 10), redelivered.excess(0.02, 10)
