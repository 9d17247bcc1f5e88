"""The copy index: every base record's standardised features, for finding an added record's near copies in the whole base.

The profile keeps a sample (at most 2,000 records a class), so a relabelled near copy of a base record outside it was
judged as any new record (attack review 32e, A32e-1). When the base is larger than its sample, a table's commit
featurises *every* base record (read again and re-hashed against the signed manifest, as the sample is), standardises
it on the profile's centre and scale and keeps it here: float32 features in the order of a grid-cell key, with each
record's class and the first 8 bytes of its digest. It is kept inside the profile object (``copy_index_bytes``), so
the digest the version's statement signs covers it, a check reads it only through that digest (``load_profile``
re-hashes the object) and a changed byte fails closed.

Search is exact within a ``radius``: the grid is made at commit for ``extreme.copy_search_radius`` (the distance past
which a record's copy evidence cannot block a one-record delta at the default level, capped), and a check re-keys it
(:meth:`CopyIndex.searching`) when its own delta's bar reaches further (attack review 33d, A33d-1). A profile rebuilt
from the signed one (waived records left out, a candidate's dropped columns) carries the index re-standardised on its
own centre and scale (:func:`carried_copy_index`; A33d-2, A33d-3). The space is cut into cubes of side ``width`` >= 2 x radius on a grid
shifted by a vector, each record keyed by a hash of its cell; a query reads its own cell and every cell it lies
within ``radius`` of (at most one neighbour a coordinate, so ``2 ** k`` cells for ``k`` such coordinates; past
``MAX_PROBE_BITS`` it compares with every record), and measures the candidates' exact distances. The grid a commit
keys is fixed (``_GRID_SEED``: the index is a function of the base alone), so anyone can place records at its cells'
corners, near every face, and make each look-up compare with every record (attack review 34a, A34a-2: 40 times the
CPU of a look-up at a record on 500,000 x 16). A check therefore searches a grid whose shift and key multipliers are
drawn from the digests of the records it looks up and fresh random bytes (:func:`check_grid_key`,
:meth:`CopyIndex.searching`): no submitter can aim at its corners (grinding digests alone could: A35b-3), and a
record lies near more than ``MAX_PROBE_BITS`` faces of a grid it cannot aim at about as rarely as a real one (3.5e-6
of records on 16 features). The grid changes which
cells are read, never which records lie within the radius: the distances found are the same. A base past
``INDEX_MAX_ROWS`` records or ``INDEX_MAX_VALUES`` features in all (rows x features) keeps no index: its copy evidence
stays the sample's, which commit and the check say (docs/detection.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from provenance.profiles.reference import ReferenceProfile

FORMAT_MAGIC = b"PROVCOPYINDEX\x001\n"
# Past these a base keeps no index (issue 15's profile budget, <= 3 s and <= 500 MiB: at 1M rows of 16 features the
# index cost 8.1 s of CPU and 887 MiB read by locator, bench/results/fix33a-copy-index.md; read in one pass
# (profiles.copy_index_read) the profile stage costs 2.2 s of CPU and 356 MiB at 500k x 16, so the row cap doubled
# from 250,000: bench/results/fix34a-copy-index-read.md)
INDEX_MAX_ROWS = 500_000
INDEX_MAX_VALUES = 8 * 2**20  # rows x features: 32 MiB of float32 (500k rows of 16 features, 131k of 64 fit)
MAX_PROBE_BITS = 12  # a query near more cell faces than this is compared with every record instead (4,096 cells)
_NEAR_FACES = 4.0  # the cell side makes a query lie near this many faces on average (2 ** 4 cells read)
_GRID_SEED = 0x33A  # the commit grid's shift and key multipliers: fixed, so the index is a function of the base alone
GRID_KEY_DOMAIN = b"prov copy index grid v1\x00"  # what a check's grid key hashes before the looked-up digests
_CHUNK = 1 << 16  # (query, record) pairs measured at once
_PROBES = 1 << 16  # probe cells keyed at once
_FEW = 1 << 10  # pairs left few enough to measure on every feature at once


def cell_width(radius: float, dim: int) -> float:
    """The grid's cube side for ``radius`` in ``dim`` features: ``max(2, 2 * dim / _NEAR_FACES) * radius``, so a
    point lies within ``radius`` of at most ``_NEAR_FACES`` faces on average and of at most one face a coordinate."""
    return max(2.0, dim / (_NEAR_FACES / 2.0)) * radius


def grid_key(digests: np.ndarray, salt: bytes = b"") -> bytes:
    """A grid key: SHA-256 of ``GRID_KEY_DOMAIN``, ``salt`` and the (n, 32) uint8 ``digests`` of the records looked
    up, sorted (their order does not matter). 32 bytes."""
    rows = np.ascontiguousarray(np.asarray(digests, dtype=np.uint8).reshape(-1, 32))
    ordered = np.sort(rows.view(np.dtype((np.void, 32))).ravel())  # bytewise, as sorted() sorts bytes
    return hashlib.sha256(GRID_KEY_DOMAIN + salt + ordered.tobytes()).digest()


def check_grid_key(digests: np.ndarray) -> bytes:
    """The grid key one check searches on: :func:`grid_key` of ``digests`` salted with 32 fresh random bytes
    (``secrets``), so no submitter can grind its records' digests until they sit at the grid's cell corners (attack
    review 35b, A35b-3: about 270,000 tries, seconds of CPU, made every look-up of 50 piled records a full scan). The
    grid decides which cells are read, never which records lie within the radius, so the distances found, and every
    result, are the same whatever the salt: only the cost is drawn afresh."""
    return grid_key(digests, secrets.token_bytes(32))


def _grid(dim: int, width: float, key: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_GRID_SEED if key is None else np.frombuffer(key, dtype=np.uint32))
    shift = rng.uniform(0.0, width, dim)
    multipliers = rng.integers(1, 2**63, dim, dtype=np.uint64) | np.uint64(1)
    return shift, multipliers


def _cells(Z: np.ndarray, shift: np.ndarray, width: float) -> np.ndarray:
    return np.floor((Z.astype(np.float64) - shift) / width).astype(np.int64)


def _keys(cells: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (cells.astype(np.uint64) * multipliers).sum(axis=1, dtype=np.uint64)


def digest_prefixes(digests: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each (n, 32) uint8 digest as (n,) uint64: what tells a record's own twin apart."""
    return np.ascontiguousarray(np.asarray(digests, dtype=np.uint8)[:, :8]).view(">u8").ravel().astype(np.uint64)


