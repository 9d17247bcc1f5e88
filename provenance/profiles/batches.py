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

from provenance.names import is_row_number


def file_order(locators: Sequence[str | int | None]) -> list[tuple[str, int]]:
    """Sortable file-order keys from manifest locators.

    A locator is a row number (``"12"``), ``file#row`` in a folder of tables, or a path
    relative to a tree's root; the key sorts by file, then by row number as an integer.
    A row number is ASCII digits only (``"007"`` is 7), as prov writes them: other text
    ``str.isdigit`` reads as digits (``"²"``, which ``int`` refuses; ``"٣"``) ranks as text,
    as Arrow's ranking (``profiles.batch_copies.file_order_rank``) reads it too.
    """
    keys = []
    for loc in locators:
        text = "" if loc is None else str(loc)
        head, sep, tail = text.rpartition("#")
        if sep and is_row_number(tail):
            keys.append((head, int(tail)))
        elif is_row_number(text):
            keys.append(("", int(text)))
        else:
            keys.append((text, 0))
    return keys


OWN_CLASS_SHARE = 0.25
"""The base is cut within each class when, cut as one file order, a record's pseudo-batch holds on
average more than this share of its own class's records (an interleaved order: about 1 / count;
a class-sorted one: nearly all of them)."""


def pseudo_batches(ranks: np.ndarray, count: int, labels: np.ndarray | None = None) -> np.ndarray:
    """Batch index (int32, 0..count-1) of each sampled record: equal-sized runs of the
    sample in file order. The sample is a uniform draw of the base, so equal runs of the
    sample are runs of the base of about equal size.

    With ``labels`` (m,), a file order grouped by label (a tree of ``<class>/<file>``, a
    table sorted by class) is cut *within* each class instead: the batch of a record is its
    run of its own class's file order, so every batch holds every class. Cut as one file
    order, such a base's batches are its classes, and leaving a record's batch out leaves
    its own class out: every reference record then looks mislabelled to the label detectors
    (a class-sorted digits base flagged 5 of 10 flipped labels, the same base shuffled 10 of
    10). Grouped means what that harm needs: the file-order cut puts, on average, more than
    ``OWN_CLASS_SHARE`` of a record's class in its own batch. A count of label runs was
    undone by a few records appended in another order (attack review 9, D3: 15 interleaved
    records after 1,185 sorted ones, and 5 of 10 flips were found again); the share moves
    only with the records a batch holds, so switching the cut off takes interleaving most
    of the base.
    """
    m = len(ranks)
    if m == 0:
        return np.zeros(0, dtype=np.int32)
    within = np.empty(m, dtype=np.int64)
    order = np.argsort(ranks, kind="stable")
    within[order] = np.arange(m)
    plain = (within * count // m).astype(np.int32)
    if labels is None or not grouped_by_label(plain, np.asarray(labels)):
        return plain
    labels = np.asarray(labels)
    batches = np.empty(m, dtype=np.int32)
    for label in np.unique(labels):
        members = order[labels[order] == label]  # the class's records in file order
        batches[members] = (np.arange(len(members)) * count // len(members)).astype(np.int32)
    return batches


def grouped_by_label(batches: np.ndarray, labels: np.ndarray) -> bool:
    """True when ``batches`` (m,), the file-order cut, keep each label together: two or more labels,
    and a record's batch holds on average more than ``OWN_CLASS_SHARE`` of its class's records."""
    _, codes = np.unique(labels, return_inverse=True)
    if codes.max(initial=0) < 1:
        return False
    pairs = np.zeros((int(batches.max()) + 1, int(codes.max()) + 1), dtype=np.int64)
    np.add.at(pairs, (batches, codes), 1)
    own_share = pairs[batches, codes] / pairs.sum(0)[codes]
    return bool(own_share.mean() > OWN_CLASS_SHARE)
