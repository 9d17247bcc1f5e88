"""The copy index (profiles.copy_index): exact within its radius, whatever cell faces a query lies near; its bytes."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.profiles.copy_index import (
    MAX_PROBE_BITS,
    CopyIndex,
    _cells,
    _grid,
    _keys,
    _pairs,
    cell_width,
    digest_prefixes,
    grid_key,
)


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


def one_query_at_a_time(index, Zq, labels, digests):
    """The look-up as sessions 34-35 wrote it (one query after another: its probe cells' keys, their rows, a distance
    pass over them): the reference the vectorised ``CopyIndex.nearest`` must equal bit for bit (perf35b). ``(own,
    other, records read)``."""
    Zq = np.asarray(Zq, dtype=np.float64)
    own, other = np.full(len(Zq), np.inf), np.full(len(Zq), np.inf)
    read = np.zeros(len(Zq), dtype=np.int64)
    if not len(Zq) or not len(index.keys):
        return own, other, read
    shift, multipliers = _grid(index.dim, index.width, index.grid_key)
    cells = _cells(Zq, shift, index.width)
    offset = (Zq - shift) / index.width - cells
    low = offset * index.width < index.radius
    high = (1.0 - offset) * index.width < index.radius
    mine = digest_prefixes(digests)
    for i in range(len(Zq)):
        faces = np.flatnonzero(low[i] | high[i])
        if faces.size > MAX_PROBE_BITS:
            candidates = np.arange(len(index.keys))
        else:
            steps = np.where(low[i][faces], -1, 1).astype(np.int64)
            subsets = (np.arange(1 << faces.size)[:, None] >> np.arange(faces.size)) & 1
            probes = np.repeat(cells[i][None, :], len(subsets), axis=0)
            probes[:, faces] += subsets * steps
            keys = np.unique(_keys(probes, multipliers))
            starts = np.searchsorted(index.keys, keys, side="left")
            stops = np.searchsorted(index.keys, keys, side="right")
            candidates = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)])
        read[i] = candidates.size
        if not candidates.size:
            continue
        for start in range(0, len(candidates), 1 << 16):
            part = candidates[start : start + (1 << 16)]
            dist = np.sqrt(((index.Z[part].astype(np.float64) - Zq[i]) ** 2).sum(axis=1))
            keep = (index.digests[part] != mine[i]) & (dist <= index.radius)
            same = index.labels[part] == int(labels[i])
            if (keep & same).any():
                own[i] = min(own[i], float(dist[keep & same].min()))
            if (keep & ~same).any():
                other[i] = min(other[i], float(dist[keep & ~same].min()))
    return own, other, read


def _hard_case(dim, radius, keyed, n=800, N=4000):
    """A base and queries that reach every branch of a look-up, on the grid the look-up searches: base records nudged
    within and past the radius; exact copies (distance 0) of records duplicated across classes (ties); own twins (a
    base record's digest); coordinates moved onto a cell face, a hair inside it or about the radius from it; records
    and queries a little way from a cell's corner (near every face: past ``MAX_PROBE_BITS`` faces from 13 features, a
    whole scan that finds them); far queries (no candidate); labels -1. Returns ``(index, queries, labels,
    digests)``."""
    rng = np.random.default_rng(350 + dim)
    Z = rng.normal(size=(N, dim)).astype(np.float32)
    Z[N // 2 : N // 2 + 200] = Z[:200]
    labels = rng.integers(0, 3, N)
    digests = rng.integers(0, 256, (N, 32), dtype=np.uint8)
    picks = rng.integers(0, N - 40, n)
    qdigests = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    twins = rng.random(n) < 0.25
    qdigests[twins] = digests[picks[twins]]
    key = grid_key(qdigests) if keyed else None
    width = cell_width(radius, dim)
    shift, _ = _grid(dim, width, key)
    corners = np.floor((Z[:40].astype(np.float64) - shift) / width) * width + shift
    near = radius / (2 * np.sqrt(dim))  # two points this near one corner lie within the radius of each other
    Z[N - 40 :] = (corners + rng.uniform(0, near, corners.shape)).astype(np.float32)
    index = CopyIndex.build(Z, labels, digests, radius, np.zeros(dim), np.ones(dim)).searching(radius, key)
    steps = rng.normal(size=(n, dim))
    steps *= (rng.uniform(0, 1.3, n) * radius / np.linalg.norm(steps, axis=1))[:, None]
    queries = Z[picks].astype(np.float64) + steps
    queries[: n // 8] = Z[picks[: n // 8]]
    faced = slice(n // 8, n // 4)
    cells = np.floor((queries[faced] - shift) / width)
    where = rng.choice([0.0, 1e-12, radius, radius * (1 - 1e-9), width - radius], cells.shape)
    queries[faced] = np.where(rng.random(cells.shape) < 0.5, cells * width + shift + where, queries[faced])
    queries[n // 4 : n // 4 + 40] = corners + rng.uniform(0, near, corners.shape)
    queries[-5:] = 50.0
    return index, queries, rng.integers(-1, 3, n), qdigests


@pytest.mark.parametrize(
    ("dim", "radius", "keyed"), [(2, 0.2, False), (8, 0.5, True), (16, 0.6, False), (40, 0.9, True)]
)
def test_the_vectorised_look_up_equals_the_one_query_at_a_time_loop_bit_for_bit(dim, radius, keyed):
    index, queries, qlabels, qdigests = _hard_case(dim, radius, keyed)
    assert index.grid_key == (grid_key(qdigests) if keyed else None)
    got = index.nearest(queries, qlabels, qdigests)
    *want, read = one_query_at_a_time(index, queries, qlabels, qdigests)
    assert np.array_equal(index.records_read(queries), read)
    assert (read.max() == len(index.keys)) == (dim > MAX_PROBE_BITS)  # corner queries read every record
    for g, w in zip(got, want):
        assert g.dtype == w.dtype == np.float64
        assert np.array_equal(g.view(np.uint64), w.view(np.uint64))  # bit for bit, inf where none within the radius
    assert np.isfinite(got[0]).sum() > 50 and np.isfinite(got[1]).sum() > 50 and np.isinf(got[1]).sum() >= 5
    assert (got[0] == 0).any() and (got[1] == 0).any()
    corner = slice(200, 240)  # each finds the record planted beside it (unless that is its own twin)
    assert np.isfinite(np.minimum(got[0][corner], got[1][corner])).sum() >= 30


def test_a_look_up_with_no_query_or_no_record_finds_nothing():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(100, 4)).astype(np.float32)
    digests = rng.integers(0, 256, (100, 32), dtype=np.uint8)
    index = CopyIndex.build(Z, np.zeros(100), digests, 0.4, np.zeros(4), np.ones(4))
    own, other = index.nearest(np.zeros((0, 4)), np.zeros(0, int), np.zeros((0, 32), np.uint8))
    assert own.shape == other.shape == (0,)
    empty = CopyIndex.build(Z[:0], np.zeros(0), digests[:0], 0.4, np.zeros(4), np.ones(4))
    own, other = empty.nearest(Z[:3], np.zeros(3, int), digests[:3])
    assert np.isinf(own).all() and np.isinf(other).all()


def test_a_record_exactly_the_radius_away_is_found_and_one_a_hair_further_is_not():
    # 2,000 own twins beside the first query give its look-up enough pairs to be sifted feature by feature first
    Z = np.array([[0.0, 0.0, 0.0]] + [[0.5, 0.0, 0.0]] * 2000 + [[3.0, 3.0, 3.0]], dtype=np.float32)
    digests = np.zeros((2002, 32), np.uint8)
    digests[0], digests[-1] = 1, 2
    index = CopyIndex.build(Z, np.array([0] * 2001 + [1]), digests, 0.5, np.zeros(3), np.ones(3))
    queries = np.array([[0.5, 0.0, 0.0], [3.0, 3.0, 3.5 + 1e-9]])
    own, other = index.nearest(queries, np.array([0, 0]), np.zeros((2, 32), np.uint8))
    assert own.tolist() == [0.5, np.inf] and other.tolist() == [np.inf, np.inf]


def test_the_pairs_of_ranges_longer_than_a_chunk_come_in_order_split_across_chunks():
    starts, lengths = np.array([5, 0, 90_000, 7]), np.array([70_000, 3, 100_000, 1])
    chunks = list(_pairs(np.array([10, 11, 12, 13]), starts, lengths))
    assert all(len(rows) <= 1 << 16 for _, rows in chunks) and len(chunks) == 3
    owners, rows = (np.concatenate(parts) for parts in zip(*chunks))
    assert owners.tolist() == [10] * 70_000 + [11] * 3 + [12] * 100_000 + [13]
    assert rows.tolist() == [*range(5, 70_005), 0, 1, 2, *range(90_000, 190_000), 7]
