"""Reference profile: a bounded, deterministic summary of a trusted version's features.

Built once when a version is committed (the only step that reads the whole base);
detectors then read only the profile and the delta, so detection cost grows with the
delta and the bounded sample, never with the base.

The sample of each class is its ``max_per_class`` records with the smallest content
digests (the rule lives in ``profiles/sample.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from provenance.features.base import FeatureError, check_same_dimension, finite_matrix
from provenance.features.blas import single_threaded_blas
from provenance.features.lda import fit_lda
from provenance.profiles.batch_copies import COPY_PSEUDO_BATCHES, BatchCopies, batches_of_ranks, file_order_rank
from provenance.profiles.batch_copies import batch_copies as count_batch_copies
from provenance.profiles.batches import pseudo_batches
from provenance.profiles.graph import batch_neighbour_graph
from provenance.profiles.sample import DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, first_per_class
from provenance.profiles.shift import pseudo_batch_shifts
from provenance.profiles.z_limit import bounded

FORMAT_MAGIC = b"PROVPROFILE\x003\n"  # 3: repeat counts (sample_copies), batch drift (batch_shift)
NEIGHBOURS_KEPT = 16
# The base is cut into this many pseudo-batches in its file order; reference scores are
# computed with each record's own batch left out, so they include batch-to-batch drift.
PSEUDO_BATCHES = 10
# A near-constant column would blow up after standardising; floor its scale at a share
# of the typical column's, so a column that is always 0 in the base still makes a
# record that sets it (a patch trigger in a blank corner) stand out, but not infinitely.
_SCALE_FLOOR_SHARE = 0.05
_SCALE_MAX = float(np.finfo(np.float32).max)  # a scale float32 holds (the spread of values near its limit is not)
# The centre and scale of a column are its winsorised mean and standard deviation (build_profile holds each column at bulk_ends): the values of its
# BULK_TRIM_SHARE most extreme records at each end (at least BULK_TRIM_MIN, under a quarter) are held at the next
# record's, so one record with a huge value accepted into the base (a waived glitch at 1e38, or 1e6 where the rest
# are pixels) no longer sets its column's scale and blinds it to a trigger (attack review 29b, A29b-4). A robust
# scale such as the median absolute deviation is 0 on a sparse column (27 of the 64 digit pixels), which the floor
# would then set; the winsorised scale keeps a column's ordinary spread: on the bench's datasets (170 to 5,190
# records) the median column's scale moves by 0-3% (spam7's heavy tails: 7-21%), the most-moved column's by 0-38%
# (bench/results/robust-scale-s30.md). Moving it takes more such records than that (more than 2, or than 0.2% of
# the records profiled).
BULK_TRIM_SHARE = 0.002
BULK_TRIM_MIN = 2
# The profile's sample is held within SAMPLE_HOLD_SCALES scales beyond the bulk's ends: a waived glitch (1e38) kept raw
# stood Z_LIMIT scales out, and the calibrations over the sample ("beyond every reference record") no longer reached a
# trigger some tens of scales out (attack review 30b, A30b-6: px00 = 16 is ~75 floored scales out in digits). Held at
# the bulk's ends themselves, a clean base's own rare values went too and clean deliveries drew more false alarms
# (tests/unit/detectors/test_beyond.py); at 10 and 20 scales a borderline clean record flipped in
# tests/attacks/test_review26i_reference_lengths.py and the demo's report moved. 40 moves no value of the sklearn
# digits (the farthest stands 37.5 scales past its bulk), wine or breast cancer, and holds the glitch at about half a
# px00 trigger's distance.
SAMPLE_HOLD_SCALES = 40.0

_ARRAYS = (
    "mean",
    "scale",
    "class_means",
    "sample_X",
    "sample_labels",
    "sample_digests",
    "sample_batches",
    "sample_copies",
    "nn_idx",
    "nn_dist",
    "loo_dist",
    "own_class_nn_dist",
    "other_class_nn_dist",
    "softmax_weights",
    "batch_shift",
)
# Arrays a profile may lack (written before they were kept): read as None, and the detectors and rules
# that use them keep their earlier behaviour.
_OPTIONAL_ARRAYS = ("batch_rows", "batch_copies", "batch_most_copies", "copy_index_bytes")


def bulk_ends(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ends of each column's bulk: its ``k``-th smallest and ``k``-th largest value, ``k = bulk_trimmed(n)``
    (``X`` n x d; two (d,) arrays of ``X``'s dtype; ``-inf``/``inf`` where ``k`` is 0, so nothing is held)."""
    n = len(X)
    k = bulk_trimmed(n)
    if k == 0:
        return np.full(X.shape[1:], -np.inf, X.dtype), np.full(X.shape[1:], np.inf, X.dtype)
    ends = np.partition(X, (k, n - 1 - k), axis=0)
    return ends[k], ends[n - 1 - k]


