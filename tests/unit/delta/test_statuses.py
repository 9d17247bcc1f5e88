"""Lineage joined after the merge: each change's status and the transitions of digests in both,
against a per-digest reference, with digests repeated on either side (kept, removed, added)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from provenance.delta.merge import merge
from provenance.delta.statuses import LINEAGE_STATUSES
from provenance.delta.windows import table_batches
from provenance.manifest import Manifest


def d(i) -> bytes:
    return hashlib.sha256(str(i).encode()).digest()


def _manifest(rows: list[tuple[int, str]]) -> Manifest:
    return Manifest.build([d(i) for i, _ in rows], [label for _, label in rows], [str(k) for k in range(len(rows))])


def _worst(manifest: Manifest, status: np.ndarray) -> dict[bytes, int]:
    out: dict[bytes, int] = {}
    for digest, s in zip(manifest.table.column("digest").to_pylist(), status.tolist()):
        out[digest] = max(out.get(digest, 0), s)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_statuses_and_transitions_equal_the_per_digest_reference(seed):
    rng = np.random.default_rng(seed)
    base_rows = [(i, "cat") for i in range(200)] + [(i, "cat") for i in range(0, 200, 9)]  # repeats
    base_rows += [(i, "dog") for i in range(0, 200, 23)]  # repeats with another label
    kept = [(i, label) for i, label in base_rows if i % 7]  # digests i % 7 == 0 removed, repeats too
    new_rows = [(i, "dog" if i % 11 == 0 else label) for i, label in kept]  # relabels
    new_rows += [(1000 + i, "cat") for i in range(30)] + [(1000 + i, "cat") for i in range(0, 30, 4)]  # added, repeated
    base, new = _manifest(base_rows), _manifest(new_rows)
    sa = rng.integers(0, 3, len(base)).astype(np.int8)
    sb = rng.integers(0, 3, len(new)).astype(np.int8)
    c = merge(
        table_batches(base.table, 13),
        table_batches(new.table, 17),
        "A",
        "B",
        base_status=iter([sa]),
        new_status=iter([sb]),
    )
    wa, wb = _worst(base, sa), _worst(new, sb)
    expected: dict[str, int] = {}
    for digest in wa.keys() & wb.keys():
        if wa[digest] != wb[digest]:
            key = f"{LINEAGE_STATUSES[wa[digest]]} -> {LINEAGE_STATUSES[wb[digest]]}"
            expected[key] = expected.get(key, 0) + 1
    assert dict(c.transitions) == expected
    for kind, worst in (("added", wb), ("removed", wa), ("relabeled", wb)):
        digests = c.array(kind, "digests")
        assert len(digests)
        statuses = [worst[digests[i : i + 1].tobytes().ljust(32, b"\0")] for i in range(len(digests))]
        assert statuses == c.array(kind, "status").tolist()
