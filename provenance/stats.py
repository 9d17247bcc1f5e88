"""The statistics behind prov's diff signals and release gate, on ``scipy.stats``.

One place for every tail probability and test prov reports: the chi-square and
Poisson upper tails of the diff-level signals, the binomial tail and upper limit of the
gate's detector budgets, and the chi-square test of homogeneity behind class-mix shifts
and concentrated removals. Each function documents its distribution, its edge cases and
the scipy routine it calls; the tests compare them with scipy and with the values
prov's earlier hand-written incomplete-gamma code gave on fixed inputs.

scipy (and numpy) are imported inside each function, not at module level: most commands
(``prov --help``, ``prov sign``, ``prov commit``) never need them and should not pay for
loading them. The chi-square and Poisson tails (all that ``prov diff`` needs) call the
``scipy.special`` functions ``scipy.stats`` itself calls (``chdtrc``, ``pdtrc``), giving
the same bits: ``scipy.stats`` takes ~1 s to import, ``scipy.special`` a third of that.
The binomial tail and upper limit of the gate's budgets call the ufuncs ``scipy.stats.binom``
calls (``scipy.special._ufuncs._binom_sf`` / ``_binom_isf``), tested bit for bit against it.
Every one of them comes from ``special_functions()``: the compiled ufunc module alone,
without ``scipy.special``'s package ``__init__`` (see there).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


_SPECIAL_LOCK = threading.Lock()


def special_functions() -> Any:
    """``scipy.special._ufuncs``: the compiled module behind ``scipy.special.chdtrc``, ``pdtrc``,
    ``betaln``, ``betainc`` and the binomial ufuncs ``scipy.stats.binom`` calls (the same
    objects ``scipy.special`` exports, so the same bits).

    Without ``scipy.special``'s package ``__init__`` where possible: that ``__init__``
    wraps functions for other array libraries (``array_api_compat``), and importing the
    wrappers pulls in ``numpy.f2py``, ``numpy.testing``, ``numpy.ma`` and
    ``charset_normalizer``: ~0.13 s of CPU in every ``prov diff`` (a sixteenth of a
    ``diff --detect``), for functions prov never calls. The extension module is loaded
    under a placeholder parent package, which is then taken away again, so a later
    ``import scipy.special`` runs the real ``__init__`` (which reuses this very module).
    Any surprise (another scipy layout) falls back to the plain import.
    """
    loaded = sys.modules.get("scipy.special._ufuncs")
    if loaded is not None:
        return loaded
    with _SPECIAL_LOCK:
        if "scipy.special" not in sys.modules:
            try:
                return _ufuncs_alone()
            except ImportError:
                pass
        from scipy.special import _ufuncs

        return _ufuncs


def _ufuncs_alone() -> Any:
    """Load ``scipy.special._ufuncs`` (and the extension modules it imports) under a
    placeholder ``scipy.special``, removed again afterwards whatever happens."""
    import scipy

    placeholder = types.ModuleType("scipy.special")
    placeholder.__path__ = [os.path.join(os.path.dirname(scipy.__file__), "special")]
    sys.modules["scipy.special"] = placeholder
    try:
        from scipy.special import _ufuncs
    except Exception as exc:  # another layout: leave nothing half-loaded, take the plain import
        for name in [n for n in sys.modules if n.startswith("scipy.special.")]:
            del sys.modules[name]
        raise ImportError(str(exc)) from exc
    finally:
        if sys.modules.get("scipy.special") is placeholder:
            del sys.modules["scipy.special"]
    return _ufuncs


def chi2_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X ~ chi-square(df): the p-value of a chi-square statistic.

    Args:
        statistic: the observed chi-square value (>= 0).
        df: degrees of freedom; ``df <= 0`` (a table with one class) gives 1.0, since
            no difference can be tested.

    Returns:
        A probability in [0, 1], accurate far into the tail (down to ~1e-300), from
        ``scipy.stats.chi2.sf``.
    """
    if df <= 0:
        return 1.0
    return float(special_functions().chdtrc(df, statistic))  # what scipy.stats.chi2.sf computes