def bulk_trimmed(n: int) -> int:
    """How many of ``n`` values (records) at each end of a column the profile (``build_profile``) holds at the next one:
    ``BULK_TRIM_SHARE`` of them rounded up, at least ``BULK_TRIM_MIN``, and fewer than a quarter (0 for n < 5), so
    a small base keeps its middle half's spread (holding all but the median would leave every column the floor)."""
    return min(max(BULK_TRIM_MIN, math.ceil(BULK_TRIM_SHARE * n)), (n - 1) // 4)


def digests_matrix(digests: Sequence[bytes] | np.ndarray) -> np.ndarray:
    """Digests as an (n, 32) uint8 array; refuse anything that is not 32 bytes."""
    if isinstance(digests, np.ndarray) and digests.dtype == np.uint8 and digests.ndim == 2:
        return digests
    bad = [i for i, d in enumerate(digests) if len(d) != 32]
    if bad:
        raise FeatureError("content digests must be 32 bytes; records", bad)
    if len(digests) == 0:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(b"".join(bytes(d) for d in digests), dtype=np.uint8).reshape(-1, 32)


@dataclass(eq=False)
class ReferenceProfile:
    """A trusted version's reference profile (see the module docstring).

    Whole-base statistics and a bounded per-class sample with its neighbour geometry and
    a softmax model. Serialised by :meth:`to_bytes` as a JSON header then little-endian
    arrays.
    """

    featurizer: str
    dim: int
    max_per_class: int
    n_records: int
    classes: list[str]
    class_counts: list[int]
    source_counts: dict[str, int]
    mean: (
        np.ndarray
    )  # (d,) column centres: winsorised means (held at bulk_ends; plain means in profiles before session 30)
    scale: np.ndarray  # (d,) column scales: winsorised std (plain std before session 30), floored
    class_means: np.ndarray  # (k, d) in standardised space, over the whole base (winsorised as mean and scale)
    sample_X: np.ndarray  # (m, d) raw features of the sample, held within SAMPLE_HOLD_SCALES of the bulk
    sample_labels: np.ndarray  # (m,) class index into ``classes``
    sample_digests: np.ndarray  # (m, 32) uint8
    sample_batches: np.ndarray  # (m,) pseudo-batch of each sample record, in the base's file order
    sample_copies: np.ndarray  # (m,) rows of the base with this record's digest and label (>= 1)
    nn_idx: np.ndarray  # (m, K) nearest sample records of other pseudo-batches
    nn_dist: np.ndarray  # (m, K) their distances, standardised space
    loo_dist: np.ndarray  # (m, K) distances to the nearest other sample records, any batch
    own_class_nn_dist: np.ndarray  # (m,) distance to the nearest record of its class in another batch
    other_class_nn_dist: np.ndarray  # (m,) ... of any other class
    softmax_weights: np.ndarray  # (3, d+1, k) linear softmax (LDA): even batches, odd batches, all
    batch_shift: np.ndarray  # (B, 4) drift signals of each pseudo-batch (profiles.shift.SIGNALS)
    # How to rebuild the featuriser for the delta: FeaturizerSpec.to_dict(); None in
    # profiles written before it was stored (the identity string is read instead).
    featurizer_spec: dict | None = None
    # Within-pseudo-batch repetition of the base's rows (profiles.batch_copies.BatchCopies): (B,) rows of
    # each file-order pseudo-batch, (B, K) its copies per class and the largest copies of one record per
    # class. None in profiles written before session 23, and where the rows were not all given.
    batch_rows: np.ndarray | None = None
    batch_copies: np.ndarray | None = None
    batch_most_copies: np.ndarray | None = None
    # Feature columns of the signed profile this one was narrowed without, because the candidate scored against it
    # dropped them (profiles.shared_columns); never serialised: a profile object is always the signed one, whole.
    columns_left_out: tuple[str, ...] = ()
    # The version's copy index (profiles.copy_index.CopyIndex.to_bytes: every base record's features, where the sample
    # misses records of a table), as uint8; signed with the rest of the profile. None where the version keeps none.
    copy_index_bytes: np.ndarray | None = None
    # The signed copy index carried onto a profile rebuilt from the signed one (profiles.copy_index.carried_copy_index:
    # waived records left out, columns narrowed); never serialised. ``copy_index`` returns it when set.
    copy_index_carried: Any = None

    def batch_copies_problem(self) -> str | None:
        """What is wrong with the profile's within-pseudo-batch arrays (``BatchCopies.problem`` against the base's
        ``n_records`` rows), None when they are sound or absent (a profile written before them)."""
        if self.batch_rows is None and self.batch_copies is None and self.batch_most_copies is None:
            return None
        if self.batch_rows is None or self.batch_copies is None or self.batch_most_copies is None:
            return "it keeps some of batch_rows, batch_copies and batch_most_copies, not all three"
        return BatchCopies.problem(self.batch_rows, self.batch_copies, self.batch_most_copies, self.n_records)

    # -- views detectors use -------------------------------------------------------
    @property
    def within_batch_copies(self) -> BatchCopies | None:
        """The base's within-pseudo-batch repetition (``profiles.batch_copies``), None when the profile has none."""
        if self.batch_rows is None or self.batch_copies is None or self.batch_most_copies is None:
            return None
        return BatchCopies(
            self.batch_rows.astype(np.int64),
            self.batch_copies.astype(np.int64),
            self.batch_most_copies.astype(np.int64),
        )

    def standardize(self, X: np.ndarray) -> np.ndarray:
        """``X`` (n x dim, raw features) in the profile's standardised space, float32; FeatureError if the dimension differs."""
        check_same_dimension(self.dim, X, "the delta")
        with np.errstate(over="ignore"):  # X - mean past float32's limit is inf, then held at Z_LIMIT
            Z = ((X - self.mean) / self.scale).astype(np.float32)
        return bounded(Z)

    @cached_property
    def sample_Z(self) -> np.ndarray:
        """The sample in standardised space."""
        return self.standardize(self.sample_X)

    @cached_property
    def sample_folds(self) -> np.ndarray:
        """Cross-fitting fold of each sample record: the parity of its pseudo-batch, so the
        model that scores a base record never saw its batch (as for a new batch)."""
        return (self.sample_batches % 2).astype(np.int64)

    def label_indexes(self, labels: Sequence[str | None]) -> np.ndarray:
        """Class index of each label, -1 for a label the base never had."""
        lookup = {c: i for i, c in enumerate(self.classes)}
        return np.array([lookup.get(str(l), -1) if l is not None else -1 for l in labels], dtype=np.int64)

    def describe_sample(self, index: int, distance: float) -> str:
        """A sample record for explanations: digest prefix, label and distance."""
        return f"{self._sample_names[index]}, d={distance:.2f})"

    def describe_samples(self, indexes: list[int], distances: list[float]) -> list[str]:
        """``describe_sample`` of each (index, distance) pair whose index is not negative (-1: no neighbour),
        in one comprehension: flagged records' explanations name five neighbours each."""
        names = self._sample_names
        return [f"{names[i]}, d={d:.2f})" for i, d in zip(indexes, distances) if i >= 0]

    @cached_property
    def _sample_names(self) -> list[str]:
        """Each sample record's ``"digest prefix (label L"``, written once: explanations name
        tens of thousands of base records in a large delta."""
        text = np.ascontiguousarray(self.sample_digests).tobytes().hex()
        width = len(text) // max(len(self.sample_digests), 1)  # each record's bytes, in hex
        return [
            f"{text[i * width : i * width + 12]} (label {self.classes[label]}"
            for i, label in enumerate(self.sample_labels.tolist())
        ]

    # -- serialisation ---------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Deterministic bytes: a canonical JSON header then raw little-endian arrays."""
        names = _ARRAYS + tuple(n for n in _OPTIONAL_ARRAYS if getattr(self, n) is not None)
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in names}
        layout: dict[str, dict[str, Any]] = {}
        offset = 0
        for name in names:
            a = arrays[name]
            dtype = a.dtype.newbyteorder("<").str
            layout[name] = {"dtype": dtype, "shape": list(a.shape), "offset": offset}
            offset += a.nbytes
        header = {
            "featurizer": self.featurizer,
            "dim": self.dim,
            "max_per_class": self.max_per_class,
            "n_records": self.n_records,
            "classes": self.classes,
            "class_counts": self.class_counts,
            "source_counts": dict(sorted(self.source_counts.items())),
            "arrays": layout,
        }
        if self.featurizer_spec is not None:
            header["featurizer_spec"] = self.featurizer_spec
        header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        body = b"".join(arrays[n].astype(layout[n]["dtype"], copy=False).tobytes() for n in names)
        return FORMAT_MAGIC + struct.pack("<Q", len(header_bytes)) + header_bytes + body

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """The profile ``to_bytes`` wrote; FeatureError (naming the problem) for anything else."""
        if not data.startswith(FORMAT_MAGIC):
            if data.startswith(FORMAT_MAGIC[:-2]):
                raise FeatureError(
                    "the reference profile was written by an older prov (format "
                    f"{data[len(FORMAT_MAGIC) - 2 : len(FORMAT_MAGIC) - 1].decode(errors='replace')}); "
                    "re-commit the base version to rebuild it"
                )
            raise FeatureError("not a prov reference profile (bad magic bytes)")
        start = len(FORMAT_MAGIC)
        try:
            (header_len,) = struct.unpack("<Q", data[start : start + 8])
            header = json.loads(data[start + 8 : start + 8 + header_len])
            body = memoryview(data)[start + 8 + header_len :]
            arrays: dict[str, Any] = {}
            for name in _ARRAYS + tuple(n for n in _OPTIONAL_ARRAYS if n in header["arrays"]):
                spec = header["arrays"][name]
                dtype = np.dtype(spec["dtype"])
                count = int(np.prod(spec["shape"], dtype=np.int64))
                arrays[name] = (
                    np.frombuffer(body, dtype=dtype, count=count, offset=spec["offset"]).reshape(spec["shape"]).copy()
                )
            fields: dict[str, Any] = {
                k: header[k]
                for k in ("featurizer", "dim", "max_per_class", "n_records", "classes", "class_counts", "source_counts")
            }
            fields["featurizer_spec"] = header.get("featurizer_spec")
        except (struct.error, ValueError, KeyError, TypeError) as exc:
            raise FeatureError(
                f"damaged reference profile ({type(exc).__name__}: {exc}); rebuild it from the base version"
            ) from exc
        return cls(**fields, **arrays)

    @cached_property
    def copy_index(self) -> Any:
        """The profile's copy index (``profiles.copy_index.CopyIndex``), parsed when first asked for; None without one.
        Raises ``FeatureError`` when its bytes are not an index (they are signed with the profile: a damaged one)."""
        if self.copy_index_carried is not None:
            return self.copy_index_carried
        if self.copy_index_bytes is None:
            return None
        from provenance.profiles.copy_index import CopyIndex

        try:
            return CopyIndex.from_bytes(self.copy_index_bytes.tobytes())
        except (ValueError, KeyError, TypeError) as exc:
            raise FeatureError(
                f"damaged copy index in the reference profile ({exc}); rebuild it from the base"
            ) from exc

    def content_digest(self) -> str:
        """SHA-256 (hex) of the profile's bytes."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @property
    def sample_size(self) -> int:
        """Number of sampled records."""
        return len(self.sample_X)


@single_threaded_blas  # deterministic bytes for a signed object, and faster on 2 cores
def build_profile(
    X: np.ndarray,
    labels: Sequence[str],
    digests: Sequence[bytes] | np.ndarray,
    *,
    featurizer: str,
    sources: Sequence[str | None] | None = None,
    max_per_class: int = DEFAULT_MAX_PER_CLASS,
    positions: Sequence | np.ndarray | None = None,
    max_total: int = DEFAULT_MAX_TOTAL,
    featurizer_spec: dict | None = None,
    copies: Sequence[int] | np.ndarray | None = None,
    within_batches: BatchCopies | None = None,
) -> ReferenceProfile:
    """Summarise a trusted version: whole-base statistics plus a bounded sample.

    ``X`` (n x d), ``labels`` and ``digests`` (n, 32-byte) describe the base (or a
    sample of it); ``positions`` (n,), when given, is each record's place in the base's
    file order: its manifest locator (a row number, ``file#row``, a tree's path) or a number
    (a numpy array), ranked by ``profiles.batch_copies.file_order_rank``, from which the
    sample is cut into ``PSEUDO_BATCHES`` contiguous pseudo-batches. Without positions
    the batches follow digest order, i.e. they are random. The sample takes per class
    at most ``max_per_class`` records and at most ``max_total`` in all (the smallest
    digests). ``featurizer`` is the featuriser's identity string and ``featurizer_spec``
    (``FeaturizerSpec.to_dict()``) how to rebuild it for the delta. ``copies`` (n,), when
    the rows given are distinct records, is how many rows of the base carry each one (its
    digest and label); without it, repeated rows among those given are counted. The
    profile keeps each sampled record's count, so detectors judge copies in a delta
    against how much the base itself repeats (real data does: DAAG's spam7 has 4,601 rows
    and 2,945 distinct ones). ``within_batches`` is the base's within-pseudo-batch
    repetition (``profiles.batch_copies``, counted on every row of the base); without it,
    it is counted here when the rows given are the whole base (no ``copies``) and left out
    otherwise. Raises FeatureError for non-finite features or mismatched lengths, ValueError
    for ``positions`` of another length.
    """
    digest_array = digests_matrix(digests)
    names = [d.hex()[:12] for d in (bytes(r) for r in digest_array)]
    X = finite_matrix(X, "the base features", names)
    labels = [str(l) for l in labels]
    if not (len(X) == len(labels) == len(digest_array)):
        raise FeatureError(
            f"features ({len(X)}), labels ({len(labels)}) and digests ({len(digest_array)}) differ in length"
        )
    if len(X) == 0:
        raise FeatureError("cannot build a reference profile from an empty version")
    n, d = X.shape
    classes = sorted(set(labels))
    label_index = _index(labels, classes)
    # Put the rows in (digest, label) order first: sums in a fixed order give the same float bits
    # whatever order the version's files listed the records in.
    by_digest = np.lexsort((label_index, *(digest_array[:, j] for j in range(31, -1, -1))))
    X, label_index, digest_array = X[by_digest], label_index[by_digest], digest_array[by_digest]
    if positions is not None and len(positions) != n:
        raise ValueError(f"{len(positions)} positions for {n} records")
    ranks = file_order_rank(positions)[by_digest] if positions is not None else np.arange(n)
    row_copies = (
        np.asarray(copies, dtype=np.int64)[by_digest] if copies is not None else _group_sizes(digest_array, label_index)
    )

    if within_batches is None and copies is None:  # the rows given are the base's: count its batches' copies
        within_batches = count_batch_copies(
            _group_sizes(digest_array, np.zeros(n, np.int64), ids=True),
            batches_of_ranks(ranks, COPY_PSEUDO_BATCHES),
            COPY_PSEUDO_BATCHES,
        )

    low, high = bulk_ends(X.astype(np.float64))
    bulk = np.clip(X.astype(np.float64), low, high)  # each column winsorised: held at its bulk's ends
    mean = bulk.mean(axis=0)
    std = bulk.std(axis=0)
    floor = max(_SCALE_FLOOR_SHARE * float(np.median(std)), 1e-6)
    scale = np.minimum(np.maximum(std, floor), _SCALE_MAX)
    Z_all_means = bounded(
        np.stack([((bulk[label_index == c].mean(axis=0)) - mean) / scale for c in range(len(classes))])
    )

    chosen = first_per_class(digest_array, label_index, len(classes), max_per_class, max_total)
    # held within SAMPLE_HOLD_SCALES scales of the bulk's ends (A30b-6); values within them keep their bits
    margin = SAMPLE_HOLD_SCALES * scale
    with np.errstate(over="ignore"):  # an end past float32 is held at inf: nothing beyond it
        sample_X = np.clip(X[chosen], (low - margin).astype(X.dtype), (high + margin).astype(X.dtype))
    sample_labels = label_index[chosen].astype(np.int32)
    sample_digests = digest_array[chosen]
    sample_batches = pseudo_batches(ranks[chosen], PSEUDO_BATCHES, sample_labels)
    sample_copies = np.maximum(row_copies[chosen], 1).astype(np.int32)
    sample_Z = bounded((sample_X - mean) / scale).astype(np.float32)

    # Neighbour geometry of the sample, computed once here so every detector can
    # calibrate on the reference without touching the base again; leave-one-batch-out,
    # so reference records face the base as a new batch's records do.
    graph = batch_neighbour_graph(sample_Z, sample_labels, sample_batches, NEIGHBOURS_KEPT)

    fold = (sample_batches % 2).astype(bool)
    weights = np.stack(
        [
            fit_lda(sample_Z[~fold], sample_labels[~fold], len(classes)),
            fit_lda(sample_Z[fold], sample_labels[fold], len(classes)),
            fit_lda(sample_Z, sample_labels, len(classes)),
        ]
    )
    # How far each of the base's own batches shifts from the rest: the natural drift a
    # new batch is judged against (profiles.shift).
    batch_shift = pseudo_batch_shifts(sample_Z, sample_labels.astype(np.int64), sample_batches, len(classes), weights)
    counts = np.bincount(label_index, minlength=len(classes))
    source_counts = Counter(s if s is not None else "" for s in sources) if sources is not None else Counter()
    return ReferenceProfile(
        featurizer=featurizer,
        dim=d,
        max_per_class=int(max_per_class),
        n_records=n,
        classes=classes,
        class_counts=[int(c) for c in counts],
        source_counts={str(k): int(v) for k, v in sorted(source_counts.items())},
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        class_means=Z_all_means.astype(np.float32),
        sample_X=sample_X.astype(np.float32),
        sample_labels=sample_labels,
        sample_digests=sample_digests,
        sample_batches=sample_batches,
        sample_copies=sample_copies,
        nn_idx=graph["idx"].astype(np.int32),
        nn_dist=graph["dist"],
        loo_dist=graph["loo_dist"],
        own_class_nn_dist=graph["own_dist"],
        other_class_nn_dist=graph["other_dist"],
        softmax_weights=weights,
        featurizer_spec=featurizer_spec,
        batch_shift=batch_shift,
        batch_rows=None if within_batches is None else within_batches.rows.astype(np.int64),
        batch_copies=None if within_batches is None else within_batches.copies.astype(np.int64),
        batch_most_copies=None if within_batches is None else within_batches.most.astype(np.int64),
    )


def _index(labels: Sequence[str], classes: list[str]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[l] for l in labels])


def _group_sizes(digests: np.ndarray, label_index: np.ndarray, ids: bool = False) -> np.ndarray:
    """For each row (in digest order), how many rows share its digest and label (with ``ids``, the index of
    its group instead)."""
    n = len(digests)
    starts = np.ones(n, dtype=bool)
    starts[1:] = ~((digests[1:] == digests[:-1]).all(axis=1) & (label_index[1:] == label_index[:-1]))
    group = np.cumsum(starts) - 1
    return group if ids else np.bincount(group)[group]
