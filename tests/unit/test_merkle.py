"""Merkle root and inclusion proofs against RFC 6962 / RFC 9162 and an independent library."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree
from pymerkle import verify_consistency as pymerkle_consistent
from pymerkle import verify_inclusion as pymerkle_verify

from provenance.manifest import Manifest
from provenance.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    prefix_roots,
    verify_consistency,
    verify_inclusion,
)


def rfc6962_mth(entries: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written straight from the recursive definition."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_mth(entries[:k]) + rfc6962_mth(entries[k:])).digest()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 8, 9, 13, 16, 31, 100, 257])
def test_root_matches_rfc6962_and_pymerkle(n):
    entries = [os.urandom(40) for _ in range(n)]
    ours = merkle_root([leaf_hash(e) for e in entries])
    assert ours == rfc6962_mth(entries)
    if n:
        tree = InmemoryTree(algorithm="sha256")
        for e in entries:
            tree.append_entry(e)
        assert ours == tree.get_root()
    else:
        assert ours == EMPTY_ROOT


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 11, 64, 100])
def test_every_inclusion_proof_verifies_and_matches_pymerkle(n):
    entries = [os.urandom(8) for _ in range(n)]
    leaves = [leaf_hash(e) for e in entries]
    root = merkle_root(leaves)
    tree = InmemoryTree(algorithm="sha256")
    for e in entries:
        tree.append_entry(e)
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        assert verify_inclusion(leaves[i], i, n, proof, root)
        theirs = tree.prove_inclusion(i + 1)  # pymerkle counts leaves from 1
        path = theirs.serialize()["path"]
        assert path[0] == leaves[i].hex()  # pymerkle's path starts with the leaf itself
        assert path[1:] == [p.hex() for p in proof]
        pymerkle_verify(leaves[i], root, theirs)  # raises InvalidProof on mismatch


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 70), st.data())
def test_a_proof_fails_for_another_leaf_index_or_root(n, data):
    leaves = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(n)]
    root = merkle_root(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(leaves, i)
    assert verify_inclusion(leaves[i], i, n, proof, root)
    assert not verify_inclusion(hashlib.sha256(b"other").digest(), i, n, proof, root)
    assert not verify_inclusion(leaves[i], i, n, proof, hashlib.sha256(b"root").digest())
    if n > 1:
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        assert not verify_inclusion(leaves[i], j, n, proof, root)
    assert not verify_inclusion(leaves[i], n, n, proof, root)


def test_manifest_root_commits_to_digest_label_source_not_locator_or_batch():
    d = [hashlib.sha256(bytes([i])).digest() for i in range(4)]
    base = Manifest.build(d, ["a", "b", "a", "c"], ["0", "1", "2", "3"], ["s", "s", None, "t"], ["b1"] * 4)
    moved = Manifest.build(d[::-1], ["c", "a", "b", "a"], ["9", "8", "7", "6"], ["t", None, "s", "s"], ["b2"] * 4)
    assert base.root == moved.root
    relabeled = Manifest.build(d, ["a", "b", "a", "x"], ["0", "1", "2", "3"], ["s", "s", None, "t"])
    resourced = Manifest.build(d, ["a", "b", "a", "c"], ["0", "1", "2", "3"], ["s", "s", "s", "t"])
    assert len({base.root, relabeled.root, resourced.root}) == 3


def test_manifest_round_trips_through_parquet_and_refuses_unsorted_bytes():
    import io

    import pyarrow.parquet as pq

    d = [os.urandom(32) for _ in range(50)]
    m = Manifest.build(d, ["a"] * 50, [str(i) for i in range(50)])
    again = Manifest.from_bytes(m.to_bytes())
    assert again == m and again.table.equals(m.table)
    shuffled = m.table.take(list(range(49, -1, -1)))
    sink = io.BytesIO()
    pq.write_table(shuffled, sink)
    from provenance.errors import VerificationError

    with pytest.raises(VerificationError, match="not sorted"):
        Manifest.from_bytes(sink.getvalue())


def test_parallel_subtree_root_equals_the_single_pass_root():
    from provenance.executor import LocalExecutor
    from provenance.merkle import merkle_root_of_blob

    for n in (1 << 17, (1 << 17) + 12345):
        leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
        assert merkle_root_of_blob(b"".join(leaves), LocalExecutor(3)) == merkle_root(leaves)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 9, 13, 16, 17, 33])
def test_every_consistency_proof_verifies_and_holds_pymerkles_nodes(n):
    """RFC 9162 §2.1.4: PROOF(m, D[n]) for every m; pymerkle (an independent implementation)
    agrees on every prefix's root and proves the same consistency its own way."""
    entries = [os.urandom(8) for _ in range(n)]
    leaves = [leaf_hash(e) for e in entries]
    root = merkle_root(leaves)
    tree = InmemoryTree(algorithm="sha256")
    for e in entries:
        tree.append_entry(e)
    for m in range(1, n + 1):
        proof = consistency_proof(leaves, m)
        first_root = merkle_root(leaves[:m])
        assert verify_consistency(m, n, first_root, root, proof)
        assert tree.get_root(m) == first_root
        if m < n:
            pymerkle_consistent(first_root, root, tree.prove_consistency(m, n))  # raises InvalidProof
    assert consistency_proof(leaves, 0) == [] and verify_consistency(0, n, EMPTY_ROOT, root, [])


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.data())
def test_a_consistency_proof_fails_for_a_rewritten_prefix_or_a_wrong_size(n, data):
    entries = [bytes([i]) * 4 for i in range(n)]
    leaves = [leaf_hash(e) for e in entries]
    m = data.draw(st.integers(1, n - 1))
    proof, root, first_root = consistency_proof(leaves, m), merkle_root(leaves), merkle_root(leaves[:m])
    rewritten = leaves[:]
    rewritten[data.draw(st.integers(0, m - 1))] = leaf_hash(b"rewritten")
    assert not verify_consistency(m, n, merkle_root(rewritten[:m]), root, proof)
    assert not verify_consistency(m, n, first_root, merkle_root(rewritten), proof)
    assert not verify_consistency(m, n, first_root, root, proof[:-1])
    assert not verify_consistency(n, m, first_root, root, proof)
    if m + 1 < n:
        assert not verify_consistency(m + 1, n, first_root, root, proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        assert not verify_consistency(m, n, first_root, root, proof[:i] + [leaf_hash(b"x")] + proof[i + 1 :])
    with pytest.raises(ValueError):
        consistency_proof(leaves, n + 1)


def test_prefix_roots_in_one_pass_equal_each_prefix_root():
    leaves = [leaf_hash(bytes([i])) for i in range(70)]
    sizes = [1, 2, 3, 5, 8, 31, 32, 33, 64, 70, 71, 0]
    got = prefix_roots(leaves, sizes)
    assert got == {n: merkle_root(leaves[:n]) for n in sizes if 1 <= n <= 70}
