"""The shrink bound's one comparison, and the smallest policy value it accepts.

``[removals] max_removed_fraction`` is compared with the share removed, ``removed / base``, never with
``fraction * base``: the policy's two-place decimal and the share are then the same double exactly when the
decimal is the share (171 of 300 and 0.57), where ``0.57 * 300`` is 170.99999999999997 and blocked the 171 the
block's own advice had said 0.57 lets through (attack review 30a, A30a-5). The advice is computed by the same
comparison, so following it always lifts the block.
"""

from __future__ import annotations


def within_shrink(removed: int, base: int, fraction: float) -> bool:
    """Whether removing ``removed`` of ``base`` distinct records (integers, ``base`` > 0) is within ``fraction`` (the
    policy's ``max_removed_fraction``, 0..1): ``removed / base <= fraction``, both rounded once to a double."""
    return removed / base <= fraction


def smallest_lifting_fraction(removed: int, base: int) -> float:
    """The smallest two-place ``max_removed_fraction`` (0.01 steps, at most 1) that :func:`within_shrink` accepts
    for ``removed`` of ``base`` (``0 <= removed <= base``, ``base`` > 0): 0.57 for 171 of 300, 0.6 for 180."""
    hundredths = min(100, -(-100 * removed // base))  # the share rounded up to hundredths, in integers
    while hundredths < 100 and not within_shrink(removed, base, hundredths / 100):
        hundredths += 1  # not reached while division rounds correctly; kept so the advice can never fall short
    while hundredths > 0 and within_shrink(removed, base, (hundredths - 1) / 100):
        hundredths -= 1  # a share a hair above k/100 that rounds onto it is accepted by k/100 too
    return hundredths / 100
