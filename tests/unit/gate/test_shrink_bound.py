"""The shrink bound's comparison and the advice the block gives (attack review 30a, A30a-5): following the advice, as
the user types it into a policy file, always lifts the block, and one hundredth less never does."""

from __future__ import annotations

import tomllib

import pytest

from provenance.gate.shrink_bound import smallest_lifting_fraction, within_shrink


def _as_typed(fraction: float) -> float:
    """``fraction`` as the block prints it (``:g``) and a policy file then reads it back (TOML)."""
    return tomllib.loads(f"max_removed_fraction = {fraction:g}")["max_removed_fraction"]


@pytest.mark.parametrize(
    ("removed", "base", "advised"),
    [(171, 300, 0.57), (207, 300, 0.69), (246, 300, 0.82), (57, 100, 0.57), (58, 100, 0.58), (180, 300, 0.6),
     (1, 3, 0.34), (2, 3, 0.67), (151, 300, 0.51), (300, 300, 1.0), (0, 7, 0.0), (1, 10**9, 0.01)],
)  # fmt: skip
def test_the_advice_is_the_smallest_two_place_share_the_bound_accepts(removed, base, advised):
    assert smallest_lifting_fraction(removed, base) == advised
    assert within_shrink(removed, base, _as_typed(advised))
    if advised:
        assert not within_shrink(removed, base, _as_typed(round(advised - 0.01, 2)))


def test_every_share_of_a_base_up_to_400_is_lifted_by_its_advice_and_not_by_less():
    for base in range(1, 401):
        for removed in range(base + 1):
            advised = smallest_lifting_fraction(removed, base)
            assert within_shrink(removed, base, _as_typed(advised)), (removed, base, advised)
            hundredths = round(100 * advised)
            assert hundredths == -(-100 * removed // base), (removed, base, advised)  # the exact share, rounded up
            if hundredths:
                assert not within_shrink(removed, base, _as_typed((hundredths - 1) / 100)), (removed, base)


def test_the_bound_takes_a_share_equal_to_the_fraction_and_blocks_one_record_more():
    assert within_shrink(150, 300, 0.5) and not within_shrink(151, 300, 0.5)
    assert within_shrink(171, 300, 0.57)  # 0.57 * 300 is 170.99999999999997 in floating point