def poisson_sf(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean): the one-sided p-value of seeing ``k`` or more events.

    Note the ``>=``: scipy's ``poisson.sf(k)`` is P(X > k), so this is ``poisson.sf(k - 1, mean)``.

    Args:
        k: observed count of events.
        mean: expected count under the null hypothesis (events, not a rate).

    Returns:
        1.0 when ``k <= 0`` (always seen); 0.0 when ``mean <= 0`` and ``k > 0`` (impossible
        under the null); otherwise the upper tail.
    """
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    return float(
        special_functions().pdtrc(math.floor(k - 1), mean)
    )  # what scipy.stats.poisson.sf(k - 1, mean) computes


def poisson_sf_many(k: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """P(X >= k) for X ~ Poisson(mean), element-wise over arrays: ``poisson_sf`` vectorised.

    The same bits as ``scipy.stats.poisson.sf(k - 1, mean)`` (which calls
    ``scipy.special.pdtrc`` on the floor of its argument and clips to [0, 1]; an argument
    below 0 gives 1.0), without importing scipy.stats (~1 s).

    Args:
        k: observed counts (any shape); ``mean``: expected counts (> 0), broadcast with ``k``.
    """
    import numpy as np

    special = special_functions()
    below = np.asarray(k, dtype=np.float64) - 1.0
    mean = np.asarray(mean, dtype=np.float64)
    below, mean = np.broadcast_arrays(below, mean)
    out = np.ones(below.shape, dtype=np.float64)
    tail = below >= 0
    out[tail] = np.clip(special.pdtrc(np.floor(below[tail]), mean[tail]), 0, 1)
    return out


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the chance of ``k`` or more successes in ``n`` trials.

    Args:
        k: observed successes (for the gate: records a detector flagged).
        n: trials (records scored).
        p: success probability per trial (the detector's calibrated false-positive rate).

    Returns:
        1.0 when ``k <= 0``, 0.0 when ``k > n``, otherwise ``scipy.stats.binom.sf(k - 1, n, p)``.
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return _binom_sf(k - 1, n, p)


def _binom_sf(k: int, n: int, p: float) -> float:
    """``scipy.stats.binom.sf(k, n, p)`` for ``0 <= k < n``, bit for bit: the ufunc
    ``scipy.stats`` calls there (Boost's binomial complement), clipped as it clips, without
    importing ``scipy.stats`` (~0.4 s of a fresh ``prov diff --detect``; tested against it)."""
    return float(min(max(special_functions()._binom_sf(float(k), n, p), 0.0), 1.0))


def binomial_upper_limit(n: int, p: float, alpha: float) -> int:
    """The most successes Binomial(n, p) reaches except with probability below ``alpha``.

    The smallest k >= floor(n * p) with P(X > k) < alpha. For the release gate: a clean
    delta of ``n`` records, scored by a detector calibrated to false-positive rate ``p``,
    flags more than k records with probability below ``alpha``, so more than k flags is
    evidence of something other than chance.

    Args:
        n: trials (records scored), >= 0.
        p: success probability in (0, 1).
        alpha: significance level in (0, 1).

    Returns:
        An integer in [floor(n * p), n]; 0 when ``n == 0``.
    """
    if n <= 0:
        return 0
    floor = int(n * p)
    # isf gives the quantile with a non-strict tail (<= alpha); step to the strict one.
    # ``scipy.stats.binom.isf`` is this ufunc for alpha in (0, 1); sf as ``_binom_sf``.
    k = max(floor, int(special_functions()._binom_isf(alpha, n, p)))
    while k < n and _binom_sf(k, n, p) >= alpha:
        k += 1
    while k > floor and _binom_sf(k - 1, n, p) < alpha:
        k -= 1
    return k


@dataclass(frozen=True)
class Homogeneity:
    """The result of a chi-square test of homogeneity on a 2 x k table of counts.

    Attributes:
        statistic: Pearson's chi-square statistic (no continuity correction).
        df: degrees of freedom, k - 1 over the classes with any count.
        p_value: P(chi-square(df) >= statistic); 1.0 when a sample is empty or df is 0.
        expected: expected counts under homogeneity, shape (2, k), rows as given.
        effect_w: Cohen's w of the first sample against the pooled mix,
            sqrt(sum((o - e)^2 / e) / n) over the first row: the size of the shift,
            which (unlike the statistic) does not grow with the second sample.
    """

    statistic: float
    df: int
    p_value: float
    expected: np.ndarray
    effect_w: float


def chi_square_homogeneity(sample: Sequence[int], reference: Sequence[int]) -> Homogeneity:
    """Do two samples of class counts share one class mix? Pearson's chi-square test of homogeneity.

    Both samples are finite, so the reference's mix is an estimate too: a goodness-of-fit
    test against it as if exact over-rejects samples that are large next to the reference.
    This is ``scipy.stats.chi2_contingency(..., correction=False)`` on the 2 x k table.

    Args:
        sample: counts per class of the sample under test (for prov: the added or
            removed records), one entry per class.
        reference: counts per class of the reference (the base), same classes in the
            same order. Classes where both counts are 0 must be left out by the caller.

    Returns:
        A ``Homogeneity``. A sample or reference with no records, or a single class,
        cannot be tested: statistic 0, p-value 1, effect 0.

    Raises:
        ValueError: if the two sequences differ in length, hold a negative count, or
            have a class with no count in either.
    """
    import numpy as np

    table = np.array([list(sample), list(reference)], dtype=np.float64)
    if table.ndim != 2 or table.shape[0] != 2:
        raise ValueError("sample and reference must give one count per class, the same classes")
    if (table < 0).any():
        raise ValueError("counts must not be negative")
    if (table.sum(axis=0) == 0).any():
        raise ValueError("every class must have a count in one of the samples; leave empty classes out")
    k = table.shape[1]
    df = max(k - 1, 0)
    n, m = table.sum(axis=1)
    if n == 0 or m == 0 or df == 0:
        totals = table.sum(axis=0)
        expected = np.outer(table.sum(axis=1), totals / totals.sum()) if k else np.zeros_like(table)
        return Homogeneity(0.0, df, 1.0, expected, 0.0)
    # scipy.stats.chi2_contingency(table, correction=False), step for step (same bits)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    observed_part = float((((table[0] - expected[0]) ** 2) / expected[0]).sum())
    return Homogeneity(statistic, df, chi2_sf(statistic, df), expected, math.sqrt(observed_part / n))
