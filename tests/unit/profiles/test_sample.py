"""The profile sample is chosen from the manifest alone, deterministically."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from provenance.manifest import Manifest
from provenance.profiles.sample import sample_manifest, sample_rows, sample_table


def reference_sample(manifest: Manifest, cap: int, max_total: int | None = None) -> list[int]:
    """The rule, written as a plain loop: per label, the first ``cap`` distinct digests; of
    those, the ``max_total`` smallest digests (the manifest is in digest order)."""
    seen: Counter = Counter()
    rows, last = [], None
    for i, key in enumerate(zip(manifest.digests, manifest.labels)):
        if key == last:
            continue
        last = key
        if seen[key[1]] < cap:
            seen[key[1]] += 1
            rows.append(i)
    return rows[:max_total]


def reference_copies(manifest: Manifest, rows: list[int]) -> list[int]:
    """How many manifest rows carry each given row's digest and label, counted over the whole manifest."""
    counts = Counter(zip(manifest.digests, manifest.labels))
    return [counts[(manifest.digests[i], manifest.labels[i])] for i in rows]


@pytest.mark.parametrize("n", [1, 2, 9, 1000, 4000])
@pytest.mark.parametrize("cap", [1, 3, 100])
def test_vectorised_sample_equals_the_rule(n, cap):
    rng = np.random.default_rng(n)
    unique = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(max(1, n // 2))]
    digests = unique + [unique[i] for i in rng.integers(0, len(unique), n - len(unique))]
    m = Manifest.build(digests, [str(x) for x in rng.integers(0, 5, n)], [str(i) for i in range(n)])
    assert sample_rows(m, cap).tolist() == reference_sample(m, cap)


def test_sample_does_not_depend_on_record_order():
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(50)]
    labels = [str(i % 3) for i in range(50)]
    a = Manifest.build(digests, labels, [str(i) for i in range(50)])
    b = Manifest.build(digests[::-1], labels[::-1], [str(i) for i in range(50)])
    pick = lambda m: [m.digests[i] for i in sample_rows(m, 4)]  # noqa: E731
    assert pick(a) == pick(b) and len(pick(a)) == 12


@pytest.mark.parametrize("rows", [1, 2, 7, 64])
def test_streamed_sample_is_the_same_across_batch_boundaries(rows, monkeypatch):
    rng = np.random.default_rng(rows)
    unique = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(300)]
    digests = unique + [unique[i] for i in rng.integers(0, 300, 700)]  # copies straddle batch boundaries
    m = Manifest.build(digests, [str(x) for x in rng.integers(0, 4, 1000)], [str(i) for i in range(1000)])
    whole = Manifest.iter_batches
    monkeypatch.setattr(Manifest, "iter_batches", lambda self, columns=None: whole(self, columns, rows=rows))
    assert sample_rows(m, 20).tolist() == reference_sample(m, 20)
    picked = sample_table(m, 20)
    assert picked.equals(m.table.select(picked.column_names).take(reference_sample(m, 20)))


@pytest.mark.parametrize("rows", [1, 2, 7, 64, 1 << 16])
@pytest.mark.parametrize("max_total", [1, 5, 37, 250, None])
def test_bounded_sample_stops_early_with_the_same_rows_and_copies(rows, max_total, monkeypatch):
    """The streamed pass stops once it has ``max_total`` rows, yet gives the rule's rows and
    each sampled record's copies counted over the whole manifest, also when a record's
    copies straddle the batch where it stops."""
    rng = np.random.default_rng(rows)
    unique = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(200)]
    digests = unique + [unique[i] for i in rng.integers(0, 40, 800)]  # many copies of a few records
    m = Manifest.build(digests, [str(x) for x in rng.integers(0, 6, 1000)], [str(i) for i in range(1000)])
    whole = Manifest.iter_batches
    read: list[int] = []

    def counted(self, columns=None):
        for batch in whole(self, columns, rows=rows):
            read.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(Manifest, "iter_batches", counted)
    got = sample_manifest(m, 20, max_total)
    expected = reference_sample(m, 20, max_total)
    assert got.rows.tolist() == expected
    assert got.copies.tolist() == reference_copies(m, expected)
    assert got.table.equals(m.table.select(got.table.column_names).take(expected))
    if max_total is None or max_total >= 37:
        assert max(got.copies) > 1  # there were copies to count
    if max_total is not None and max_total <= 37 and rows <= 7:
        assert sum(read) < len(m)  # it stopped before the end of the manifest
