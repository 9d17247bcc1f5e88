"""Attack review 35b, A35b-3: how many tries a vendor needs to grind a check's keyed copy-index grid.

A check draws its grid's shift from SHA-256 of the looked-up records' sorted content digests
(``profiles.copy_index.grid_key``). A vendor that knows the profile's centre, scale and the check's search radius
piles ``k`` records at one point (f00 apart by 1e-9: distinct digests, one place in a cell) and changes one more
record's f00 by 1e-9 a try until the point lies within the radius of more than ``MAX_PROBE_BITS`` cell faces; then
every piled look-up compares with every base record. Counts tries, not time (CPU seconds are printed beside them).

    python bench/review35b_grid_grind.py K RADIUS SEED [SEED ...]
"""

from __future__ import annotations

import bisect
import hashlib
import sys
import time

import numpy as np
import pyarrow as pa

from provenance.encoding.columns import table_digests
from provenance.profiles.copy_index import GRID_KEY_DOMAIN, MAX_PROBE_BITS, _grid, cell_width

FEATURES = [f"f{j:02d}" for j in range(16)]


def _rows(X: np.ndarray) -> pa.Table:
    return pa.table({c: X[:, j] for j, c in enumerate(FEATURES)})


def grind(seed: int, k: int, radius: float, batch: int = 20_000, limit: int = 3_000_000) -> tuple[int | None, float]:
    """(tries until the piled point lies near more than ``MAX_PROBE_BITS`` faces, or None past ``limit``; CPU s)."""
    rng = np.random.default_rng(seed)
    point = rng.normal(0, 1, 16)
    pile = np.repeat(point[None, :], k, 0)
    pile[:, 0] += np.arange(k) * 1e-9
    piled = sorted(table_digests(_rows(pile), FEATURES))
    nonce_record = rng.normal(0, 1, 16)
    width = cell_width(radius, 16)
    start = time.process_time()
    for first in range(0, limit, batch):
        tries = np.repeat(nonce_record[None, :], batch, 0)
        tries[:, 0] += (first + np.arange(batch)) * 1e-9
        for i, digest in enumerate(table_digests(_rows(tries), FEATURES)):
            looked_up = list(piled)
            bisect.insort(looked_up, digest)
            shift, _ = _grid(16, width, hashlib.sha256(GRID_KEY_DOMAIN + b"".join(looked_up)).digest())
            offset = (point - shift) / width
            offset -= np.floor(offset)
            if int(((offset * width < radius) | ((1 - offset) * width < radius)).sum()) > MAX_PROBE_BITS:
                return first + i + 1, time.process_time() - start
    return None, time.process_time() - start


if __name__ == "__main__":
    k, radius = int(sys.argv[1]), float(sys.argv[2])
    for seed in map(int, sys.argv[3:]):
        print(seed, k, radius, *grind(seed, k, radius), flush=True)
