"""How much the trusted base repeats records *within* each of its own file-order pseudo-batches.

The copies rule (``gate/copies.py``) and the per-record copy test of ``detectors.extreme``
(``detectors/duplicates.py``) expect a delivery's copies at the base's whole-file repetition, as if
its rows were an i.i.d. draw. Real deliveries clump: a file sorted by age or by label puts a
record's repeats next to each other, so a clean batch in file order carries many more copies of
its own records than a random one (issue 14: DoctorAUS in file order passed 4 of 12 clean
batches, spam7 1 of 12; both 12 of 12 at random). The base's own pseudo-batches
(``profiles.batches``: ``PSEUDO_BATCHES`` equal runs of its rows in file order) show how much a
batch of *this* data clumps. Each pseudo-batch is treated as a delivery arriving in file order, on
top of the base's rows before it (the first: on nothing), counted exactly as the gate counts a
delivery's copies:

- ``held``: the record's rows in the pseudo-batches before it; its copies in the batch are its rows
  there (beyond the first when ``held`` is 0, a record new to the rows before);
- the class of a record is ``copy_class(held)`` (held at most once, twice, 3-4, 5-8, ... times).

A copy counts in its own pseudo-batch only, never in the batch of the record it copies: a flood an
earlier release accepted, appended at the end of the base, lifts the last pseudo-batch alone, which
``TRIMMED`` leaves out (attack review 23b, finding 1: counted against the *rest* of the base, it
lifted the batch it copied as much, and the next release's rate rose to the cap).

Kept per pseudo-batch (``BatchCopies``): its rows, and per class its copies and the largest copies of
one record. That is ``PSEUDO_BATCHES`` x (classes + ...) integers, at most 64 classes (a count
below 2**63): bounded whatever the base's size. Computed from every row of the base at commit (the
manifest, signed; never a stored count), kept in the reference profile and read only through it,
under the signature that covers the profile's digest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.manifest import digest_matrix
from provenance.profiles.batches import file_order


def copy_class(base_rows: np.ndarray) -> np.ndarray:
    """The class of each copied record by the base's rows of it (int array): 0 for a new record or one held
    once, 1 twice, 2 for 3-4 times, 3 for 5-8, ``ceil(log2(c))`` in general."""
    c = np.maximum(np.asarray(base_rows, dtype=np.int64), 1)
    return np.ceil(np.log2(c) - 1e-9).astype(np.int64)


@dataclass(frozen=True)
class BatchCopies:
    """Within-pseudo-batch repetition of a base (module docstring).

    ``rows`` (B,) int64: the rows of each pseudo-batch; ``copies`` (B, K) int64: its copies of records
    of class k (``copy_class`` of the record's rows in the pseudo-batches before); ``most`` (B, K) int64: the largest
    copies of one record of class k in it. K >= 1.
    """

    rows: np.ndarray
    copies: np.ndarray
    most: np.ndarray

    @staticmethod
    def problem(rows: np.ndarray, copies: np.ndarray, most: np.ndarray, total_rows: int) -> str | None:
        """What is wrong with these arrays as read from a profile (None when nothing): shapes ``(B,)``, ``(B, K)``
        and ``(B, K)`` with ``B >= 1`` and ``1 <= K <= MAX_CLASSES``, non-negative integers, each batch's copies
        at most its rows, each class's most copies of one record at most its copies, the rows summing to at most
        ``total_rows`` (the base's rows). A profile is signed data: a commit key's holder may sign any arrays."""
        arrays = {"batch_rows": rows, "batch_copies": copies, "batch_most_copies": most}
        for name, a in arrays.items():
            if a.dtype.kind not in "iu":
                return f"{name} holds {a.dtype} values, not integers"
            if a.size and int(a.min()) < 0:
                return f"{name} holds a negative count ({int(a.min())})"
        if rows.ndim != 1 or rows.shape[0] == 0 or copies.ndim != 2 or most.shape != copies.shape:
            return f"batch arrays of shapes {rows.shape}, {copies.shape}, {most.shape}, not (B,), (B, K), (B, K)"
        if copies.shape[0] != len(rows) or not 1 <= copies.shape[1] <= MAX_CLASSES:
            return f"batch arrays of shapes {rows.shape}, {copies.shape}, not (B,), (B, K) with 1 <= K <= {MAX_CLASSES}"
        if (copies.sum(axis=1, dtype=np.float64) > rows).any():
            return "batch_copies exceed batch_rows (a pseudo-batch with more copies than rows)"
        if (most > copies).any():
            return "batch_most_copies exceed batch_copies (one record with more copies than its whole class)"
        if float(rows.sum(dtype=np.float64)) > total_rows:
            return f"batch_rows sum to {int(rows.sum(dtype=np.float64))}, more than the base's {total_rows} rows"
        return None

    def worst_rates(self) -> np.ndarray:
        """(K,) per class, the copies per row of the most clumped pseudo-batch but one (``trimmed``): the
        clumping a clean batch of this data has shown."""
        rows = np.maximum(self.rows, 1).astype(np.float64)[:, None]
        return trimmed(self.copies / rows, 0)

    def worst_total_rate(self) -> float:
        """The share of copies among the rows of the most clumped pseudo-batch but one, all classes together."""
        return float(trimmed((self.copies.sum(axis=1) / np.maximum(self.rows, 1))[:, None], 0)[0])

    def beyond_slack(self, rate: float, least: int) -> BatchCopies:
        """These counts with each pseudo-batch's copies of records held at most once (class 0) less the
        re-delivery the copies rule lets a delivery of its rows carry anyway (``max(least - 1, floor(rate *
        rows))``, the policy's ``max_copies_rate`` and ``min_copies``), never below 0. A re-delivery an earlier
        release was let in under that slack is then no clumping the next release may repeat on top of the same
        slack (attack review 23b, finding 1: two accepted floods sit in two pseudo-batches, and trimming leaves
        one out); the base's own batch, delivered again, still passes (its quantile at the rate left, plus the
        slack)."""
        slack = np.maximum(least - 1, np.floor(self.rows * rate + 1e-9)).astype(np.int64)
        copies = self.copies.copy()
        copies[:, 0] = np.maximum(copies[:, 0] - slack, 0)
        return replace(self, copies=copies)

    def single_ceiling(self) -> np.ndarray:
        """(K,) per class, the most copies of one record a clean delivery is let carry: the most the pseudo-batches
        but the most clumped (``trimmed``) carried of one record of the class or a class below it (a record held
        more often has more rows to clump), plus the gap to the next pseudo-batch's most, at least one copy. The
        gap is the spacing of the top order statistics, an estimate of the tail's scale: under an exponential
        tail a new batch's most passes the top one by about that much; one copy is the resolution of a count
        (two batches tied give a gap of 0). Not scaled to the delivery's size: a record's clump is the run its
        rows make in the file, which a longer batch does not lengthen. 0 where those batches carried no copy of
        the class; at most ``single_cap`` (a signed profile's huge value never switches the test off)."""
        most = np.maximum.accumulate(self.most, axis=1).astype(np.float64)
        top, below = trimmed(most, 0), trimmed(most, 1)
        # no clumping shown (a base whose batches repeat nothing of a class): no room at all
        ceiling = np.maximum.accumulate(np.where(top > 0, top + np.maximum(1.0, top - below), 0.0))
        return np.minimum(ceiling, single_cap(len(ceiling)))

    @staticmethod
    def at_classes(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """``values`` (K,), one per class and never falling with it (``single_ceiling``), at each of ``classes``
        (int array); the last class's past it (a record held more often than any the base batches held)."""
        return np.asarray(values)[np.minimum(np.asarray(classes, dtype=np.int64), len(values) - 1)]


COPY_PSEUDO_BATCHES = 10
"""The runs of the base's rows in file order the clumping is counted on (``PSEUDO_BATCHES``'s value so far; its
own constant so that the copy statistic's batches can be sized apart from the detectors' calibration batches)."""

CLUMPING_CAP = 4.0
"""The base's clumping raises a class's rate (and the total's) at most this many times the whole base's
(``gate.copies``), and a record's copies at most this many times the rows its class holds (``single_cap``)."""


def single_cap(classes: int) -> np.ndarray:
    """(classes,) the most ``BatchCopies.single_ceiling`` may give per class: ``CLUMPING_CAP`` times the most rows
    a record of the class holds in the base (``2**k``; class 0, new records and ones held once, counted as
    class 1's 2: a new record has no rows to bound it). A delivery that clumps as the base does carries a record
    in a run like the base's runs of it, which its rows there bound; the factor is the rates' own, so a
    profile (signed, but by a key that may be stolen) cannot widen the per-record test beyond it: 8 copies of
    one new record, 16 of one held 3-4 times."""
    return CLUMPING_CAP * 2.0 ** np.maximum(np.arange(classes, dtype=np.float64), 1.0)


TRIMMED = 1
"""The most clumped pseudo-batches left out of every statistic read (``trimmed``): one batch is what an
accepted flood appended at the end of the base fills, and it would otherwise widen the next release's
allowance to the flood's own clumping (attack review 22b's ratchet, tests/cli/test_attack22b_replays.py)."""


def trimmed(values: np.ndarray, below: int) -> np.ndarray:
    """(K,) per column of ``values`` (B, K), the largest once the ``TRIMMED`` largest are left out, or with
    ``below`` the ``below``-th value under that one; the smallest when there are too few rows, 0 with none."""
    if not len(values):
        return np.zeros(values.shape[1])
    ranked = np.sort(values, axis=0)[::-1]
    return ranked[min(TRIMMED + below, len(ranked) - 1)]


MAX_CLASSES = 64  # a record held below 2**63 times: ceil(log2(count)) < 64


class BatchCopyCounter:
    """Accumulates ``BatchCopies`` over runs of whole records (so a manifest streams through it)."""

    def __init__(self, count: int):
        self.count = count
        self.copies = np.zeros((count, MAX_CLASSES), np.int64)
        self.most = np.zeros((count, MAX_CLASSES), np.int64)

    def add(self, groups: np.ndarray, batches: np.ndarray) -> None:
        """Count the rows of whole records: ``groups`` (n,) equal for rows of one record and never falling,
        ``batches`` (n,) int64 in 0..count-1."""
        if not len(groups):
            return
        opens = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        sizes = np.diff(np.r_[opens, len(groups)])
        repeated = np.repeat(sizes > 1, sizes)  # a record held once has no copy in any batch
        if not repeated.any():
            return
        key = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)[repeated] * self.count + batches[repeated]
        key.sort()  # rows of one record in one batch are now adjacent
        first = np.r_[True, key[1:] != key[:-1]]
        pairs = key[first]
        in_batch = np.diff(np.r_[np.flatnonzero(first), len(key)])
        # pairs run by record, then by batch in file order: the record's rows in the batches before this one
        record = pairs // self.count
        before = np.cumsum(in_batch) - in_batch
        opens_record = np.r_[True, record[1:] != record[:-1]]
        held = before - np.repeat(before[opens_record], np.diff(np.r_[np.flatnonzero(opens_record), len(record)]))
        extra = np.where(held > 0, in_batch, in_batch - 1)
        klass = copy_class(held)
        np.add.at(self.copies, (pairs % self.count, klass), extra)
        np.maximum.at(self.most, (pairs % self.count, klass), extra)

    def result(self, rows: np.ndarray) -> BatchCopies:
        """The counts so far, with ``rows`` (count,) the rows of each pseudo-batch; as many classes as used (>= 1)."""
        used = np.flatnonzero(self.copies.any(axis=0) | self.most.any(axis=0))
        k = int(used[-1]) + 1 if len(used) else 1
        return BatchCopies(np.asarray(rows, np.int64), self.copies[:, :k].copy(), self.most[:, :k].copy())


def batch_rows(count: int, total_rows: int) -> np.ndarray:
    """(count,) the rows of each of ``count`` equal runs of ``total_rows`` rows (``batches_of_ranks``)."""
    edges = -(-np.arange(count + 1, dtype=np.int64) * total_rows // count)  # the first rank of each run
    return np.diff(edges)


def batch_copies(groups: np.ndarray, batches: np.ndarray, count: int) -> BatchCopies:
    """The within-batch repetition of every row of a base, given its record (``groups`` (n,) int, equal for
    rows of one record and never falling: rows in digest order) and pseudo-batch (``batches`` (n,) int in
    0..count-1). Returns ``BatchCopies``."""
    batches = np.asarray(batches, dtype=np.int64)
    counter = BatchCopyCounter(count)
    counter.add(np.asarray(groups), batches)
    return counter.result(np.bincount(batches, minlength=count)[:count])


def batches_of_ranks(ranks: np.ndarray, count: int, rows: int | None = None) -> np.ndarray:
    """Pseudo-batch of each row from its rank in file order (0..rows-1; ``rows`` defaults to the ranks given):
    ``count`` equal runs."""
    n = len(ranks) if rows is None else rows
    return (np.asarray(ranks, dtype=np.int64) * count // max(n, 1)).astype(np.int64)


class _NotRowNumbers(Exception):
    """The locators are not a table's row numbers 0..rows-1."""


def manifest_batch_copies(parts: Callable[[], Iterable[pa.RecordBatch]], rows: int, count: int) -> BatchCopies | None:
    """``BatchCopies`` of a manifest's ``rows`` rows, read as record batches of its ``digest`` and ``locator``
    columns in manifest (digest) order by ``parts()``.

    Rows are records by digest, as the diff counts copies (``delta.merge``): a record's rows are adjacent in
    the manifest, so the parts stream through, holding one part and the rows of one record at a time. Their
    file order is the locators': a table's row numbers 0..rows-1, each once, give each row's pseudo-batch
    directly; other locators (``file#row``, a tree's paths; ``profiles.batches.file_order``) are ranked first
    in a pass over the locator column, and the parts read again. Returns None for an empty manifest.
    """
    if rows == 0:
        return None
    seen = np.zeros(rows, dtype=bool)

    def numbered(part: pa.RecordBatch, offset: int) -> np.ndarray:
        try:
            values = pc.cast(part.column(1), pa.int64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise _NotRowNumbers from exc
        if len(values) and (values.min() < 0 or values.max() >= rows):
            raise _NotRowNumbers
        seen[values] = True
        return values * count // rows

    try:
        counter = _stream(parts, numbered, count)
        if seen.all():
            return counter.result(batch_rows(count, rows))
    except _NotRowNumbers:
        pass
    ranks = file_order_rank(pa.chunked_array([part.column(1) for part in parts()], pa.string()))
    ranked = batches_of_ranks(ranks, count, rows)
    return _stream(parts, lambda part, offset: ranked[offset : offset + len(part)], count).result(
        batch_rows(count, rows)
    )


def _stream(parts: Callable[[], Iterable[pa.RecordBatch]], batches_of, count: int) -> BatchCopyCounter:
    """Count every part's whole records (``BatchCopyCounter``); a record whose rows run into the next part is carried."""
    counter = BatchCopyCounter(count)
    carried = np.zeros(0, np.int64)  # the batches of the rows of the record the last part ended with
    last: bytes | None = None
    offset = 0
    for part in parts():
        d = digest_matrix(part.column(0))
        if not len(d):
            continue
        batches = np.r_[carried, batches_of(part, offset)]
        opens = np.empty(len(batches), dtype=bool)  # a row that opens a record
        opens[: len(carried)] = False
        if len(carried):
            opens[0] = True
        opens[len(carried)] = not (last is not None and d[0] == last)
        opens[len(carried) + 1 :] = d[1:] != d[:-1]
        groups = np.cumsum(opens)
        whole = groups < groups[-1]  # the last record may go on in the next part
        counter.add(groups[whole], batches[whole])
        carried = batches[~whole]
        last, offset = bytes(d[-1]), offset + len(d)
    counter.add(np.zeros(len(carried), np.int64), carried)
    return counter


def file_order_rank(locators: pa.Array | pa.ChunkedArray | Sequence | np.ndarray) -> np.ndarray:
    """(n,) each row's rank in file order: ``locators`` are a manifest's (a table's row numbers, ``file#row`` in a
    folder of tables, a tree's paths), ranked as ``profiles.batches.file_order`` keys them, or numbers (a numpy
    array of integers or floats: ranked by value). Ties keep the given order. The one ranking of file order:
    the profile's pseudo-batches (``profiles.reference.build_profile``) and the within-batch copies
    (``manifest_batch_copies``) both use it."""
    if isinstance(locators, np.ndarray) and locators.dtype.kind in "iuf":
        order = np.argsort(locators, kind="stable")
    else:
        column = locators if isinstance(locators, pa.Array | pa.ChunkedArray) else pa.array(locators, pa.string())
        order = _file_order(column)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def _file_order(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The row order (n,) int64 that sorts ``column``'s locators by ``file_order``'s keys, stably."""
    try:
        pc.cast(column.slice(0, 64), pa.int64())  # a cheap look first: a whole column's failed cast costs 0.24 s at 1M
        # row numbers alone: ASCII digits only, as file_order reads a row number (Arrow's cast also takes "+5")
        if len(column) and not pc.all(pc.ascii_is_decimal(column), skip_nulls=False).as_py():
            raise pa.ArrowInvalid("not row numbers only")
        numbers = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)  # one table: row numbers
        return np.argsort(numbers, kind="stable")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    keys = _file_order_keys(column)
    if keys is None:  # a row number past an int64: file_order itself, one Python key a row
        python_keys = file_order(column.to_pylist())
        return np.asarray(sorted(range(len(python_keys)), key=lambda i: (python_keys[i], i)), dtype=np.int64)
    files, rows = keys
    span = int(rows.max()) + 1 if len(rows) else 1
    if (int(files.max()) + 1 if len(files) else 1) <= (1 << 62) // span:  # one int64 key: a third of lexsort's time
        return np.argsort(files * span + rows, kind="stable")
    return np.lexsort((rows, files))  # stable: ties keep the given order


_MAX_DIGITS = 18  # a row number of at most 18 digits fits an int64, as file_order's int does


def _file_order_keys(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """``file_order``'s keys as two int64 arrays, (the file's rank among the files, the row number), computed by
    Arrow one chunk at a time (no Python object a row: a folder of 1M ``file#row`` locators ranked in Python
    took 6.9 s and 216 MiB, attack review 23b, finding 4); None where a row number is too long for an int64 (19
    digits or more), which ``file_order`` then ranks. Non-ASCII text is ranked here too (a tree with one non-ASCII
    directory name sent its whole column to ``file_order``: 15 s at 1M rows, attack review 24b): a row number is
    ASCII digits in both (``names.is_row_number``), ``#`` is one byte that no other UTF-8 character's bytes hold,
    and files compare as UTF-8 bytes, which order as their code points do, as Python's ``str`` comparison does
    (bytes that are no UTF-8, which Parquet does not refuse in a signed manifest's string column, rank as bytes
    here, where ``file_order`` cannot decode them)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    heads, rows = [], []
    for chunk in chunks:
        keys = _chunk_keys(chunk)
        if keys is None:
            return None
        heads.append(keys[0])
        rows.append(keys[1])
    if not heads:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    files = pa.chunked_array(heads, heads[0].type).unify_dictionaries()  # one dictionary, every chunk's indices
    dictionary = files.chunk(0).dictionary
    file_rank = np.empty(len(dictionary), np.int64)
    file_rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary))
    indices = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in files.chunks])
    return file_rank[indices], np.concatenate(rows)


def _chunk_keys(chunk: pa.Array) -> tuple[pa.DictionaryArray, np.ndarray] | None:
    """One chunk's (file, dictionary-encoded; row number) keys of ``file_order``, or None (``_file_order_keys``)."""
    text = pc.fill_null(pc.cast(chunk, pa.string()), "")
    if pc.any(pc.match_substring_regex(text, f"(^|#)[0-9]{{{_MAX_DIGITS + 1},}}$")).as_py():
        return None
    parts = pc.split_pattern(text, "#", max_splits=1, reverse=True)  # [before the last #, after it] or [text]
    pieces, starts = parts.flatten(), parts.offsets.to_numpy()[:-1]
    split = pc.equal(pc.list_value_length(parts), 2).to_numpy(zero_copy_only=False)
    tail = pc.take(pieces, np.where(split, starts + 1, starts))
    digits = f"^[0-9]{{1,{_MAX_DIGITS}}}$"
    numbered = pc.and_(pa.array(split, pa.bool_()), pc.match_substring_regex(tail, digits))  # file#row
    alone = pc.match_substring_regex(text, digits)  # a row number: ("", row)
    head = pc.if_else(numbered, pc.take(pieces, starts), pc.if_else(alone, "", text))  # else (the text, 0)
    row = pc.if_else(numbered, tail, pc.if_else(alone, text, "0"))
    return pc.dictionary_encode(head), pc.cast(row, pa.int64()).to_numpy(zero_copy_only=False)
