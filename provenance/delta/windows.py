"""One manifest read as a stream of windows for the merge (``delta.merge``).

A side of the diff reads its manifest's digest, label and source columns in record
batches of about ``WINDOW_ROWS`` rows, checks that the digests are sorted as they stream,
and hands out the rows below a bound as a ``Window``; labels and sources become small
integer ids (``Interner``) shared by both sides. Locators and batches are fetched later,
for listed records only (``table_fetcher``, ``table_taker`` for a manifest in memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.delta.digests import differs_from_previous, digest_view, is_sorted
from provenance.errors import VerificationError

WINDOW_ROWS = 1 << 16  # 64k rows: peak memory at 10 M records 329 MiB (1 << 18: 411 MiB), same CPU


class Interner:
    """Small string tables (labels, sources) shared by both sides: string <-> int id."""

    def __init__(self, reserve_none: bool = False):
        self.ids: dict[str | None, int] = {}
        self.values: list[str | None] = []
        if reserve_none:
            self.id(None)

    def id(self, value: str | None) -> int:
        """The int id of ``value`` (None allowed), giving it the next free id on first sight.

        Ids are dense, 0-based and in order of first appearance; ``values[id]`` maps back.
        """
        found = self.ids.get(value)
        if found is None:
            found = self.ids[value] = len(self.values)
            self.values.append(value)
        return found

    def __len__(self) -> int:
        return len(self.values)

    def codes(self, column: pa.Array) -> np.ndarray:
        """Ids of a (dictionary-encoded) string column; nulls map to the id of None."""
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        mapping = np.array([self.id(v) for v in column.dictionary.to_pylist()] or [0], dtype=np.int32)
        indices = column.indices
        if column.null_count:
            indices = indices.fill_null(0)  # (pc.fill_null costs more than the rest: only when needed)
        out = mapping[indices.to_numpy(zero_copy_only=False)] if len(mapping) else np.zeros(len(column), np.int32)
        if column.null_count:
            out = np.where(column.is_valid().to_numpy(zero_copy_only=False), out, self.id(None))
        return out.astype(np.int32, copy=False)


@dataclass
class Window:
    """Rows of one side whose digests all fall below the window's bound (complete groups)."""

    first_row: int  # row number of the first row in the manifest, to fetch locators later
    digests: np.ndarray  # S32
    labels: np.ndarray  # int32 label ids
    sources: np.ndarray  # int32 source ids

    def groups(self) -> Groups:
        """The window's rows grouped by digest (one group per distinct digest, in digest order).

        Rows are sorted by digest, so each group is a contiguous run. Returns a ``Groups``
        whose arrays all have one entry per group; a window without repeated digests takes
        a shortcut (every group one row) with the same result.
        """
        n = len(self.digests)
        if n == 0:
            e = np.zeros(0, np.int64)
            return Groups(
                e,
                e,
                self.digests[:0],
                np.zeros(0, np.int32),
                np.zeros(0, np.int32),
                np.zeros(0, bool),
                np.zeros(0, bool),
            )
        starts = np.flatnonzero(np.r_[True, differs_from_previous(self.digests)])
        if len(starts) == n:  # no digest repeats (the common case): every group is one row
            no = np.zeros(n, bool)
            return Groups(starts, np.ones(n, np.int64), self.digests, self.labels, self.sources, no, no)
        counts = np.diff(np.r_[starts, n])
        first_label = self.labels[starts]
        first_source = self.sources[starts]
        multi_label = np.add.reduceat((self.labels != np.repeat(first_label, counts)).astype(np.int32), starts) > 0
        multi_source = np.add.reduceat((self.sources != np.repeat(first_source, counts)).astype(np.int32), starts) > 0
        return Groups(starts, counts, self.digests[starts], first_label, first_source, multi_label, multi_source)


@dataclass
class Groups:
    """One window's rows collapsed to one entry per distinct digest (``Window.groups``), as parallel arrays.

    ``starts`` (int64) is each group's first row in the window and ``counts`` (int64) its
    rows (copies); ``digests`` (S32) the digest; ``label`` and ``source`` (int32
    ``Interner`` ids) those of the group's first row; ``multi_label``/``multi_source``
    (bool) whether the group's rows carry more than one label/source.
    """

    starts: np.ndarray
    counts: np.ndarray
    digests: np.ndarray
    label: np.ndarray
    source: np.ndarray
    multi_label: np.ndarray
    multi_source: np.ndarray


