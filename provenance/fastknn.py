"""The neighbour searches' block passes in C: the compiled ``provenance._fastknn`` extension, or numpy.

``features.neighbors`` computes each block of squared distances with one BLAS product and
then makes about nine numpy passes over it (the norms added, the clip at zero, per-label
minima, the k-smallest bound and candidates, counts within radii); on the 8-feature tables
of the ``diff --detect`` bench those passes cost three times the product. The extension
makes them in one pass (``provenance/_native/fastknn.c``). The product stays numpy's, and
the C code only adds and compares doubles in numpy's order, so every index, distance and
count is the same whichever path runs (tests compare both on random blocks with ties and on
a real delta's findings). A block holding a NaN always takes numpy's path.

``pip install`` compiles the extension where a C compiler exists (``setup.py``, setuptools
``optional=True``). ``PROV_NO_FASTKNN=1`` forces numpy; ``python -m provenance.fastknn``
prints which path runs; ``python -m provenance.fastknn build`` compiles it in place.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

from provenance import native_build

_SOURCE = Path(__file__).parent / "_native" / "fastknn.c"
_UNSET = object()
_compiled: object = _UNSET  # the extension module, None when absent or disabled


def extension() -> ModuleType | None:
    """The loaded extension, or None (not built, or ``PROV_NO_FASTKNN`` set)."""
    global _compiled
    if _compiled is _UNSET:
        _compiled = None
        if not os.environ.get("PROV_NO_FASTKNN"):
            try:
                from provenance import _fastknn  # type: ignore[attr-defined]  # built by setup.py
            except ImportError:
                return None
            _compiled = _fastknn
    return _compiled  # type: ignore[return-value]


def path_description() -> str:
    """One line saying which path the neighbour searches run, for benchmark results."""
    if extension() is not None:
        return "neighbour block passes: compiled extension (provenance._fastknn)"
    if os.environ.get("PROV_NO_FASTKNN"):
        return "neighbour block passes: numpy, forced by PROV_NO_FASTKNN"
    return "neighbour block passes: numpy; the compiled extension is not built"


@contextmanager
def forced(module: ModuleType | None) -> Iterator[None]:
    """Run the block with ``module`` as the extension (None: numpy's path); tests of both paths."""
    global _compiled
    before = extension()
    _compiled = module
    try:
        yield
    finally:
        _compiled = before


def finish(d2: np.ndarray, query_norms: np.ndarray, point_norms: np.ndarray) -> bool:
    """``d2 += query_norms[:, None]; d2 += point_norms[None, :]``, then 0.0 where negative, in
    place in one pass; False (nothing done) when the extension is absent or an array is not
    C-contiguous float64."""
    ext = extension()
    if ext is None or not all(_doubles(a) for a in (d2, query_norms, point_norms)) or not d2.flags.writeable:
        return False
    ext.finish(d2, query_norms, point_norms)
    return True


class Selector:
    """One search's block selection in C (``select`` in fastknn.c) for ``n`` queries against ``m``
    points: each query's ``k`` smallest entries by (value, column); with ``starts`` (the points'
    label spans, ascending from 0) its nearest point of its own span and of every other
    (``nearest_by_label``); with ``radii2`` its counts strictly within each (``nearest_with_count``).

    ``inputs`` are the search's (queries, points): with a value that is not finite or is huge
    (``bounded``) a distance could be NaN, and numpy's path answers every block. A block method
    returns False, having answered nothing, when the extension is absent or the block holds a
    NaN (the caller runs numpy's path on it); ``write`` then puts the answered
    rows into the search's outputs as ``features.neighbors`` writes them, in one pass for all blocks."""

    def __init__(
        self,
        inputs: tuple[np.ndarray, np.ndarray],
        k: int,
        starts: np.ndarray | None = None,
        radii2: np.ndarray | None = None,
    ):
        queries, points = inputs
        n, m = len(queries), len(points)
        # NaN-free blocks only (as select expects): every coordinate finite and small enough
        # that no product, norm or sum of a distance overflows
        self.ext = extension() if bounded(queries) and bounded(points) else None
        self.m, self.k = m, k
        self.starts = np.ascontiguousarray(starts if starts is not None else np.zeros(0), dtype=np.int64)
        self.radii2 = np.ascontiguousarray(radii2 if radii2 is not None else np.zeros(0), dtype=np.float64)
        shape = (n, k) if self.ext is not None else (0, k)
        self.idx, self.val = np.empty(shape, np.int64), np.empty(shape)
        self.span_idx, self.span_val = np.empty((len(self.idx), 2), np.int64), np.empty((len(self.idx), 2))
        self.counts = np.empty((len(self.idx), len(self.radii2)), np.int64)
        self.no_span = np.zeros(len(self.idx), np.int64)
        self.answered = np.zeros(len(self.idx), bool)

    def block(self, d2: np.ndarray, start: int, stop: int, own: np.ndarray | None = None) -> bool:
        """Answer query rows ``start:stop`` from their block ``d2`` (``own``: their label spans, -1 if
        absent, with ``starts``); False when numpy's path must."""
        if self.ext is None or self.k < 1 or self.m < self.k or not _doubles(d2) or d2.shape != (stop - start, self.m):
            return False
        own = self.no_span[start:stop] if own is None else np.ascontiguousarray(own, dtype=np.int64)
        rows = slice(start, stop)
        done = self.ext.select(
            d2, self.m, self.k, self.idx[rows], self.val[rows], self.starts, own,
            self.span_idx[rows], self.span_val[rows], self.radii2, self.counts[rows],
        )  # fmt: skip
        self.answered[rows] = bool(done)
        return bool(done)

    def write(self, out: dict[str, np.ndarray]) -> None:
        """The answered rows into ``out`` (``nearest_by_label``'s or ``nearest_with_count``'s outputs)."""
        rows = np.flatnonzero(self.answered)
        if not len(rows):
            return
        out["idx"][rows, : self.k] = self.idx[rows]
        out["dist"][rows, : self.k] = np.sqrt(self.val[rows])
        if "own_idx" in out:
            out["own_idx"][rows], out["other_idx"][rows] = self.span_idx[rows].T
            out["own_dist"][rows], out["other_dist"][rows] = np.sqrt(self.span_val[rows]).T
        if "close" in out:
            out["close"][rows] = self.counts[rows]
            out["first_idx"][rows] = out["idx"][rows, 0]
            out["first_dist"][rows] = out["dist"][rows, 0]


def bounded(values: np.ndarray) -> bool:
    """Every value finite and below 1e145 in size (so a squared distance of vectors of up to
    10**17 such values is finite: no inf - inf, no NaN)."""
    return not values.size or float(np.abs(values).max()) < 1e145


def _doubles(a: np.ndarray) -> bool:
    return a.dtype == np.float64 and a.flags.c_contiguous


def build(target_dir: Path | None = None) -> Path:
    """Compile the extension with ``$CC`` (default ``cc``) next to this file, or into ``target_dir``;
    returns its path. Raises ``subprocess.CalledProcessError`` when the compiler fails."""
    # IEEE doubles as numpy computes them (setup.py's flags)
    return native_build.compile_extension("_fastknn", _SOURCE, ["-O3", "-fno-fast-math"], target_dir=target_dir)


if __name__ == "__main__":
    native_build.main(build, path_description)
