"""Pairing the records of a signed manifest with the records read now, in columns: no object per record.

``provenance.changes.record_changes`` names what changed; this module finds which rows are which
kind with Arrow and numpy (dictionary ids, ranks and sorts), so that data edited in every record
costs a few integer arrays per record, not a Python dict each (attack review 25d: 2.5 GiB at 1M
rows, so a data-folder writer's edit of 10M rows made ``prov verify`` die of memory, not exit 1).

The rules are ``record_changes``' own: rows on both sides with the same (digest, label, locator)
are unchanged; copies of one content digest are paired at the same label first, in natural
locator order (a moved record is no change), then across labels (relabels); what is left is
added or removed, and an added and a removed record at one locator are one ``changed`` record
(at most one pair per locator), unless no record at all is shared.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ROW_NUMBERS = "^[0-9]{1,18}$"  # fits int64: row numbers, the usual locator, order without Python
_CHUNK = 1 << 16  # locators turned into sort keys at a time when they are not all row numbers


def natural_bytes(locator: str) -> bytes:
    """Bytes that sort as ``changes.natural_key`` does: text pieces by code point, digit runs by value.

    Each piece is tagged (digits 0x01, text 0x02); digits carry their value's length then its
    digits, text its UTF-8 with 0x00 escaped and a 0x00 0x00 end, so no piece is a prefix of another's.
    """
    out = []
    for i, part in enumerate(_DIGIT_RUNS.split(locator)):
        if i % 2:
            value = _run_value(part).encode()
            out.append(b"\x01" + len(value).to_bytes(4, "big") + value)
        elif part:
            out.append(b"\x02" + part.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff") + b"\x00\x00")
        else:  # a locator that begins or ends with digits, or two runs apart: the empty text piece
            out.append(b"\x02\x00\x00")
    return b"".join(out)


_DIGIT_RUNS = re.compile(r"(\d+)")  # \d: the decimal digits of every script, as int() reads them


def _run_value(run: str) -> str:
    """A digit run's value in ASCII digits without leading zeros (``str(int(run))``, with no limit on its length:
    int() refuses more than 4,300 digits)."""
    if not run.isascii():  # Arabic-Indic, fullwidth...: each a decimal digit (\d is Unicode's Nd)
        run = "".join(str(unicodedata.decimal(c)) for c in run)
    return run.lstrip("0") or "0"


def natural_rank(locators: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each locator's dense rank in natural order (``row 2`` before ``row 10``); equal keys share one. A manifest's
    column may be given as its chunks (no combined string column: over 2 GiB of locators, A27b-2)."""
    if not len(locators):
        return np.zeros(0, np.int64)
    key = _row_numbers(locators)
    if key is None:  # paths, file#row: a sort key per locator, built a chunk at a time
        parts = [
            pa.array([natural_bytes(s) for s in locators.slice(i, _CHUNK).to_pylist()], pa.large_binary())
            for i in range(0, len(locators), _CHUNK)
        ]
        key = pa.concat_arrays(parts)
    return np.asarray(pc.rank(key, tiebreaker="dense"), dtype=np.int64)


def natural_first(locators: pa.Array | pa.ChunkedArray, n: int) -> list[int]:
    """The positions of the first ``n`` locators in natural order, equal ones in the order given (``natural_rank``'s
    order): row numbers by one int64 sort, other locators by ``natural_bytes`` with only the ``n`` least kept (a
    heap, no sort of them all: ranking every path cost twice the old per-record sort at 1M tree paths,
    bench/results/first-records-cost.md)."""
    key = _row_numbers(locators) if len(locators) else None
    if key is not None:
        return np.argsort(np.asarray(key, dtype=np.int64), kind="stable")[:n].tolist()
    values = locators.to_pylist()
    return heapq.nsmallest(n, range(len(values)), key=lambda i: natural_bytes(values[i]))


