"""Pseudo-batches: the trusted base cut into contiguous runs of its own file order.

Real deliveries arrive in batches (a new vendor, a new camera, new writers), and a
batch's records resemble each other more than they resemble the rest of the data. A
reference computed leave-one-out, or on a random split, never sees that, so a clean new
batch looks more unusual than any base record did (issue 14: three of three clean,
in-order batches of digits were blocked). The profile therefore cuts its sample into
pseudo-batches in the base's file order and computes every reference score with the
record's whole batch left out (grouped cross-validation, as in leave-one-group-out
conformal calibration; Barber et al. 2021 on jackknife+/CV+ with groups), and keeps
delta-level statistics of each pseudo-batch against the rest, so a new batch is judged
against how much the base's own batches differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def file_order(locators: Sequence[str | int | None]) -> list[tuple[str, int]]:
    """Sortable file-order keys from manifest locators.

    A locator is a row number (``"12"``), ``file#row`` in a folder of tables, or a path
    relative to a tree's root; the key sorts by file, then by row number as an integer.
    """
    keys = []
    for loc in locators:
        text = "" if loc is None else str(loc)
        head, sep, tail = text.rpartition("#")
        if sep and tail.isdigit():
            keys.append((head, int(tail)))
        elif text.isdigit():
            keys.append(("", int(text)))
        else:
            keys.append((text, 0))
    return keys


def file_order_ranks(positions: Sequence | np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Rank of each record in file order, after the rows were reordered by ``permutation``.

    ``positions`` is one sortable value per record, in the caller's row order (numbers,
    or the keys of ``file_order``); ties keep the caller's order.
    """
    positions = list(positions)
    if len(positions) != len(permutation):
        raise ValueError(f"{len(positions)} positions for {len(permutation)} records")
    order = sorted(range(len(positions)), key=lambda i: (positions[i], i))
    ranks = np.empty(len(positions), dtype=np.int64)
    ranks[np.asarray(order, dtype=np.int64)] = np.arange(len(positions))
    return ranks[permutation]


def pseudo_batches(ranks: np.ndarray, count: int) -> np.ndarray:
    """Batch index (int32, 0..count-1) of each sampled record: equal-sized runs of the
    sample in file order. The sample is a uniform draw of the base (smallest digests), so
    equal runs of the sample are runs of the base of about equal size."""
    m = len(ranks)
    if m == 0:
        return np.zeros(0, dtype=np.int32)
    within = np.empty(m, dtype=np.int64)
    within[np.argsort(ranks, kind="stable")] = np.arange(m)
    return (within * count // m).astype(np.int32)