class SideStream:
    """Batches of one manifest, in order, checked to be sorted by digest as they stream."""

    COLUMNS = ["digest", "label", "source"]  # locators and batches are fetched for listed records only

    def __init__(
        self,
        batches: Iterator[pa.RecordBatch],
        name: str,
        labels: Interner,
        sources: Interner,
    ):
        self.batches, self.name, self.labels, self.sources = batches, name, labels, sources
        self.pending: list[Window] = []
        self.exhausted = False
        self.last: bytes | None = None
        self.rows = 0

    def read(self) -> None:
        """Read the next batch into ``pending`` as a ``Window``; at the end, mark the side exhausted.

        Labels and sources become ``Interner`` ids. Raises ``VerificationError`` (exit 1)
        when the batch's digests are not in non-decreasing order, within the batch or after
        the previous one (not a prov manifest).
        """
        try:
            batch = next(self.batches)
        except StopIteration:
            self.exhausted = True
            return
        digests = digest_view(batch.column("digest"))
        if len(digests):
            d = digests
            if (self.last is not None and d[0] < self.last) or not is_sorted(d):
                raise VerificationError(
                    f"{self.name}: manifest rows are not sorted by digest; it is not a prov manifest"
                )
            self.last = d[-1]
        self.pending.append(
            Window(
                self.rows,
                digests,
                self.labels.codes(batch.column("label")),
                self.sources.codes(batch.column("source")),
            )
        )
        self.rows += len(digests)

    def last_digest(self) -> bytes | None:
        """The largest digest read but not yet taken (that of the last pending row), or None if nothing is pending.

        Returned as numpy ``S32`` scalar bytes, so trailing zero bytes are dropped; it still
        compares and searches like the full digest against ``S32`` arrays.
        """
        for w in reversed(self.pending):
            if len(w.digests):
                return w.digests[-1]
        return None

    def take_below(self, bound: bytes | None) -> Window:
        """Remove and return every pending row with a digest below ``bound`` (all if None)."""
        if not self.pending:
            return Window(self.rows, np.zeros(0, "S32"), np.zeros(0, np.int32), np.zeros(0, np.int32))
        first = self.pending[0].first_row
        names = ("digests", "labels", "sources")
        if len(self.pending) > 1:
            columns = [np.concatenate([getattr(w, k) for w in self.pending]) for k in names]
        else:
            columns = [getattr(self.pending[0], k) for k in names]
        digests = columns[0]
        cut = len(digests) if bound is None else int(np.searchsorted(digests, bound, side="left"))
        self.pending = [Window(first + cut, *(c[cut:] for c in columns))] if cut < len(digests) else []
        return Window(first, *(c[:cut] for c in columns))


def table_batches(table: pa.Table, rows: int = WINDOW_ROWS) -> Iterator[pa.RecordBatch]:
    """A manifest table already in memory, as the merge's stream of batches."""
    yield from table.select(SideStream.COLUMNS).to_batches(max_chunksize=rows)


def table_fetcher(table: pa.Table):
    """``fetch(rows)`` for a manifest table in memory, as ``fill_rows`` wants it.

    ``fetch`` takes sorted int64 manifest row numbers and returns ``(locators, batches)``,
    two lists in the same order (``None`` where a value is null).
    """

    def fetch(rows: np.ndarray):
        part = table.select(["locator", "batch"]).take(pa.array(rows))
        return part.column("locator").to_pylist(), part.column("batch").to_pylist()

    return fetch


def table_taker(table: pa.Table):
    """``take(rows, columns)`` for a manifest table in memory (see ``sides.ManifestObject.take``)."""

    def take(rows: np.ndarray, columns: list[str]) -> dict[str, list]:
        part = table.select(columns).take(pa.array(rows, pa.int64()))
        return {c: part.column(c).to_pylist() for c in columns}

    return take
