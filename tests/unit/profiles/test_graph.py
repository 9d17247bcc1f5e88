"""The profile's neighbour graph equals its definition, computed by brute force."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.profiles.graph import batch_neighbour_graph


def brute_force(Z, labels, groups, k):
    """Every pair's distance, fully sorted (ties by index): the definition."""
    m = len(Z)
    d = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1))
    out = {name: [] for name in ("loo_idx", "loo_dist", "idx", "dist", "own_dist", "other_dist")}
    for i in range(m):
        by_distance = np.lexsort((np.arange(m), d[i]))  # nearest first, ties by index
        by_distance = by_distance[by_distance != i]
        others = by_distance.tolist()
        other_batches = by_distance[groups[by_distance] != groups[i]].tolist()
        for name, pool in (("loo", others), ("", other_batches)):
            nearest = pool[:k]
            idx = nearest + [-1] * (k - len(nearest))
            out[f"{name}_idx" if name else "idx"].append(idx)
            out[f"{name}_dist" if name else "dist"].append([d[i, j] for j in nearest] + [np.inf] * (k - len(nearest)))
        elsewhere = groups != groups[i]
        for name, same in (("own_dist", labels == labels[i]), ("other_dist", labels != labels[i])):
            out[name].append(d[i, elsewhere & same].min(initial=np.inf))
    return {name: np.array(v) for name, v in out.items()}


@pytest.mark.parametrize("m,k,batches", [(1, 4, 1), (7, 16, 3), (300, 5, 10), (300, 16, 4), (1100, 3, 10)])
def test_graph_equals_brute_force(m, k, batches):
    rng = np.random.default_rng(m + k)
    labels = np.sort(rng.integers(0, 6, m))
    groups = rng.integers(0, batches, m)
    # batches far apart, so a record's nearest are mostly its batch-mates (the search of
    # other batches must then look past its first candidates)
    Z = rng.normal(size=(m, 5)) + 4.0 * groups[:, None] + labels[:, None]
    got = batch_neighbour_graph(Z, labels, groups, k)
    want = brute_force(Z, labels, groups, k)
    for name in ("loo_idx", "idx"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    for name in ("loo_dist", "dist", "own_dist", "other_dist"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, err_msg=name)


def test_labels_must_be_sorted():
    with pytest.raises(ValueError, match="sorted by label"):
        batch_neighbour_graph(np.zeros((3, 2)), np.array([1, 0, 2]), np.zeros(3, dtype=int), 2)


def test_ties_are_broken_by_index_whatever_the_partial_sort_kept():
    """Integer features on a small grid: many records at exactly equal distances."""
    rng = np.random.default_rng(3)
    m = 1500
    labels = np.sort(rng.integers(0, 4, m))
    groups = rng.integers(0, 10, m)
    Z = rng.integers(0, 3, (m, 2)).astype(np.float64)
    got = batch_neighbour_graph(Z, labels, groups, 6)
    want = brute_force(Z, labels, groups, 6)
    for name in ("loo_idx", "idx"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_exact_copies_flood_equals_brute_force():
    """Twelve records copied a hundred times each: every row's k nearest tie at distance 0
    (the search's tied path), and ties still go to the lowest index."""
    rng = np.random.default_rng(5)
    m = 1200
    Z = np.repeat(rng.normal(size=(12, 4)), 100, axis=0)
    labels = np.sort(rng.integers(0, 3, m))
    groups = rng.integers(0, 5, m)
    got = batch_neighbour_graph(Z, labels, groups, 10)
    want = brute_force(Z, labels, groups, 10)
    for name in ("loo_idx", "idx"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    for name in ("loo_dist", "dist", "own_dist", "other_dist"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("m,d,k", [(2500, 260, 16), (3001, 17, 16), (4096, 64, 5)])
def test_blocks_on_two_threads_give_the_same_bits(m, d, k):
    """A commit builds the graph's row blocks on two threads where a core is free (an image tree's
    profile is half its commit's time); the signed profile's bytes must not depend on it: every
    array equal to the one-thread graph's, bit for bit, on shapes whose last block is partial."""
    rng = np.random.default_rng(m)
    labels = np.sort(rng.integers(0, 10, m))
    groups = rng.integers(0, 8, m)
    Z = rng.normal(size=(m, d)).astype(np.float32)
    Z[m // 2 : m // 2 + 40] = Z[:40]  # exact copies: ties in the searches
    one = batch_neighbour_graph(Z, labels, groups, k, threads=1)
    two = batch_neighbour_graph(Z, labels, groups, k, threads=2)
    assert one.keys() == two.keys()
    for name in one:
        assert one[name].tobytes() == two[name].tobytes(), name


def test_a_profile_built_with_one_or_two_workers_has_the_same_bytes(monkeypatch):
    """The whole signed profile, as a commit builds it (``PROV_WORKERS`` decides the graph's threads)."""
    import hashlib

    from provenance.profiles.reference import build_profile

    rng = np.random.default_rng(7)
    n = 3000
    y = rng.integers(0, 10, n)
    X = (rng.integers(0, 256, (n, 68)) / 255.0 + y[:, None] * 0.05).astype(np.float32)
    digests = [hashlib.sha256(b"image-%d" % i).digest() for i in range(n)]
    built = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("PROV_WORKERS", workers)
        built[workers] = build_profile(X, y.astype(str), digests, featurizer="image/v1", positions=np.arange(n))
    assert len(built["2"].sample_X) == n  # the whole base sampled: three blocks of rows
    assert built["1"].to_bytes() == built["2"].to_bytes()
