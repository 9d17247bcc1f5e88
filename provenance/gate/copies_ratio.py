"""How many times more a base's own file-order pseudo-batches repeat records than the same rows in random order.

The copies rule (``gate.copies``) raises each class's rate to the copies per row its most clumped pseudo-batch but
one carried in that class. That misses a sorted file's clumping in the classes of records the base holds many
times: a pseudo-batch is counted on the rows before it, where such a record was held fewer times, so its copies fall
in lower classes, and a clean next batch counted on the whole base puts them in classes the pseudo-batches never
filled (issue 14: Ecdat's DoctorAUS, sorted by age, 18 copies of records held 17-32 times in a clean batch of 308
rows where its pseudo-batches held none; bench/results/fpr31-clumping-doctor_aus-spam7-attrition-12-seed1.md).

The *clumping ratio* is read per pseudo-batch, all classes together: its copies over the copies the same rows
carry on average when the base's rows are in random order (``exchangeable_copies``: for a record of ``c`` of the
base's ``n`` rows, the chance it is among the first ``t`` rows is ``1 - C(n - c, t) / C(n, t)``; a batch's expected
copies are its rows less the distinct records it adds), at least one copy expected. The ratio is the most but one
(``profiles.batch_copies.trimmed``, as the rates: a flood appended at the end of the base widens nothing), and the
rule scales every class's expected copies by it, never past ``CLUMPING_CAP`` times the whole base's rate. In random
order the ratio is about one (DoctorAUS 0.9-1.1, spam7 0.6-0.7 on the bench's batches); in DoctorAUS's file order 2-3.
Counted from the same signed-manifest counts as the rates (``profiles.base_clumping``) and the diff's verified
repetition; nothing read from a writable row.
"""

from __future__ import annotations

import numpy as np

from provenance.profiles.batch_copies import BatchCopies, trimmed
from provenance.stats import special_functions


def seen_by(rows_of_record: np.ndarray, base_rows: int, first: np.ndarray) -> np.ndarray:
    """(len(first),) for each count ``t`` of ``first`` rows, the expected number of the records of
    ``rows_of_record`` (k,) rows each, among ``base_rows`` rows in random order, that have a row among the first
    ``t``: the sum of ``1 - C(n - c, t) / C(n, t)`` (hypergeometric: none of its ``c`` rows drawn)."""
    special = special_functions()
    n = float(base_rows)
    c = np.asarray(rows_of_record, dtype=np.float64)[None, :]
    t = np.asarray(first, dtype=np.float64)[:, None]
    possible = n - c - t >= 0  # otherwise one of its rows is surely among the first t
    with np.errstate(invalid="ignore"):
        log_none = (
            special.gammaln(n - c + 1)
            + special.gammaln(n - t + 1)
            - special.gammaln(np.where(possible, n - c - t, 0.0) + 1)
            - special.gammaln(n + 1)
        )
    none = np.where(possible, np.exp(np.where(possible, log_none, 0.0)), 0.0)
    return (1.0 - none).sum(axis=1)


def exchangeable_copies(batch_rows: np.ndarray, base_rows: int, repeated: np.ndarray) -> np.ndarray:
    """(B,) the copies each of the pseudo-batches of ``batch_rows`` (B,) rows, one after another from the base's
    first row, carries on average when the base's ``base_rows`` rows are in random order; ``repeated`` (r,) the rows
    of each record the base holds more than once (a record held once is never copied). A copy is a row whose record
    has a row before it."""
    rows = np.asarray(batch_rows, dtype=np.int64)
    ends = np.cumsum(rows)
    edges = np.r_[0, ends]
    rep = np.asarray(repeated, dtype=np.int64)
    once = max(base_rows - int(rep.sum()), 0)
    distinct = seen_by(rep, base_rows, edges) + once * edges / max(base_rows, 1)
    return np.maximum(rows - np.diff(distinct), 0.0)


def clumping_ratio(clumping: BatchCopies, base_rows: int, repeated: np.ndarray) -> float:
    """The base's clumping ratio (module docstring): per pseudo-batch of ``clumping`` its copies (every class) over
    ``exchangeable_copies`` (at least one), the most but one; 0 without pseudo-batches."""
    if not len(clumping.rows):
        return 0.0
    expected = np.maximum(exchangeable_copies(clumping.rows, base_rows, repeated), 1.0)
    ratios = clumping.copies.sum(axis=1) / expected
    return float(trimmed(ratios[:, None], 0)[0])


def raised_odds(rate: float, ratio: float) -> float:
    """``rate`` (a share of rows that copy, below 1) with its odds times ``ratio``: the share at which a delivery's
    copies per unique row (``rate / (1 - rate)``, the total test's mean) are ``ratio`` times as many."""
    odds = ratio * rate / max(1.0 - rate, 1e-12)
    return odds / (1.0 + odds)
