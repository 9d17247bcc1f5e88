"""The profile sample: per class, the distinct records with the smallest content digests.

One rule, used twice: at commit, to pick which manifest rows are read again and
featurised, and inside the profile, to pick the bounded sample it keeps. The sample is
content-defined (the same records give the same sample in any order, file or chunking)
and, digests being SHA-256, an unbiased draw; the base is trusted, so nobody grinds
digests to get into it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.manifest import SCHEMA, Manifest

DEFAULT_MAX_PER_CLASS = 2000


def _as_s32(digests: np.ndarray) -> np.ndarray:
    """Digests as one ``S32`` item each, from an ``S32`` array or an ``(n, 32)`` uint8 matrix."""
    if digests.dtype == np.dtype("S32"):
        return digests
    if digests.ndim != 2 or digests.shape[1] != 32 or digests.dtype != np.uint8:
        raise ValueError(f"digests must be S32 or (n, 32) uint8, not {digests.dtype} {digests.shape}")
    return np.ascontiguousarray(digests).view("S32").reshape(-1)


def first_per_class(
    digests: np.ndarray,
    classes: np.ndarray,
    n_classes: int,
    cap: int,
    max_total: int | None = None,
    taken: np.ndarray | None = None,
) -> np.ndarray:
    """Row indexes of the sample, class by class (digest order within a class).

    ``digests`` (``S32`` items or an ``(n, 32)`` uint8 matrix) must be sorted ascending;
    ``classes`` holds each row's class index in ``[0, n_classes)``. A record repeated
    with the same class sits next to its copies and counts once; each class keeps at
    most ``cap`` rows, and if that is more than ``max_total`` in all, only the
    ``max_total`` of them with the smallest digests are kept. ``taken`` (per class, how
    many distinct rows earlier batches of the same sorted sequence held) continues a
    streamed pass; it is updated in place. Vectorised: this runs over the whole manifest
    on every commit.
    """
    n = len(classes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    d = _as_s32(digests)
    first = np.ones(n, dtype=bool)
    first[1:] = (d[1:] != d[:-1]) | (classes[1:] != classes[:-1])
    rows = np.flatnonzero(first)
    row_classes = classes[rows]
    by_class = np.argsort(row_classes, kind="stable")  # stable: digest order kept within a class
    sorted_classes = row_classes[by_class]
    starts = np.searchsorted(sorted_classes, np.arange(n_classes))
    rank = np.arange(len(rows)) - starts[sorted_classes]
    if taken is not None:
        rank += taken[sorted_classes]
        taken += np.bincount(row_classes, minlength=n_classes)[: len(taken)]
    chosen = rows[by_class[rank < cap]]
    if max_total is not None and len(chosen) > max_total:
        kept = np.sort(chosen)[:max_total]  # rows are in digest order: the smallest digests
        chosen = chosen[np.isin(chosen, kept)]
    return chosen


def sample_rows(manifest: Manifest, cap: int = DEFAULT_MAX_PER_CLASS) -> np.ndarray:
    """Manifest rows of the profile sample, ascending: per label, the first ``cap`` distinct digests.

    The manifest is sorted by (digest, label), so the first rows of each label are its
    smallest digests. Streamed (see ``sample_table``).
    """
    return _stream_sample(manifest, cap)[0]


def sample_table(manifest: Manifest, cap: int = DEFAULT_MAX_PER_CLASS) -> pa.Table:
    """The sample's manifest rows (digest, label, source, locator) in manifest order.

    Only those four columns are read, one row group at a time (``Manifest.iter_batches``),
    so a large file-backed manifest is never loaded whole; each batch is chosen vectorised.
    """
    return _stream_sample(manifest, cap)[1]


_SAMPLE_COLUMNS = ["digest", "label", "source", "locator"]


def _stream_sample(manifest: Manifest, cap: int) -> tuple[np.ndarray, pa.Table]:
    label_index: dict[str, int] = {}
    taken = np.zeros(0, dtype=np.int64)
    previous: tuple[np.bytes_, int] | None = None
    rows: list[np.ndarray] = []
    parts: list[pa.Table] = []
    start = 0
    for batch in manifest.iter_batches(_SAMPLE_COLUMNS):
        n = batch.num_rows
        if n == 0:
            continue
        digests = batch.column("digest")
        d = np.frombuffer(digests.buffers()[1], dtype="S32", count=n, offset=digests.offset * 32)
        labels = pc.dictionary_encode(batch.column("label"))
        to_global = np.array(
            [label_index.setdefault(name, len(label_index)) for name in labels.dictionary.to_pylist()], dtype=np.int64
        )
        codes = to_global[labels.indices.to_numpy(zero_copy_only=False)]
        taken = np.concatenate([taken, np.zeros(len(label_index) - len(taken), dtype=np.int64)])
        if previous is not None:
            # The previous batch's last row goes first again, so copies of it that continue
            # here are seen as copies; it was counted there, so it is not counted twice.
            d = np.concatenate([np.array([previous[0]], dtype="S32"), d])
            codes = np.concatenate([[previous[1]], codes])
            taken[previous[1]] -= 1
        previous = (d[-1], int(codes[-1]))
        chosen = np.sort(first_per_class(d, codes, len(label_index), cap, taken=taken))
        if len(d) > n:
            chosen = chosen[chosen > 0] - 1
        if len(chosen):
            rows.append(chosen + start)
            parts.append(pa.Table.from_batches([batch]).take(pa.array(chosen)))
        start += n
    picked = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    schema = pa.schema([SCHEMA.field(name) for name in _SAMPLE_COLUMNS])
    table = pa.concat_tables(parts).cast(schema) if parts else schema.empty_table()
    return picked.astype(np.int64), table


def copies_of(manifest: Manifest, sample: pa.Table) -> np.ndarray:
    """How many manifest rows carry the digest and label of each row of ``sample`` (as
    ``sample_table`` gives it): the base's own repeat count of each sampled record, which
    the duplicates detector judges a delta's copies against. Streams the manifest's
    digest and label columns one row group at a time."""
    wanted = {
        (d, l): i
        for i, (d, l) in enumerate(zip(sample.column("digest").to_pylist(), sample.column("label").to_pylist()))
    }
    counts = np.zeros(len(wanted), dtype=np.int64)
    if not wanted:
        return counts
    value_set = pa.array(sorted({d for d, _ in wanted}), pa.binary(32))
    for batch in manifest.iter_batches(["digest", "label"]):
        hit = batch.filter(pc.is_in(batch.column("digest"), value_set=value_set))
        for d, label in zip(hit.column("digest").to_pylist(), hit.column("label").to_pylist()):
            i = wanted.get((d, label))
            if i is not None:
                counts[i] += 1
    return counts
