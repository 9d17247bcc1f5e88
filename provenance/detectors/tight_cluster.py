"""The duplicates detector's tight-cluster rule: how close the base's own closest records are,
and whether exact feature twins are what the base looks like (``detectors.duplicates`` says how
the rule blocks; split from it to keep each module under STYLE's ~400 lines)."""

from __future__ import annotations

import numpy as np

from provenance.detectors.base import DetectorResult

NEAR_FLOOD_MIN = 3  # near copies in the delta from which a record's count is tested as a flood


def intrinsic_dimension(nn_dist: np.ndarray) -> float:
    """Levina-Bickel maximum-likelihood estimate from the reference's neighbour distances."""
    d = nn_dist[np.isfinite(nn_dist).all(1) & (nn_dist[:, 0] > 0)].astype(np.float64)
    if len(d) == 0 or d.shape[1] < 2:
        return 1.0
    logs = np.log(d[:, -1:] / d[:, :-1]).mean(1)
    estimate = float(np.mean(1.0 / np.maximum(logs, 1e-9)))
    return float(np.clip(estimate, 1.0, 1e3))


TIGHT_ORDER = 3
"""The base's tight-pair distance is its ``TIGHT_ORDER``-th smallest positive first-neighbour distance,
not the smallest: one planted near-twin of a base record (two first-neighbour distances, its own
and its original's) set the minimum and switched the rule off (attack review 6, finding 4). Larger
orders block clean batches of new writers (digits: at the 5th, a 300-record clean batch of
tests/cli/test_check.py; at the 10th, one more of the gate bench's 112), and any fixed order falls
to as many plants over releases (two near-twins, attack review 6b, finding 2): hence the floor."""

TIGHT_FLOOR_SHARE = 0.7
"""The floor under the tight-pair distance, as a share of ``expected_order_distance``: below the
empirical order statistic on every base of the gate bench (digits, breast cancer, cells, Seattle
weather: 0.80-1.25 of the prediction), so clean data is judged as before, while near-twins planted
over releases can shrink the radius by at most that much (bench/results/tight-radius.md)."""

TIGHT_FLOOR_QUANTILE = 0.05
"""The floor never exceeds this quantile of the base's positive first-neighbour distances: data whose
own records come this often in near-twins (DAAG's spam7: 13-16% closer than the floor) keeps a radius
on their scale, and faking that takes planting about this share of the sample."""

TWINS_SHARE = 0.01
"""The tight-cluster rule is off when, in every pseudo-batch of the base but one, at least this share
of the sample records (and two of them) have ``NEAR_FLOOD_MIN`` exact feature twins each (data of
repeated values), not when any one has, nor when 1% of the whole sample has (attack review 9, D2:
three twins with distinct digests in each of six deliveries, 1% of the sample, switched it off and a
six-copy flood passed)."""

EXACT_TWIN_SHARE = 1e-3
"""Two records are exact feature twins when their distance is below this share of the base's median
first-neighbour distance: a distance of 0 comes out as float rounding, ~1e-7 at 64 features and more
at thousands (attack review 8c, F1; the same bound as ``gate.quarantine_near.TWIN_SHARE``)."""

TWINS_COMMON_NOTE = (
    "exact feature twins are common throughout the base's file order (in every pseudo-batch but one); the "
    "tight-cluster rule stays on, since a source can spread planted twins over a file order no signature fixes; "
    "if the data repeats its values, the policy's [detectors] duplicates_tight_cluster = false stands it down"
)
TIGHT_CLUSTER_OFF = "off by the policy ([detectors] duplicates_tight_cluster = false)"


def stand_down_tight_cluster(result: DetectorResult) -> None:
    """Take the tight-cluster rule out of a duplicates ``result`` (the policy said the data repeats its
    values: ``[detectors] duplicates_tight_cluster = false``): its extreme evidence keeps the other
    rules only, and its summary says the policy stood it down."""
    if result.status != "ran" or result.extreme_p_rule_off is None:
        return
    result.extreme_p = result.extreme_p_rule_off
    result.summary["tight_cluster_rule"] = TIGHT_CLUSTER_OFF
    result.summary["tight_cluster_records"] = 0
    result.summary["note"] = "tight-cluster rule " + TIGHT_CLUSTER_OFF