def _probe_keys(
    cells: np.ndarray, low: np.ndarray, high: np.ndarray, k: int, multipliers: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The keys of the cells g queries' probes read, each query near exactly ``k`` faces: ``(owners, keys)``, two
    (g x 2**k,) arrays (the query's position in ``cells``, the key). A key is linear in its cell (``_keys``: sum of
    cell x multiplier, mod 2**64), so a neighbour's key is the cell's plus +-multiplier for each face crossed: the
    same uint64 as keying the neighbour's cell. Two probe cells of one query with one key (a 64-bit collision) read
    their rows twice, which changes no minimum."""
    g = len(cells)
    columns = np.nonzero(low | high)[1].reshape(g, k)  # each row's k face coordinates, in order
    downward = np.take_along_axis(low, columns, axis=1)
    with np.errstate(over="ignore"):
        crossings = np.where(downward, -multipliers[columns], multipliers[columns])  # uint64: -m wraps to 2**64 - m
        subsets = ((np.arange(1 << k)[:, None] >> np.arange(k)) & 1).astype(np.uint64)  # (2**k, k)
        moves = (subsets[None, :, :] * crossings[:, None, :]).sum(axis=2, dtype=np.uint64)  # (g, 2**k)
        keys = _keys(cells, multipliers)[:, None] + moves
    return np.repeat(np.arange(g), 1 << k), keys.ravel()


def _pairs(owners: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows ``starts[i] .. starts[i] + lengths[i] - 1`` of each range (``lengths`` > 0), each paired with
    ``owners[i]``: ``(owners, rows)`` arrays of at most ``_CHUNK`` pairs, in order (a range may span two)."""
    ends = np.cumsum(lengths)
    begins = ends - lengths
    total = int(ends[-1]) if len(ends) else 0
    for first in range(0, total, _CHUNK):
        last = min(first + _CHUNK, total)
        a = int(np.searchsorted(ends, first, side="right"))
        b = int(np.searchsorted(ends, last - 1, side="right")) + 1
        counts = np.minimum(ends[a:b], last) - np.maximum(begins[a:b], first)
        yield np.repeat(owners[a:b], counts), np.arange(first, last) + np.repeat(starts[a:b] - begins[a:b], counts)


def _near_on_every_feature(
    columns: np.ndarray, query_columns: np.ndarray, queries: np.ndarray, rows: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """The (query, row) pairs left once those one feature's difference already puts past ``radius`` are dropped,
    feature after feature (``columns``: (d, N) float32 index features; ``query_columns``: (d, n) float64), until at
    most ``_FEW`` remain. Only pairs whose measured distance exceeds ``radius`` go: the difference is the one the
    distance squares (float64 of the float32 feature, less the query's), a rounded sum of non-negative squares is no
    smaller than any of them, and the bar's margin (1e-9, millions of ulps) outweighs squaring's and the square
    root's rounding; so the distances left are the same, bit for bit, and a pass costs one gather per pair."""
    bar = radius * (1.0 + 1e-9)
    for feature, query_feature in zip(columns, query_columns):
        if len(rows) <= _FEW:
            break
        near = np.abs(feature[rows].astype(np.float64) - query_feature[queries]) <= bar
        queries, rows = queries[near], rows[near]
    return queries, rows


@dataclass(eq=False)
class CopyIndex:
    """Every base record's standardised features, keyed by grid cell (see the module docstring)."""

    radius: float  # exact search within this distance (standardised units)
    width: float  # the grid's cube side, >= 2 x radius
    mean: np.ndarray  # (d,) the profile's centre and scale the features were standardised on
    scale: np.ndarray
    keys: np.ndarray  # (N,) uint64 cell keys, in order
    Z: np.ndarray  # (N, d) float32 standardised features, rows in key order
    labels: np.ndarray  # (N,) int32 class index into the profile's classes
    digests: np.ndarray  # (N,) uint64 digest prefixes
    grid_key: bytes | None = None  # what the grid's shift and multipliers are drawn from (None: ``_GRID_SEED``)

    @classmethod
    def build(
        cls, Z: np.ndarray, labels: np.ndarray, digests: np.ndarray, radius: float, mean: np.ndarray, scale: np.ndarray
    ) -> CopyIndex:
        """The index of ``Z`` (N x d standardised features, any float), ``labels`` (N,) class indices and ``digests``
        (N, 32) uint8, searched exactly within ``radius`` (> 0, standardised units) of a query."""
        return cls._keyed(Z, labels, digest_prefixes(digests), radius, mean, scale)

    @classmethod
    def _keyed(
        cls,
        Z: np.ndarray,
        labels: np.ndarray,
        prefixes: np.ndarray,
        radius: float,
        mean: np.ndarray,
        scale: np.ndarray,
        key: bytes | None = None,
    ) -> CopyIndex:
        Z = np.asarray(Z, dtype=np.float32)
        width = cell_width(radius, Z.shape[1])
        shift, multipliers = _grid(Z.shape[1], width, key)
        keys = _keys(_cells(Z, shift, width), multipliers)
        order = np.argsort(keys, kind="stable")
        return cls(
            float(radius),
            float(width),
            np.asarray(mean, np.float32),
            np.asarray(scale, np.float32),
            keys[order],
            np.ascontiguousarray(Z[order]),
            np.asarray(labels, np.int32)[order],
            np.asarray(prefixes, np.uint64)[order],
            key,
        )

    def searching(self, radius: float, key: bytes | None = None) -> CopyIndex:
        """This index where ``radius`` (standardised units) is within its own and ``key`` is its grid's; else the
        same records on a grid made for the larger of the two radii and drawn from ``key`` (:func:`grid_key`; None:
        the commit's fixed grid), re-keyed (about 0.4 s of CPU for 500,000 x 16 records), so :meth:`nearest` is exact
        out to it and finds what any grid finds (A33d-1, A34a-2)."""
        if radius <= self.radius and key == self.grid_key:
            return self
        radius = max(radius, self.radius)
        return CopyIndex._keyed(self.Z, self.labels, self.digests, radius, self.mean, self.scale, key)

    def reframed(
        self,
        mean: np.ndarray,
        scale: np.ndarray,
        columns: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        keep: np.ndarray | None = None,
    ) -> CopyIndex:
        """The same base records standardised on another centre and scale: those of a profile rebuilt from the
        signed one (``profiles.waived``: waived records left out; ``profiles.shared_columns``: columns a candidate
        dropped left out), so the copy index stays in use there (attack review 33d, A33d-2, A33d-3).

        Args:
            mean, scale: (d',) the rebuilt profile's centre and scale.
            columns: (d',) which of this index's feature columns it keeps, in its order (None: all).
            labels: (k,) int: each of this index's class indices' new index (None: unchanged).
            keep: (N,) bool in this index's row order: the records kept (None: all).

        Returns:
            A new index on the same grid radius; the features were held at ``Z_LIMIT`` as at commit.
        """
        from provenance.profiles.z_limit import bounded

        rows = np.arange(len(self.keys)) if keep is None else np.flatnonzero(keep)
        cols = np.arange(self.dim) if columns is None else np.asarray(columns, dtype=np.int64)
        raw = self.Z[rows][:, cols].astype(np.float64) * self.scale[cols].astype(np.float64) + self.mean[cols]
        with np.errstate(over="ignore"):
            Z = bounded(((raw - np.asarray(mean, np.float64)) / np.asarray(scale, np.float64)).astype(np.float32))
        new_labels = self.labels[rows] if labels is None else np.asarray(labels, np.int32)[self.labels[rows]]
        return CopyIndex._keyed(Z, new_labels, self.digests[rows], self.radius, mean, scale, self.grid_key)

    def rows_of(self, records: set[tuple[bytes, int]]) -> np.ndarray:
        """(N,) bool in row order: the rows whose digest prefix and class index are one of ``records`` (``{(32-byte
        digest, class index)}``)."""
        if not records:
            return np.zeros(len(self.keys), dtype=bool)
        pairs = sorted(records)
        prefixes = digest_prefixes(np.frombuffer(b"".join(d for d, _ in pairs), np.uint8).reshape(-1, 32))
        wanted = set(zip(prefixes.tolist(), (label for _, label in pairs)))
        candidates = np.flatnonzero(np.isin(self.digests, prefixes))
        out = np.zeros(len(self.keys), dtype=bool)
        out[[i for i in candidates.tolist() if (int(self.digests[i]), int(self.labels[i])) in wanted]] = True
        return out

    @property
    def dim(self) -> int:
        """Features a record."""
        return int(self.Z.shape[1])

    def fits(self, mean: np.ndarray, scale: np.ndarray) -> bool:
        """Whether a profile standardising on ``mean`` and ``scale`` measures in this index's space (a profile
        rebuilt without waived records, or narrowed to shared columns, does not: its copy evidence is the sample's)."""
        return (
            len(mean) == self.dim
            and np.array_equal(np.asarray(mean, np.float32), self.mean)
            and np.array_equal(np.asarray(scale, np.float32), self.scale)
        )

    def nearest(self, Zq: np.ndarray, labels: np.ndarray, digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each query's distance to its nearest indexed record of its own class and of another class, exact within
        ``radius`` (inf where none lies within it); a record with the query's digest prefix (its own twin) is left out.

        Every query is looked up in one vectorised pass (issue 15, perf35b): its probe cells' keys, their rows found
        by ``np.searchsorted`` on the sorted keys, the (query, row) pairs taken ``_CHUNK`` at a time, those one
        feature already puts past the radius dropped (:func:`_near_on_every_feature`), the rest measured and reduced
        per query with ``np.minimum.at``. A query near more than ``MAX_PROBE_BITS`` faces is paired with every row.
        Each distance is computed as a one-query-at-a-time loop computes it (float64 differences, squared, summed
        along the row), so the results are the same bit for bit (tests/unit/profiles/test_copy_index.py keeps that
        loop as the reference).

        Args:
            Zq: (n, d) standardised query features.
            labels: (n,) class indices (-1 for a class the base lacks: every record is of another class).
            digests: (n, 32) uint8 query digests.

        Returns:
            ``(own, other)``: two (n,) float64 arrays.
        """
        Zq = np.asarray(Zq, dtype=np.float64)
        own = np.full(len(Zq), np.inf)
        other = np.full(len(Zq), np.inf)
        if not len(Zq) or not len(self.keys):
            return own, other
        labels = np.asarray(labels, dtype=np.int64)
        mine = digest_prefixes(digests)
        columns, query_columns = np.ascontiguousarray(self.Z.T), np.ascontiguousarray(Zq.T)
        for pairs in self._candidate_pairs(Zq):
            queries, rows = _near_on_every_feature(columns, query_columns, *pairs, self.radius)
            dist = np.sqrt(((self.Z[rows].astype(np.float64) - Zq[queries]) ** 2).sum(axis=1))
            keep = (self.digests[rows] != mine[queries]) & (dist <= self.radius)
            same = self.labels[rows] == labels[queries]
            np.minimum.at(own, queries[keep & same], dist[keep & same])
            np.minimum.at(other, queries[keep & ~same], dist[keep & ~same])
        return own, other

    def records_read(self, Zq: np.ndarray) -> np.ndarray:
        """(n,) int64: how many indexed records a look-up of each of the (n, d) standardised queries ``Zq`` pairs it
        with before sifting them (:meth:`nearest`'s cost): those in the cells its probe reads, or every record for a
        query near more than ``MAX_PROBE_BITS`` faces (attack review 34a, A34a-2)."""
        Zq = np.asarray(Zq, dtype=np.float64)
        read = np.zeros(len(Zq), dtype=np.int64)
        if len(Zq) and len(self.keys):
            for queries, _ in self._candidate_pairs(Zq):
                read += np.bincount(queries, minlength=len(Zq))
        return read

    def _candidate_pairs(self, Zq: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(query, row) index pairs, at most ``_CHUNK`` at a time: every row in the cells each query's probe reads
        (its own cell and, for each face it lies within ``radius`` of, the neighbour across it), or every row for a
        query near more than ``MAX_PROBE_BITS`` faces. Memory is bounded by ``_PROBES`` probe keys and ``_CHUNK``
        pairs whatever the queries."""
        shift, multipliers = _grid(self.dim, self.width, self.grid_key)
        cells = _cells(Zq, shift, self.width)
        offset = (Zq - shift) / self.width - cells  # in [0, 1): where in its cell each query lies
        low = offset * self.width < self.radius
        high = (1.0 - offset) * self.width < self.radius
        faces = (low | high).sum(axis=1)
        whole = np.flatnonzero(faces > MAX_PROBE_BITS)
        if whole.size:
            everything = np.full(whole.size, len(self.keys))
            yield from _pairs(whole, np.zeros(whole.size, dtype=np.int64), everything)
        for k in range(MAX_PROBE_BITS + 1):
            members = np.flatnonzero(faces == k)
            step = max(1, _PROBES >> k)
            for part in (members[i : i + step] for i in range(0, len(members), step)):
                owners, keys = _probe_keys(cells[part], low[part], high[part], k, multipliers)
                starts = np.searchsorted(self.keys, keys, side="left")
                lengths = np.searchsorted(self.keys, keys, side="right") - starts
                found = lengths > 0
                yield from _pairs(part[owners[found]], starts[found], lengths[found])

    def to_bytes(self) -> bytes:
        """Deterministic bytes: magic, a JSON header line, then the arrays as ``.npy`` (no pickles)."""
        header: dict = {"radius": self.radius, "width": self.width, "rows": len(self.keys), "dim": self.dim}
        if self.grid_key is not None:  # a check's grid (never a commit's: its bytes stay what they were)
            header["grid_key"] = self.grid_key.hex()
        out = io.BytesIO()
        out.write(FORMAT_MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n")
        for array in (self.mean, self.scale, self.keys, self.Z, self.labels, self.digests):
            np.save(out, np.ascontiguousarray(array), allow_pickle=False)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CopyIndex:
        """The index :meth:`to_bytes` wrote. Raises ``ValueError`` naming the problem for anything else."""
        if not data.startswith(FORMAT_MAGIC):
            raise ValueError("not a prov copy index (its first bytes differ)")
        stream = io.BytesIO(data)
        stream.seek(len(FORMAT_MAGIC))
        header = json.loads(stream.readline())
        mean, scale, keys, Z, labels, digests = (np.load(stream, allow_pickle=False) for _ in range(6))
        n, d = int(header["rows"]), int(header["dim"])
        shapes = [(mean, (d,)), (scale, (d,)), (keys, (n,)), (Z, (n, d)), (labels, (n,)), (digests, (n,))]
        if any(a.shape != s for a, s in shapes) or not 0 < float(header["radius"]) * 2 <= float(header["width"]):
            raise ValueError("its arrays or grid do not match its header")
        key = bytes.fromhex(header["grid_key"]) if "grid_key" in header else None
        return cls(float(header["radius"]), float(header["width"]), mean, scale, keys, Z, labels, digests, key)


def carried_copy_index(
    signed: ReferenceProfile,
    rebuilt: ReferenceProfile,
    columns: list[int] | None = None,
    left_out: set[tuple[bytes, str]] | frozenset = frozenset(),
) -> CopyIndex | None:
    """``signed``'s copy index in ``rebuilt``'s space: ``rebuilt`` is ``signed`` rebuilt from its own sample without
    the records ``left_out`` (``{(digest, label)}``: waived, ``profiles.waived``) and/or on its feature ``columns``
    only (indexes into ``signed``'s, in order: ``profiles.shared_columns``). The records ``left_out`` leave the index
    too; a distance over fewer columns is no larger, so a copy within the radius on every column stays within it on
    the shared ones. None where ``signed`` keeps no index. Raises ``FeatureError`` for a damaged one."""
    index = signed.copy_index
    if index is None:
        return None
    where = {name: i for i, name in enumerate(rebuilt.classes)}
    # a class the rebuilt profile no longer names (its sampled records all waived) reads as an unknown label (-1)
    labels = np.array([where.get(name, -1) for name in signed.classes], dtype=np.int32)
    ids = {name: i for i, name in enumerate(signed.classes)}
    drop = index.rows_of({(bytes(d), ids[label]) for d, label in left_out if label in ids})
    if rebuilt is signed and columns is None and not drop.any():
        return index
    return index.reframed(rebuilt.mean, rebuilt.scale, columns, labels, ~drop)
