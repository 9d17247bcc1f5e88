"""How many combined flags a clean delta may carry, allowing for drift between batches.

The combined verdict (``detectors.combine``) flags a clean record with probability
``fpr`` when the record is exchangeable with the reference. Records of a real delivery
are not independent draws: a batch of new writers, a new camera or a later season moves
*all* its records a little, so a clean batch's flag rate varies from batch to batch more
than a binomial allows (issue 14 measured 4.3% on in-order digits batches at a nominal 1%,
where the binomial budget blocked five of six clean batches).

The model here is the beta-binomial: a batch's flag rate is itself drawn from a Beta
distribution with mean ``fpr`` and intra-batch correlation ``rho``, so ``n`` records carry
a variance of ``n fpr (1 - fpr) (1 + (n - 1) rho)`` flags. ``rho`` is estimated from the
trusted base's own pseudo-batches (runs of its file order, ``profiles.batches``): how far
their flag rates, under the same conformal calibration, spread beyond the binomial
(the analysis-of-variance estimator of the intraclass correlation for binary data,
Fleiss 1981, *Statistical Methods for Rates and Proportions*, ch. 13; Ridout, Demetrio
and Firth 1999, *Biometrics* 55), counted at a level where the reference holds at least 20
records (``combine.dispersion_level``: at ``fpr`` a small reference holds four or five, and
the estimate swung on one of them). Ten pseudo-batches give a noisy estimate, and one odd
base batch would make the budget lenient, so ``rho`` is capped at ``RHO_CAP`` and the
variance factor ``1 + (n - 1) rho`` at ``MAX_VARIANCE_FACTOR`` (fourfold): without the
second cap a 10,000-record delta would be allowed about a hundredfold variance, so one odd
batch in the base (a source's earlier delivery) would buy later deliveries hundreds of
extra flags.

The reference is finite, and that spreads a clean batch's flag count too: a record is flagged
when its combined statistic ranks among the lowest ``fpr (m + 1)`` of the ``m`` reference
records', so conditional on the reference the flag rate of a clean batch is not ``fpr`` but a
draw from Beta(k, m + 1 - k) around it (Vovk 2012, *Conditional validity of inductive conformal
predictors*; Angelopoulos and Bates 2021, section 3.2): an intra-batch correlation of 1 / (m + 2)
that every record of the delta shares. It is exact, not estimated, so it is added to ``rho``
outside both caps (a delta ten times the reference is judged by a reference that size: the
demo's clean release, 400 records against 540, has a variance factor 1.7, a 10,000-record
delta against a 20,000-record sample 1.5). The base's pseudo-batches do not show it: their
flags are counted against the reference they are part of.

A second count keeps the budget from hiding strong evidence: records *beyond the whole
reference*, trimmed of its most extreme pseudo-batch (``beyond.trimmed_reference``; m'
records kept). A clean record of a new batch lands there at a rate measured on the base's
own pseudo-batches, each held out in turn (``beyond.out_of_fold_rate``: 2-5x the
1 / (m' + 1) an exchangeable record would give), so a delta of ``n`` records has about
``n`` times that rate of them, with the same overdispersion; many more block even when the
flag count stays within its budget.

A third count looks deeper: records *far* beyond that reference (``beyond.FAR_FACTOR``), at the rate
and with the overdispersion the base's held-out pseudo-batches show for them
(``beyond.out_of_fold``). Drift moves a batch's records past the bar together; it rarely takes them
a thousandfold further, so this count is not widened by the flag count's drift, and a handful of
records far outside everything the base's own batches did block where the flag budget would let
them through. Unlike the flag count it takes no 1 / (m' + 2) for the finite reference: its rate is
measured with each held-out batch judged against a bar set by the others (so the bar's own
variation is in the counts and their spread), and it is the add-one rate (1 + k) / (1 + held out),
which already allows a base that showed no such record 1 / (1 + held out) of them. With the term as
well (sessions 11-12), a base of 309 breast-cancer records allowed 6 such records in 157 where the
measured rate gives 4, and 5-13 patched records with clean twins at 0 passed (session 13: the gate
bench's poisoned batches blocked 77 -> 82 of 112 in file order, 76 -> 82 at random, every clean
outcome unchanged; bench/results/gate-pass-rate*.md). Each count is tested at ``alpha``: the three
together at most ``3 alpha``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RHO_CAP = 0.01  # the largest intra-batch correlation the budget allows for
MAX_VARIANCE_FACTOR = 4.0  # the most the budget widens a delta's binomial variance, whatever its size


def effective_rho(rho: float, n: int) -> float:
    """``rho`` lowered so that ``1 + (n - 1) rho`` stays within ``MAX_VARIANCE_FACTOR`` for ``n`` records."""
    if n <= 1:
        return rho
    return min(rho, (MAX_VARIANCE_FACTOR - 1.0) / (n - 1.0))


def overdispersion(sizes: Sequence[int], flags: Sequence[int], cap: float = RHO_CAP) -> float:
    """The intra-batch correlation of flags, estimated from the reference's pseudo-batches.

    Args:
        sizes: records per pseudo-batch (B,), each > 0.
        flags: flagged records per pseudo-batch (B,), ``0 <= flags[b] <= sizes[b]``.
        cap: the largest value returned.

    Returns:
        ``rho`` in [0, cap] by the analysis-of-variance estimator (Fleiss 1981): 0 with fewer
        than two batches, no flag at all, or a spread the binomial already explains.
    """
    pairs = [(int(s), int(k)) for s, k in zip(sizes, flags, strict=True) if s > 0]
    if len(pairs) < 2:
        return 0.0
    total = sum(s for s, _ in pairs)
    p = sum(k for _, k in pairs) / total
    if p <= 0.0 or p >= 1.0:
        return 0.0
    b = len(pairs)
    between = sum(s * (k / s - p) ** 2 for s, k in pairs) / (b - 1)
    n0 = (total - sum(s * s for s, _ in pairs) / total) / (b - 1)
    within = p * (1.0 - p)
    rho = (between - within) / (between + (n0 - 1.0) * within)
    return float(min(max(rho, 0.0), cap))


def upper_limit(n: int, p: float, alpha: float, rho: float) -> int:
    """The most flags of ``n`` records at rate ``p`` and intra-batch correlation ``rho``,
    except with probability below ``alpha``: the smallest ``k >= floor(n p)`` with
    ``P(X > k) < alpha``, X beta-binomial (binomial when ``rho`` is 0, ``stats.binomial_upper_limit``).

    Args:
        n: records scored (>= 0); p: flag rate in (0, 1); alpha: level in (0, 1); rho: in [0, 1).

    Returns:
        An integer in [floor(n p), n]; 0 when ``n == 0``.
    """
    from provenance import stats as prov_stats

    if n <= 0:
        return 0
    if rho <= 0.0:
        return prov_stats.binomial_upper_limit(n, p, alpha)
    sf = BetaBinomialTail(n, *_beta_parameters(p, rho))
    floor = int(n * p)
    # Start where the strict quantile is when the tail falls with k (it does, up to
    # rounding); the two steps below then give exactly the earlier loop's answer.
    lo, hi = floor, n
    while lo < hi:
        mid = (lo + hi) // 2
        if sf(mid) >= alpha:
            lo = mid + 1
        else:
            hi = mid
    k = lo
    while k < n and sf(k) >= alpha:
        k += 1
    while k > floor and sf(k - 1) < alpha:
        k -= 1
    return k


def tail_p(k: int, n: int, p: float, rho: float) -> float:
    """P(X >= k) for X beta-binomial with ``n`` trials, mean rate ``p`` and correlation ``rho``
    (binomial when ``rho`` is 0)."""
    from provenance import stats as prov_stats

    if k <= 0:
        return 1.0
    if rho <= 0.0:
        return prov_stats.binomial_sf(k, n, p)
    return BetaBinomialTail(n, *_beta_parameters(p, rho))(k - 1)


class BetaBinomialTail:
    """``k -> P(X > k)`` for X beta-binomial(n, a, b): ``scipy.stats.betabinom(n, a, b).sf``
    bit for bit, without importing ``scipy.stats`` (~0.4 s of a fresh ``prov diff --detect``).

    scipy computes it with its generic discrete machinery: ``1 - sum(pmf(0..k))``, the sum
    in numpy's (pairwise) order, clipped to [0, 1]; the pmf is ``exp(-log(n + 1) -
    betaln(n - k + 1, k + 1) + betaln(k + a, n - k + b) - betaln(a, b))``. The same
    expressions here, with the pmf kept between calls (elementwise, so a longer array has
    the same leading values); 1.0 for k < 0 and 0.0 for k >= n, as scipy gives. Tested
    against ``scipy.stats.betabinom.sf`` bit for bit.
    """

    def __init__(self, n: int, a: float, b: float) -> None:
        import numpy as np

        self.n, self.a, self.b = n, a, b
        self._pmf = np.zeros(0)

    def __call__(self, k: int) -> float:
        """P(X > k), a float in [0, 1]."""
        import numpy as np

        from provenance.stats import special_functions

        betaln = special_functions().betaln  # scipy.special.betaln, without its package __init__
        if k < 0:
            return 1.0
        if k >= self.n:
            return 0.0
        if len(self._pmf) <= k:
            size = min(self.n, max(2 * len(self._pmf), k + 1, 64))
            m = np.arange(0.0, float(size))
            n, a, b = np.int64(self.n), self.a, self.b
            combiln = -np.log(n + 1) - betaln(n - m + 1, m + 1)
            self._pmf = np.exp(combiln + betaln(m + a, n - m + b) - betaln(a, b))
        return float(np.clip(1.0 - np.sum(self._pmf[: k + 1], axis=0), 0.0, 1.0))


def _beta_parameters(p: float, rho: float) -> tuple[float, float]:
    scale = 1.0 / rho - 1.0
    return p * scale, (1.0 - p) * scale


@dataclass(frozen=True)
class Budget:
    """What a clean delta of ``n`` records may carry (``flag_budget``).

    ``flags``: combined flags allowed; ``beyond``: records beyond the whole reference
    allowed; ``rho``: the intra-batch correlation both allow for (the base's batch drift, capped,
    plus the finite reference's 1 / (m + 2)); ``beyond_rate``: the rate a
    clean record lands beyond the reference (``Verdicts.beyond_rate``, else 1 / (m' + 1)).
    """

    n: int
    fpr: float
    alpha: float
    rho: float
    flags: int
    beyond_rate: float
    beyond: int
    # records far beyond the trimmed reference allowed (``n`` when the count is off: no measured rate),
    # their rate and intra-batch correlation (``beyond.out_of_fold``)
    far: int = 0
    far_rate: float = 0.0
    far_rho: float = 0.0

    def p_values(self, flagged: int, beyond: int) -> tuple[float, float]:
        """Tail p-values of ``flagged`` combined flags and ``beyond`` records beyond the reference."""
        if self.n == 0:
            return 1.0, 1.0
        return tail_p(flagged, self.n, self.fpr, self.rho), tail_p(beyond, self.n, self.beyond_rate, self.rho)

    def far_p_value(self, far: int) -> float:
        """Tail p-value of ``far`` records far beyond the reference (1 when the count is off)."""
        if self.n == 0 or self.far_rate <= 0.0:
            return 1.0
        return tail_p(far, self.n, self.far_rate, self.far_rho)


def flag_budget(
    n: int,
    fpr: float,
    alpha: float,
    reference_size: int,
    batch_sizes: Sequence[int] = (),
    batch_flags: Sequence[int] = (),
    beyond_rate: float | None = None,
    calibration_size: int | None = None,
    far_rate: float = 0.0,
    far_rho: float = 0.0,
) -> Budget:
    """The budget of a delta of ``n`` records (see the module docstring).

    Args:
        n: records the verdict judges; fpr: the combined verdict's rate; alpha: the gate's level.
        reference_size: m', the records of the trimmed reference that "beyond" is judged against
            (``Verdicts.beyond_size``); a clean record lies beyond all of them at rate 1 / (m' + 1).
        batch_sizes, batch_flags: per pseudo-batch of the reference, its records and how many lie at or
            below the dispersion level (``Verdicts.reference_batch_sizes`` / ``reference_batch_flags``);
            empty for a binomial budget.
        beyond_rate: the measured rate a clean record lands beyond the trimmed reference
            (``Verdicts.beyond_rate``); None or 0 for 1 / (m' + 1).
        calibration_size: m, the reference records the combined verdict is calibrated on
            (``Verdicts.reference_size``); None for ``reference_size``. Adds 1 / (m + 2) to ``rho``.
        far_rate, far_rho: how often a clean record of a held-out pseudo-batch lies far beyond the trimmed
            reference, and how those counts spread between batches (``Verdicts.far_rate`` / ``far_rho``);
            a ``far_rate`` of 0 turns the count off (``far`` = ``n``).

    Returns:
        A ``Budget``. Each count is tested at ``alpha`` (three tests: the rule's level is at most 3 alpha).
    """
    rho = effective_rho(overdispersion(batch_sizes, batch_flags) if len(batch_sizes) else 0.0, n)
    m = reference_size if calibration_size is None else calibration_size
    if m > 0:
        rho += 1.0 / (m + 2.0)  # the finite reference (module docstring): exact, outside the caps
    if not beyond_rate:
        beyond_rate = 1.0 / (reference_size + 1.0) if reference_size > 0 else fpr
    far = n
    if far_rate > 0.0:
        far_rho = effective_rho(far_rho, n)  # measured against held-out bars: no finite-reference term
        far = upper_limit(n, far_rate, alpha, far_rho)
    return Budget(
        n=n,
        fpr=fpr,
        alpha=alpha,
        rho=rho,
        flags=upper_limit(n, fpr, alpha, rho),
        beyond_rate=beyond_rate,
        beyond=upper_limit(n, beyond_rate, alpha, rho),
        far=far,
        far_rate=far_rate,
        far_rho=far_rho,
    )