def _row_numbers(locators: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """The locators as int64 when every one is a row number (``_ROW_NUMBERS``), else None."""
    if pc.all(pc.match_substring_regex(locators, _ROW_NUMBERS)).as_py():
        return pc.cast(locators, pa.int64())
    return None


def _ids(values: pa.Array) -> np.ndarray:
    """A small integer per distinct value (equal values, equal ids)."""
    return np.asarray(pc.dictionary_encode(values).indices, dtype=np.int64)


def _group(*keys: np.ndarray) -> np.ndarray:
    """Dense ids of the tuples of ``keys`` (row by row)."""
    out = keys[0]
    for key in keys[1:]:
        out = np.unique(out * (int(key.max(initial=0)) + 1) + key, return_inverse=True)[1].reshape(-1)
    return out


def _rank_within(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Each row's 0-based place within its group, the group ordered by ``order`` (all distinct)."""
    n = len(group)
    by = np.argsort(group * (int(order.max(initial=0)) + 1) + order)  # one int64 key: group, then order
    g = group[by]
    starts = np.ones(n, bool)
    starts[1:] = g[1:] != g[:-1]
    pos = np.arange(n)
    first = np.maximum.accumulate(np.where(starts, pos, 0))
    rank = np.empty(n, np.int64)
    rank[by] = pos - first
    return rank


def _counts(group: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(group[mask], minlength=size)


def pair_equal_keys(old_keys: list[np.ndarray], new_keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Positions into each side of rows paired one to one on equal keys (each side's keys: int64 id columns of one
    length, equal ids where the values are equal), the k-th row of a key on one side with its k-th on the other,
    in the order given: ``(old positions, new positions)``, pair by pair. Rows of a key one side has more of than
    the other are left unpaired. ``prov status`` pairs the records a retyped column re-keyed with it
    (``status_rekey``); :func:`pair` ranks copies of one record in natural locator order instead."""
    n_old, n_new = len(old_keys[0]), len(new_keys[0])
    if not n_old or not n_new:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    group = _group(*(np.concatenate([o, n]).astype(np.int64) for o, n in zip(old_keys, new_keys)))
    now = np.zeros(n_old + n_new, bool)
    now[n_old:] = True
    rank = _rank_within(group * 2 + now, np.arange(n_old + n_new))  # each side's rows in the order given
    size = int(group.max(initial=-1)) + 1
    old_n, new_n = _counts(group, ~now, size), _counts(group, now, size)
    paired = rank < np.where(now, old_n[group], new_n[group])
    new_at, old_at = _partners(np.flatnonzero(paired & now), np.flatnonzero(paired & ~now), group, rank)
    return old_at, new_at - n_old


def pair_same_label_first(
    old_content: np.ndarray, old_label: np.ndarray, new_content: np.ndarray, new_label: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Records paired one to one by content (int64 ids, equal where the content is), those of one label first, then
    the rest by content alone (a relabel): ``(old positions, new positions)``, as :func:`pair_equal_keys` gives them.
    ``prov diff`` (``delta.content_pairs``) and ``prov status`` (``status_rekey``) pair re-keyed records with it."""
    same_old, same_new = pair_equal_keys([old_content, old_label], [new_content, new_label])
    left_old = np.setdiff1d(np.arange(len(old_content)), same_old)
    left_new = np.setdiff1d(np.arange(len(new_content)), same_new)
    other_old, other_new = pair_equal_keys([old_content[left_old]], [new_content[left_new]])
    return np.concatenate([same_old, left_old[other_old]]), np.concatenate([same_new, left_new[other_new]])


def _order(rows: pa.Table, side: np.ndarray) -> np.ndarray:
    """Each row's place (0..n-1) in natural locator order; rows of one side at one place (an id column repeating
    a locator) by digest, then label. Rows of both sides at one place are never compared, so sorting digests,
    the dearest step, runs only when a side repeats a place."""
    n = len(rows)
    order = np.empty(n, np.int64)
    if not n:
        return order
    nat = natural_rank(rows.column("locator").combine_chunks())
    key = nat * 2 + side
    by = np.argsort(key)
    key = key[by]
    if not np.any(key[1:] == key[:-1]):
        order[by] = np.arange(n)
        return order
    del key, by
    digest_rank = np.asarray(pc.rank(rows.column("digest").combine_chunks(), tiebreaker="dense"), np.int64)
    label_rank = np.asarray(pc.rank(rows.column("label").combine_chunks(), tiebreaker="dense"), np.int64)
    order[np.lexsort((label_rank, digest_rank, nat))] = np.arange(n)
    return order


@dataclass(frozen=True)
class Pairing:
    """Rows of ``rows`` (the signed side's unmatched rows, then the current side's) by kind.

    ``order`` is each row's place in natural locator order (ties by digest, then label). Row
    index arrays: ``added``, ``removed``; ``relabeled`` and ``changed`` are (current row, signed
    row) pairs, as two arrays each.
    """

    rows: pa.Table
    order: np.ndarray
    added: np.ndarray
    removed: np.ndarray
    relabeled: tuple[np.ndarray, np.ndarray]
    changed: tuple[np.ndarray, np.ndarray]


def _large_locators(rows: pa.Table) -> pa.Table:
    """``rows`` with its ``locator`` column as ``large_string`` (64-bit offsets; the same values)."""
    at = rows.schema.get_field_index("locator")
    return rows.set_column(at, "locator", rows.column(at).cast(pa.large_string()))


def pair(old_rows: pa.Table, new_rows: pa.Table, signed_records: int, records: int) -> Pairing:
    """Pair the unmatched rows of both sides (``digest``, ``label``, ``locator`` each) by the rules above.

    ``signed_records``/``records``: the sizes of the whole manifests, to tell that nothing is shared.
    Only rows whose digest is on both sides can be moved or relabeled, so those steps see only them:
    data edited in every record pairs by place alone.
    """
    # 64-bit offsets: both sides' locators together may pass 2 GiB where each side alone does not (attack review
    # 27b, A27b-2: a 10M-file tree with long paths, every record edited)
    rows = pa.concat_tables([_large_locators(old_rows), _large_locators(new_rows)])
    n = len(rows)
    now = np.zeros(n, bool)
    now[len(old_rows) :] = True
    order = _order(rows, now)
    none = np.zeros(0, np.int64)
    left = np.ones(n, bool)  # not moved: a change of some kind
    relabeled_rows = np.zeros(n, bool)
    relabeled = (none, none)
    shared = _digest_on_both_sides(old_rows, new_rows)
    if len(shared):
        sub = rows.take(pa.array(shared, pa.int64()))
        sub_left, sub_new, sub_old = _moved_and_relabeled(sub, now[shared], order[shared])
        left[shared] = sub_left
        relabeled_rows[shared[sub_new]] = relabeled_rows[shared[sub_old]] = True
        relabeled = (shared[sub_new], shared[sub_old])
    added = left & now & ~relabeled_rows
    removed = left & ~now & ~relabeled_rows
    del left, relabeled_rows

    # an added and a removed record at one locator: one changed record, unless no record is shared at all
    changed = (none, none)
    if added.sum() != records or removed.sum() != signed_records:
        apart = np.flatnonzero(added | removed)
        place = _ids(rows.column("locator").combine_chunks().take(pa.array(apart, pa.int64())))
        side = now[apart]
        size = int(place.max(initial=-1)) + 1
        at_added, at_removed = _counts(place, side, size), _counts(place, ~side, size)
        has_added, has_removed = at_added > 0, at_removed > 0
        if at_added.max(initial=0) > 1 or at_removed.max(initial=0) > 1:  # a side repeats a place: its first
            first = _rank_within(place * 2 + side, order[apart]) == 0
        else:
            first = np.ones(len(apart), bool)
        del at_added, at_removed
        at_new = np.flatnonzero(first & side & has_removed[place])  # positions in ``apart``
        at_old = np.flatnonzero(first & ~side & has_added[place])
        new_at, old_at = _partners(at_new, at_old, place, np.zeros(len(apart), np.int64))
        changed = (apart[new_at], apart[old_at])
        added[changed[0]] = False
        removed[changed[1]] = False
    return Pairing(rows, order, np.flatnonzero(added), np.flatnonzero(removed), relabeled, changed)


def _digest_on_both_sides(old_rows: pa.Table, new_rows: pa.Table) -> np.ndarray:
    """Rows (old side first, as ``pair`` numbers them) whose digest is on the other side too."""
    old, new = old_rows.column("digest"), new_rows.column("digest")
    if not len(old) or not len(new):
        return np.zeros(0, np.int64)
    on_both = [
        np.asarray(pc.is_in(side, value_set=other.combine_chunks()), bool) for side, other in ((old, new), (new, old))
    ]
    return np.flatnonzero(np.concatenate(on_both))


def _moved_and_relabeled(rows: pa.Table, now: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, ...]:
    """For rows whose digests are on both sides: which are left once moved copies pair off, and the relabeled
    pairs (rows read now, signed rows, as positions in ``rows``)."""
    digest, label = _ids(rows.column("digest").combine_chunks()), _ids(rows.column("label").combine_chunks())
    side = now.astype(np.int64)
    # copies of one (digest, label): the k-th signed pairs with the k-th read now, in natural order (moved)
    same = _group(digest, label)
    k = _rank_within(same * 2 + side, order)
    size = int(same.max(initial=-1)) + 1
    old_n, new_n = _counts(same, ~now, size), _counts(same, now, size)
    left = k >= np.where(now, old_n[same], new_n[same])
    # what is left of one digest: the j-th signed pairs with the j-th read now across labels (relabeled)
    after = int(order.max(initial=0)) + 1
    j = _rank_within(digest * 2 + side, np.where(left, order, order + after))  # left rows first in each group
    size = int(digest.max(initial=-1)) + 1
    old_left, new_left = _counts(digest, left & ~now, size), _counts(digest, left & now, size)
    relabeled_new = np.flatnonzero(left & now & (j < old_left[digest]))
    relabeled_old = np.flatnonzero(left & ~now & (j < new_left[digest]))
    return (left, *_partners(relabeled_new, relabeled_old, digest, j))


def _partners(new: np.ndarray, old: np.ndarray, key: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``new`` rows with the ``old`` row of the same (key, rank), each pair once (both sides hold the same pairs)."""
    width = int(rank.max(initial=0)) + 1
    new_key, old_key = key[new] * width + rank[new], key[old] * width + rank[old]
    by_new, by_old = np.argsort(new_key, kind="stable"), np.argsort(old_key, kind="stable")
    return new[by_new], old[by_old]