def tightest_pair(loo_dist: np.ndarray) -> float:
    """How close the closest distinct base sample records are to each other, in standardised units.

    The ``TIGHT_ORDER``-th smallest positive first-neighbour distance of ``loo_dist`` (m, K) (the
    largest when there are fewer), raised to a floor that planted near-twins cannot lower:
    ``TIGHT_FLOOR_SHARE`` of where the bulk of the base's distances puts that order statistic
    (``expected_order_distance``), capped at the ``TIGHT_FLOOR_QUANTILE`` quantile of the positive
    first-neighbour distances (where that share of the base's own records is closer than the floor,
    such closeness is what the data looks like, and only that many plants could fake it). Returns
    0.0 when there is no positive distance (then no delta pair is closer, and the tight-cluster rule
    never fires)."""
    first = loo_dist[:, 0] if loo_dist.shape[1] else np.zeros(0)
    positive = first[np.isfinite(first) & (first > 0)]
    if not positive.size:
        return 0.0
    k = min(TIGHT_ORDER, positive.size) - 1
    empirical = float(np.partition(positive, k)[k])
    floor = TIGHT_FLOOR_SHARE * expected_order_distance(loo_dist, TIGHT_ORDER)
    return max(empirical, min(floor, float(np.quantile(positive, TIGHT_FLOOR_QUANTILE))))


def expected_order_distance(loo_dist: np.ndarray, order: int) -> float:
    """Where the ``order``-th smallest positive first-neighbour distance of ``loo_dist`` (m, K) falls
    when the small distances follow the bulk: with intrinsic dimension d (``intrinsic_dimension``), the
    share of records whose nearest neighbour is within r grows like r^d near 0, so from the median
    distance M of the m records, P(first < r) = (r / M)^d / 2 and the order-th smallest of m is about
    M * (2 * order / m)^(1/d). A median and a mean over every record: a few planted near-twins move
    neither. Standardised units; 0.0 without positive distances."""
    first = loo_dist[:, 0] if loo_dist.shape[1] else np.zeros(0)
    positive = first[np.isfinite(first) & (first > 0)]
    if not positive.size:
        return 0.0
    share = min(1.0, 2.0 * order / positive.size)
    return float(np.median(positive)) * share ** (1.0 / intrinsic_dimension(loo_dist))


def twins_common(loo_dist: np.ndarray, batches: np.ndarray) -> bool:
    """Whether exact feature twins are what the base looks like: in every pseudo-batch but one
    (``batches`` (m,), the sample's pseudo-batch indexes), at least ``TWINS_SHARE`` of its records
    (rows of ``loo_dist``, (m, K)), and two or more, have ``NEAR_FLOOD_MIN`` others at distance 0
    (``EXACT_TWIN_SHARE``).

    Data that repeats its values does so all along its file order; but the file order is the release
    file's writer's or, in an image tree, the source's own file names: twins planted in a few deliveries
    (a float changed below float32 precision, a PNG with another text chunk: distinct digests,
    identical features) can be spread over every batch (attack review 10, D10-1). So this is only a
    hint, said in the duplicates detector's note; the policy alone stands the rule down."""
    if not len(loo_dist):
        return False
    first = loo_dist[:, 0] if loo_dist.shape[1] else np.zeros(0)
    positive = first[np.isfinite(first) & (first > 0)]
    bound = EXACT_TWIN_SHARE * float(np.median(positive)) if positive.size else 0.0
    twins = (loo_dist <= bound).sum(1) >= NEAR_FLOOD_MIN
    batches = np.asarray(batches, dtype=np.int64)
    sizes = np.bincount(batches)
    held = np.bincount(batches, weights=twins, minlength=len(sizes))
    present = sizes > 0
    repeating = held[present] >= np.maximum(TWINS_SHARE * sizes[present], 2)
    return bool(repeating.sum() >= max(int(present.sum()) - 1, 1))
