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


def pseudo_batches(ranks: np.ndarray, count: int, labels: np.ndarray | None = None) -> np.ndarray:
    """Batch index (int32, 0..count-1) of each sampled record: equal-sized runs of the
    sample in file order. The sample is a uniform draw of the base (smallest digests), so
    equal runs of the sample are runs of the base of about equal size.

    With ``labels`` (m,), a file order grouped by label (a tree of ``<class>/<file>``, a
    table sorted by class: ``grouped_by_label``) is cut *within* each class instead: the
    batch of a record is its run of its own class's file order, so every batch holds every
    class. Cut as one file order, such a base's batches are its classes, and leaving a
    record's batch out leaves its own class out: every reference record then looks
    mislabelled to the label detectors (a class-sorted digits base flagged 5 of 10 flipped
    labels, the same base shuffled 10 of 10).
    """
    m = len(ranks)
    if m == 0:
        return np.zeros(0, dtype=np.int32)
    within = np.empty(m, dtype=np.int64)
    order = np.argsort(ranks, kind="stable")
    if labels is None or not grouped_by_label(np.asarray(labels)[order]):
        within[order] = np.arange(m)
        return (within * count // m).astype(np.int32)
    labels = np.asarray(labels)
    batches = np.empty(m, dtype=np.int32)
    for label in np.unique(labels):
        members = order[labels[order] == label]  # the class's records in file order
        batches[members] = (np.arange(len(members)) * count // len(members)).astype(np.int32)
    return batches


def grouped_by_label(labels_in_file_order: np.ndarray) -> bool:
    """True when the file order keeps each label in about one run: at most twice as many
    runs of equal labels as there are labels (two or more), where an interleaved order has
    runs about as many as records."""
    labels = np.asarray(labels_in_file_order)
    classes = len(np.unique(labels))
    if classes < 2:
        return False
    runs = 1 + int(np.count_nonzero(labels[1:] != labels[:-1]))
    return runs <= 2 * classes
