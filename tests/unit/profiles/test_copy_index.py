"""The copy index (profiles.copy_index): exact within its radius, whatever cell faces a query lies near; its bytes."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.profiles.copy_index import MAX_PROBE_BITS, CopyIndex, grid_key


def _brute(Z, labels, digests, radius, q, label, digest):
    dist = np.sqrt(((Z.astype(np.float64) - q) ** 2).sum(axis=1))
    keep = (dist <= radius) & np.any(digests[:, :8] != digest[:8], axis=1)
    own = dist[keep & (labels == label)]
    other = dist[keep & (labels != label)]
    return (own.min() if own.size else np.inf), (other.min() if other.size else np.inf)


@pytest.mark.parametrize("dim", [2, 5, 16, 40])
def test_the_index_finds_every_record_within_its_radius_as_brute_force_does(dim):
    rng = np.random.default_rng(dim)
    Z = rng.normal(size=(3000, dim)).astype(np.float32)
    labels = rng.integers(0, 3, 3000)
    digests = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    radius = 0.6 if dim > 5 else 0.2
    index = CopyIndex.build(Z, labels, digests, radius, np.zeros(dim), np.ones(dim))
    # queries: base records nudged in every direction up to the radius, so many lie near a cell face
    picks = rng.integers(0, 3000, 300)
    steps = rng.normal(size=(300, dim))
    steps *= (rng.uniform(0, 1.1, 300) * radius / np.linalg.norm(steps, axis=1))[:, None]
    queries = Z[picks].astype(np.float64) + steps
    qlabels = rng.integers(0, 3, 300)
    qdigests = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    own, other = index.nearest(queries, qlabels, qdigests)
    for i in range(300):
        want = _brute(Z, labels, digests, radius, queries[i], qlabels[i], qdigests[i])
        assert own[i] == pytest.approx(want[0]) and other[i] == pytest.approx(want[1]), i


def test_a_records_own_twin_is_left_out_and_a_query_near_many_faces_reads_every_record():
    rng = np.random.default_rng(5)
    dim = 2 * MAX_PROBE_BITS
    Z = rng.normal(size=(500, dim)).astype(np.float32)
    labels = np.arange(500) % 2
    digests = rng.integers(0, 256, (500, 32), dtype=np.uint8)
    index = CopyIndex.build(Z, labels, digests, 0.5, np.zeros(dim), np.ones(dim))
    twin = index.nearest(Z[:1].astype(np.float64), np.array([1]), digests[:1])
    other = index.nearest(Z[:1].astype(np.float64), np.array([1]), digests[1:2])
    assert twin[1][0] > 0 and other[1][0] == 0.0  # record 0 (class 0) is another class's copy unless it is itself


def test_the_bytes_read_back_the_same_and_damaged_bytes_are_refused():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(50, 4)).astype(np.float32)
    index = CopyIndex.build(
        Z, np.arange(50) % 2, rng.integers(0, 256, (50, 32), dtype=np.uint8), 0.3, Z.mean(0), Z.std(0)
    )
    data = index.to_bytes()
    again = CopyIndex.from_bytes(data)
    assert again.to_bytes() == data and np.array_equal(again.Z, index.Z)
    with pytest.raises(ValueError, match="not a prov copy index"):
        CopyIndex.from_bytes(b"x" + data[1:])
    with pytest.raises(ValueError):
        CopyIndex.from_bytes(data[: len(data) // 2])


def test_a_reframed_index_finds_what_brute_force_finds_on_the_kept_columns_and_rows_in_the_new_space():
    rng = np.random.default_rng(34)
    dim = 6
    X = rng.normal(3.0, 2.0, size=(2000, dim))
    mean, scale = X.mean(0), X.std(0)
    labels = np.arange(2000) % 3
    digests = rng.integers(0, 256, (2000, 32), dtype=np.uint8)
    index = CopyIndex.build((X - mean) / scale, labels, digests, 0.3, mean, scale)
    columns = np.array([0, 2, 3, 5])
    new_mean, new_scale = X[:, columns].mean(0) + 0.1, X[:, columns].std(0) * 1.5
    dropped = {(bytes(digests[7]), int(labels[7]))}
    keep = ~index.rows_of(dropped)
    assert keep.sum() == 1999
    moved = index.reframed(new_mean, new_scale, columns, np.array([2, 0, 1]), keep).searching(0.5)
    assert moved.radius == 0.5 and moved.fits(new_mean, new_scale)
    Z = ((X[:, columns] - new_mean) / new_scale).astype(np.float32)
    new_labels = np.array([2, 0, 1])[labels]
    rest = np.arange(2000) != 7
    queries = Z[[7, 8, 9]].astype(np.float64) + 0.01
    qdigests = rng.integers(0, 256, (3, 32), dtype=np.uint8)
    own, other = moved.nearest(queries, np.array([0, 1, 2]), qdigests)
    for i in range(3):
        want = _brute(Z[rest], new_labels[rest], digests[rest], 0.5, queries[i], [0, 1, 2][i], qdigests[i])
        assert own[i] == pytest.approx(want[0], rel=1e-5) and other[i] == pytest.approx(want[1], rel=1e-5), i


def test_a_grid_drawn_from_the_looked_up_digests_finds_the_same_copies_as_the_commit_grid():
    # attack review 34a, A34a-2: a check searches a grid keyed on its queries' digests; which cells it reads changes,
    # never which records lie within the radius (the same distances, bit for bit)
    rng = np.random.default_rng(35)
    dim = 16
    Z = rng.normal(size=(5000, dim)).astype(np.float32)
    labels = rng.integers(0, 3, 5000)
    digests = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    index = CopyIndex.build(Z, labels, digests, 0.5, np.zeros(dim), np.ones(dim))
    picks = rng.integers(0, 5000, 400)
    steps = rng.normal(size=(400, dim))
    steps *= (rng.uniform(0, 1.1, 400) * 0.5 / np.linalg.norm(steps, axis=1))[:, None]
    queries = Z[picks].astype(np.float64) + steps
    qlabels = rng.integers(0, 3, 400)
    qdigests = rng.integers(0, 256, (400, 32), dtype=np.uint8)
    keyed = index.searching(0.5, grid_key(qdigests))
    assert keyed.grid_key == grid_key(qdigests[::-1]) and keyed.radius == 0.5  # the key ignores the queries' order
    assert not np.array_equal(keyed.keys, index.keys)  # another grid
    found = keyed.nearest(queries, qlabels, qdigests)
    assert np.isfinite(found[1]).sum() > 100  # copies within the radius were found
    for got, want in zip(found, index.nearest(queries, qlabels, qdigests)):
        assert np.array_equal(got, want)
    wider = index.searching(0.7, grid_key(qdigests))  # past the index's radius: re-keyed for the larger one
    assert wider.radius == 0.7 and index.searching(0.3, None) is index
    assert CopyIndex.from_bytes(keyed.to_bytes()).grid_key == keyed.grid_key
