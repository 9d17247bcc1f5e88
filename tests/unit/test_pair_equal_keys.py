"""`change_pairing.pair_equal_keys`, the one-to-one pairing `prov status` gives the records a retyped column re-keyed
(it replaced status_rekey's own byte-string ranking, tidy31): the k-th row of a key on one side with the k-th on the
other, in the order given, extras left unpaired."""

from __future__ import annotations

import numpy as np

from provenance.change_pairing import pair_equal_keys


def _pairs(old: list[list[int]], new: list[list[int]]) -> list[tuple[int, int]]:
    at_old, at_new = pair_equal_keys([np.array(k, np.int64) for k in old], [np.array(k, np.int64) for k in new])
    return sorted(zip(at_old.tolist(), at_new.tolist()))


def test_copies_pair_in_the_order_given_and_extras_stay_unpaired():
    # key 7 three times on the old side, twice on the new: the first two old rows take them, in order
    assert _pairs([[7, 5, 7, 7]], [[9, 7, 7, 5, 5]]) == [(0, 1), (1, 3), (2, 2)]


def test_two_key_columns_pair_only_where_both_are_equal():
    old = [[1, 1, 2], [0, 1, 0]]  # (digest id, label id) per row
    new = [[1, 2, 1], [1, 1, 3]]
    assert _pairs(old, new) == [(1, 0)]


def test_an_empty_side_pairs_nothing():
    assert _pairs([[]], [[1, 2]]) == [] and _pairs([[1]], [[]]) == []
