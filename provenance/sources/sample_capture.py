"""The profile sample's candidate rows, kept while a table is hashed, so the profile stage
need not decode the table a second time (issue 15: at 10 M rows that re-read was half of
``prov commit``).

The profile sample (``profiles/sample.py``) is, per label, the first ``cap`` distinct
(digest, label) records in sample-key order (``sample_key`` under the commit's salt: the
committer's signature of the parent's root and tag, so a source cannot grind its records into it), and of those the first
``max_total``. For any
subset X of the manifest's rows, the sampled rows that lie in X are among the rows that
the same rule picks from X alone (a row's rank in its class, and the number of capped
rows before it, can only fall when rows are taken away). So each hashing worker keeps
only what the rule picks from the rows it has seen (with their content columns), the
main process does the same over the workers' pools, and the result holds every sampled
row. Copies of one (digest, label) are kept by the manifest's own order (digest, label,
source, locator), so the pool holds the very row (locator) the manifest samples.

Each pooled row also counts the rows offered with its digest and label (its copies, which the
profile keeps): a record's copies all pass the filters its first row passed (one digest, one
sample key), so every worker that keeps a sampled record counts its copies there, and the
merge adds them up. With a salt, the profile stage then takes the sample from the pool
(``CapturedSample.sample``) instead of keying every row of the manifest again (G1's keyed
sample: 1.4 s of a 10M-row commit); the pool declines where a tie at the sample's bound would
let its order decide.

The profile stage (``profiles/stage.py``) looks the sample's locators up in the pool and re-hashes those rows
against the signed digests; whenever a locator is missing, the rule or encoding differs,
the pool outgrew ``CAPTURE_BYTES`` or Arrow could not combine it, it samples the manifest
and re-reads the table as before. Captured only for local Parquet files read with reader version 2 and no id
column, the only tables whose re-read decodes them exactly as hashing did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.manifest import SCHEMA
from provenance.profiles.sample import (
    DEFAULT_MAX_PER_CLASS,
    DEFAULT_MAX_TOTAL,
    ManifestSample,
    first_per_class,
    sample_key,
)
from provenance.sources.external_sort import SORT_KEYS

KEY_COLUMNS = [name for name, _ in SORT_KEYS]  # digest, label, source, locator
CAPTURE_BYTES = 64 << 20  # a pool larger than this (rows over ~8 KiB) is dropped: the profile re-reads
_NO_LIMIT = np.iinfo(np.uint64).max
_KEY = "__sample_key"  # the sample key, a sort column of the pool (a content column never reaches these tables)


@dataclass
class CapturedSample:
    """Candidate rows of the profile sample: ``keys`` holds their ``digest`` (binary(32)), ``label``,
    ``source`` and ``locator`` (as the manifest has them), ``content`` their content columns,
    row for row (apart: a content column may bear a key's name). The rows include every row
    that ``sample_manifest(manifest, cap, max_total)`` picks; both are None when the capture
    was given up (the profile stage then re-reads the table)."""

    cap: int
    max_total: int
    keys: pa.Table | None
    content: pa.Table | None
    salt: bytes | None = None  # the sample key's salt (``profiles.sample.sample_key``)
    # per pooled row, how many rows offered carried its digest and label (its copies in the manifest); None:
    # not counted, or a tie at the sample's bound made the pool's order decide (see ``sample``)
    copies: np.ndarray | None = None

    def sample(self, cap: int, max_total: int, salt: bytes | None) -> ManifestSample | None:
        """``sample_manifest(manifest, cap, max_total, salt)`` from the pool alone, without reading the
        manifest, or None when the pool cannot give it: given up, kept under another rule or salt, its
        copies not counted, or two records of one sample key at the sample's bound (the manifest pass
        orders those by its own label numbering, ``profiles.sample.key_order``).

        The pool holds every record the rule picks from the manifest, each as the first of its rows in
        manifest order, with its copies counted over every row offered: the rule applied to the pool
        picks the same records (taking away records it does not pick changes no pick). ``rows`` are
        not known here (-1); the profile stage uses the table and the copies."""
        if self.keys is None or self.copies is None or salt is None:
            return None
        if (self.cap, self.max_total, self.salt) != (cap, max_total, salt):
            return None
        ranked = self.keys.append_column(_KEY, pa.array(_prefixes(self.keys.column("digest"), salt)))
        order = pc.sort_indices(ranked, sort_keys=[(_KEY, "ascending"), *SORT_KEYS]).to_numpy()
        digests = self.keys.column("digest").combine_chunks().take(pa.array(order))
        d32 = np.frombuffer(digests.buffers()[1], dtype="S32", count=len(order), offset=digests.offset * 32)
        codes = pc.dictionary_encode(self.keys.column("label").combine_chunks()).indices.to_numpy(zero_copy_only=False)
        keys = ranked.column(_KEY).to_numpy()[order]
        chosen = _bounded(d32, codes[order].astype(np.int64), keys, int(codes.max(initial=-1)) + 1, cap, max_total)
        if chosen is None:
            return None
        rows = order[chosen]
        table = self.keys.take(pa.array(rows))
        by_manifest = pc.sort_indices(table, sort_keys=SORT_KEYS).to_numpy()
        schema = pa.schema([SCHEMA.field(name) for name in KEY_COLUMNS])
        copies = self.copies[rows[by_manifest]].astype(np.int64)
        return ManifestSample(np.full(len(rows), -1, np.int64), table.take(pa.array(by_manifest)).cast(schema), copies)


def _bounded(
    digests: np.ndarray, codes: np.ndarray, keys: np.ndarray, n_classes: int, cap: int, max_total: int
) -> np.ndarray | None:
    """``first_per_class(digests, codes, n_classes, cap, max_total)`` on rows in sample-key order, ascending,
    or None when the ``max_total`` bound falls between two rows of equal sample ``keys`` (their order then
    depends on how each pass numbers labels, not on the records)."""
    chosen = np.sort(first_per_class(digests, codes, n_classes, cap))
    if len(chosen) > max_total:
        if keys[chosen[max_total - 1]] == keys[chosen[max_total]]:
            return None
        chosen = chosen[:max_total]
    return chosen


def _candidates(keys: np.ndarray, codes: np.ndarray, cap: int, max_total: int) -> np.ndarray:
    """Indexes (ascending) of the rows the rule could pick, from their sample ``keys`` and class ``codes``
    alone: a row is left out when ``cap`` distinct keys of its class come before its key, or
    ``max_total`` distinct (class, key) records that pass that test do. Either way as many records
    would be picked before it, so the rule picks the same records from the rows kept (``_flush`` then
    sorts only those on all four keys: the first batch offered, 65,536 rows, is mostly left out).
    Rows of one record (one digest, so one key, and one class) are kept or left out together; two
    records of one key count as one, which keeps more rows, never fewer."""
    n = len(keys)
    if n <= max_total:
        return np.arange(n)
    order = np.argsort(keys)  # then by class, stable: by class, then key (2.3 ms here, lexsort 8 ms)
    order = order[np.argsort(codes[order].astype(np.uint16 if codes.max() < 1 << 16 else np.int64), kind="stable")]
    k, c = keys[order], codes[order]
    new_class = np.ones(n, dtype=bool)
    new_class[1:] = c[1:] != c[:-1]
    distinct = new_class.copy()
    distinct[1:] |= k[1:] != k[:-1]
    seen = np.cumsum(distinct)  # distinct (class, key) records up to each row, inclusive
    starts = np.flatnonzero(new_class)
    rank = seen - seen[starts][np.cumsum(new_class) - 1]  # distinct records of its class before it
    ok = rank < cap
    firsts = k[ok & distinct]
    if len(firsts) > max_total:
        ok &= k <= np.partition(firsts, max_total - 1)[max_total - 1]
    return np.sort(order[ok])


def _prefixes(digests: pa.Array, salt: bytes | None = None) -> np.ndarray:
    """The sample key of each 32-byte digest (``profiles.sample.sample_key``: without a salt, its first
    8 bytes as a big-endian integer, integer order = byte order)."""
    digests = digests.combine_chunks() if isinstance(digests, pa.ChunkedArray) else digests
    n = len(digests)
    raw = np.frombuffer(digests.buffers()[1], dtype=np.uint8, count=32 * n, offset=32 * digests.offset)
    return sample_key(raw.reshape(n, 32), salt)


@dataclass(frozen=True)
class CaptureLimits:
    """The bounds a capture reached (:meth:`SampleCapture.limits`): per class (``classes`` names the
    codes), the largest sample key that can still enter it, and the whole sample's; with the rule and
    salt they hold for. Rows past them cannot be sampled from any set of rows that holds the rows
    they were reached on, so a capture of more rows of the same manifest may start from them."""

    cap: int
    max_total: int
    salt: bytes | None
    classes: dict[str, int]
    class_limit: np.ndarray
    total_limit: int


class SampleCapture:
    """A running pool of the profile sample's candidates (see the module docstring).

    ``default_source`` fills null sources as ``HashedPart.finish`` does, so copies are
    ordered as in the manifest. Feed rows with :meth:`add`; :meth:`result` gives the pool.
    ``limits`` (:meth:`limits` of a capture of other rows of the same manifest, under the same rule
    and salt; others are ignored) lets rows that cannot be sampled be dropped from the first batch on.
    """

    def __init__(
        self,
        default_source: str | None,
        cap: int = DEFAULT_MAX_PER_CLASS,
        max_total: int = DEFAULT_MAX_TOTAL,
        budget: int = CAPTURE_BYTES,
        salt: bytes | None = None,
        limits: CaptureLimits | None = None,
    ):
        self.default_source = default_source
        self.cap, self.max_total, self.budget, self.salt = cap, max_total, budget, salt
        self.reset()
        if limits is not None and (limits.cap, limits.max_total, limits.salt) == (cap, max_total, salt):
            self.classes.update(limits.classes)  # empty after reset()
            self.class_limit = limits.class_limit.copy()
            self.total_limit = limits.total_limit

    def limits(self) -> CaptureLimits:
        """The bounds this capture has reached, for a capture of more rows of the same manifest."""
        return CaptureLimits(
            self.cap, self.max_total, self.salt, dict(self.classes), self.class_limit.copy(), self.total_limit
        )

    def reset(self) -> None:
        """Forget every row (a CSV/JSONL file read again from its start)."""
        self.keys: pa.Table | None = None  # the pool's digest, label, source, locator
        self.content: pa.Table | None = None  # its content columns, row for row
        self.codes = np.zeros(0, dtype=np.int64)  # its class indexes (``self.classes``)
        self.copies = np.zeros(0, dtype=np.int64)  # its rows' copies among the rows offered
        self.tied = False  # the bound once fell between rows of one sample key: ``copies`` cannot serve
        self.pending: list[tuple[pa.Table, pa.Table, np.ndarray, np.ndarray]] = []  # rows offered, not yet selected
        self.pending_rows = 0
        self.given_up = False
        self.classes: dict[str, int] = {}
        self.class_limit = np.zeros(0, dtype=np.uint64)  # per class: rows above this prefix cannot enter
        self.total_limit = _NO_LIMIT

    def give_up(self) -> None:
        """Stop capturing: the profile stage will re-read the table."""
        self.keys = self.content = None
        self.pending, self.pending_rows = [], 0
        self.given_up = True

    def _codes(self, labels) -> np.ndarray:
        if isinstance(labels, pa.ChunkedArray):
            labels = labels.combine_chunks()
        encoded = pc.dictionary_encode(labels)
        names = encoded.dictionary.to_pylist()
        to_global = np.array([self.classes.setdefault(name, len(self.classes)) for name in names], dtype=np.int64)
        grown = len(self.classes) - len(self.class_limit)
        if grown:
            self.class_limit = np.concatenate([self.class_limit, np.full(grown, _NO_LIMIT, dtype=np.uint64)])
        return to_global[encoded.indices.to_numpy(zero_copy_only=False)] if len(names) else np.zeros(0, np.int64)

    def add_batch(self, batch: pa.RecordBatch, content: list[str], digests: bytes, labels, sources, locators) -> None:
        """Offer one hashed batch: its content columns, 32-byte digests, label texts, sources and locators."""
        if self.given_up:
            return
        n = batch.num_rows
        digest_array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(digests)])
        keys = pa.table([digest_array, labels, sources.cast(pa.string()), locators], names=KEY_COLUMNS)
        self.add(keys, pa.Table.from_batches([batch]).select(content))

    def add(self, keys: pa.Table, content: pa.Table, copies: np.ndarray | None = None) -> None:
        """Offer rows: ``keys`` (digest, label, source, locator) and their ``content`` columns, row for row;
        ``copies`` (a pool's: each row stands for that many rows with its digest and label; default 1)."""
        if self.given_up or keys.num_rows == 0:
            return
        try:
            self._add(keys, content, np.ones(keys.num_rows, np.int64) if copies is None else copies)
        except (pa.ArrowException, ValueError):  # columns Arrow cannot combine: re-read instead
            self.give_up()

    def _add(self, keys: pa.Table, content: pa.Table, copies: np.ndarray) -> None:
        # Rows that cannot enter (past a full class's or a full sample's largest digest) are
        # dropped at once, on their sample keys (<=, so ties stay); the rest wait
        # until there are ``max_total`` of them, then the rule runs on their keys and the pool's.
        # A dropped row is no copy of a pooled record: a pooled record's key is within the limits.
        prefix = _prefixes(keys.column("digest").combine_chunks(), self.salt)
        labels = keys.column("label")
        if self.total_limit != _NO_LIMIT:  # labels are looked at only for rows under the sample's bound
            below = np.flatnonzero(prefix <= self.total_limit)
            if len(below) == 0:
                return
            codes = self._codes(labels.take(pa.array(below)))
        else:
            below = np.arange(keys.num_rows)
            codes = self._codes(labels)
        fits = prefix[below] <= self.class_limit[codes]
        passing, codes = below[fits], codes[fits]
        if len(passing) == 0:
            return
        if len(passing) < keys.num_rows:
            take = pa.array(passing)
            keys, content, copies = keys.take(take), content.take(take), copies[passing]
        self.pending.append((keys, content, codes, copies))
        self.pending_rows += len(passing)
        if self.pending_rows >= self.max_total:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        new_keys = pa.concat_tables([p[0] for p in self.pending])
        content = pa.concat_tables([p[1] for p in self.pending])
        codes = np.concatenate([p[2] for p in self.pending])
        new_copies = np.concatenate([p[3] for p in self.pending])
        self.pending, self.pending_rows = [], 0
        if self.default_source is not None:
            filled = pc.fill_null(new_keys.column("source"), self.default_source)
            new_keys = new_keys.set_column(2, "source", filled)
        held = 0 if self.keys is None else self.keys.num_rows
        every = new_keys if self.keys is None else pa.concat_tables([self.keys, new_keys])
        every_codes = np.concatenate([self.codes, codes])
        every_keys = _prefixes(every.column("digest").combine_chunks(), self.salt)
        rows = _candidates(every_keys, every_codes, self.cap, self.max_total)  # rows of ``every`` the rule may pick
        ranked = every.take(pa.array(rows)).append_column(_KEY, pa.array(every_keys[rows]))
        order = rows[pc.sort_indices(ranked, sort_keys=[(_KEY, "ascending"), *SORT_KEYS]).to_numpy()]
        digests = every.column("digest").combine_chunks().take(pa.array(order))
        d32 = np.frombuffer(digests.buffers()[1], dtype="S32", count=len(order), offset=digests.offset * 32)
        keys = every_keys[order]
        sorted_codes = every_codes[order]
        chosen = _bounded(d32, sorted_codes, keys, len(self.classes), self.cap, self.max_total)
        if chosen is None:  # kept as the rule's order has it; the manifest pass decides the tie itself
            self.tied = True
            chosen = np.sort(first_per_class(d32, sorted_codes, len(self.classes), self.cap, self.max_total))
        # a record's rows are adjacent in key order (one digest, one key), each run led by the row kept
        run = np.ones(len(order), dtype=bool)
        run[1:] = (d32[1:] != d32[:-1]) | (sorted_codes[1:] != sorted_codes[:-1])
        run_copies = np.add.reduceat(np.concatenate([self.copies, new_copies])[order], np.flatnonzero(run))
        copies_of = np.zeros(every.num_rows, dtype=np.int64)  # per row of ``every``: its run's copies, if kept
        copies_of[order[chosen]] = run_copies[np.cumsum(run)[chosen] - 1]
        picked = order[chosen]  # rows of ``every``
        from_pool, from_new = np.sort(picked[picked < held]), np.sort(picked[picked >= held]) - held
        if len(from_new) == 0 and len(from_pool) == held:
            self.copies = copies_of[:held]  # copies of pooled records may have come
            return  # the pool still holds every row the rule can pick; the limits stay as they were
        parts = [new_keys.take(pa.array(from_new))]
        added = content.take(pa.array(from_new))
        if self.keys is not None and self.content is not None:
            parts.insert(0, self.keys.take(pa.array(from_pool)))
            added = pa.concat_tables([self.content.take(pa.array(from_pool)), added])
        self.keys, self.content = pa.concat_tables(parts), added
        self.codes = every_codes[np.concatenate([from_pool, from_new + held])]
        self.copies = copies_of[np.concatenate([from_pool, from_new + held])]
        if self.keys.nbytes + self.content.nbytes > self.budget:
            self.give_up()
            return
        kept_prefix = _prefixes(self.keys.column("digest").combine_chunks(), self.salt)
        counts = np.bincount(self.codes, minlength=len(self.classes))
        for c in np.flatnonzero(counts >= self.cap):  # a full class: only smaller digests can still enter it
            self.class_limit[c] = kept_prefix[self.codes == c].max()
        if len(chosen) >= self.max_total:
            self.total_limit = kept_prefix.max()

    def result(self) -> CapturedSample:
        """The pool (None if given up; no rows offered: empty tables)."""
        if not self.given_up:
            try:
                self._flush()
            except (pa.ArrowException, ValueError):
                self.give_up()
        if self.given_up:
            return CapturedSample(self.cap, self.max_total, None, None, self.salt)
        if self.keys is None or self.content is None:
            empty = pa.table([pa.array([], pa.binary(32))] + [pa.array([], pa.string())] * 3, names=KEY_COLUMNS)
            return CapturedSample(self.cap, self.max_total, empty, pa.table({}), self.salt, np.zeros(0, np.int64))
        copies = None if self.tied else self.copies
        return CapturedSample(self.cap, self.max_total, self.keys, self.content, self.salt, copies)

    def merge(self, other: CapturedSample | None) -> None:
        """Offer a worker's pool; a worker that gave up (or did not capture) makes this give up too, and
        one whose copies are not counted (a tie at its bound) leaves the merged pool's uncounted."""
        if other is None or other.keys is None or other.content is None:
            self.give_up()
        elif (other.cap, other.max_total, other.salt) != (self.cap, self.max_total, self.salt):
            self.give_up()
        else:
            if other.copies is None:
                self.tied = True
            self.add(other.keys, other.content, other.copies)


# The capture limits the last table partition hashed in this process reached, under the token of the
# hashing run it belongs to (one run's rows, read with one set of types): the next partition of the same
# run starts from them instead of pooling its first batch whole (issue 15: ~0.07 us a row of a worker's
# ~1.2 us). Another run's token finds nothing: limits never pass from one manifest to another.
_carried: dict[str, CaptureLimits] = {}


def partition_capture(default_source: str | None, salt: bytes | None, run: str) -> SampleCapture:
    """A capture for one partition of hashing run ``run`` (``build._table_tasks``' token; "": none), starting
    from the limits this process's last partition of the same run and default source reached (:func:`keep_limits`)."""
    return SampleCapture(default_source, salt=salt, limits=_carried.get(f"{run}\0{default_source}") if run else None)


def keep_limits(capture: SampleCapture, run: str) -> None:
    """Keep ``capture``'s limits for this process's next partition of run ``run``, and only them: a
    long-lived worker (a Dask cluster's) holds one run's limits at most."""
    if run:
        _carried.clear()
        _carried[f"{run}\0{capture.default_source}"] = capture.limits()
