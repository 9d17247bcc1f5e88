"""RFC 6962 Merkle tree hash over manifest entries, and RFC 9162 inclusion and consistency proofs.

The tree is RFC 6962 §2.1's Merkle Tree Hash (MTH) with SHA-256, named ``rfc6962-sha256``
where a digest is signed: leaf hash = SHA-256(0x00 || entry), node = SHA-256(0x01 || left
|| right), the tree of n > 1 leaves split at k, the largest power of two smaller than n,
and the empty tree's hash SHA-256(""). An entry is the canonical encoding of (digest,
label, source) in manifest order, never the locator or the batch, so the same records in
another order, file or folder give the same root. Inclusion proofs are RFC 9162 §2.1.3
(the audit paths of RFC 6962 §2.1.1, leaf to root).

All hashes are 32-byte ``bytes``; a "blob" is hashes concatenated. The golden vectors in
``tests/data/golden/rfc6962-sha256/`` pin a root and every proof of a 7-leaf tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

# fastsha (numpy) and the encoders (pyarrow) are imported where a tree is built from entries
# or blobs: `prov show` and the audit log's consistency proofs need only hashlib here.

EMPTY_ROOT = hashlib.sha256(b"").digest()


def merkle_entry(digest: bytes, label: str, source: str | None, label_kind: str = "string") -> bytes:
    """The bytes a leaf commits to: ``enc(digest) || enc(label) || enc(source)``.

    Each part is a ``prov-row-v1`` value (``Y`` for the 32-byte digest, ``S`` for the
    source, ``N`` for a missing source); never the locator or the batch. The label is typed
    by its column's kind (``encoding.encode_label``): a text label is ``S`` (the bytes every
    manifest before label kinds has), an integer label ``I``, a float ``F``, a boolean ``B``,
    so ``"1"`` and ``1`` are different entries. These bytes are part of every signed root:
    a change needs a new tree name, not an edit.
    """
    from provenance.encoding import encode_label, encode_value

    return encode_value(digest) + encode_label(label, label_kind) + encode_value(source)


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry), 32 bytes."""
    return hashlib.sha256(b"\x00" + entry).digest()


def leaf_hashes(
    digests: Iterable[bytes], labels: Iterable[str], sources: Iterable[str | None], label_kind: str = "string"
) -> list[bytes]:
    """Leaf hashes of parallel (digest, label, source) sequences, in the order given."""
    return [leaf_hash(merkle_entry(d, l, s, label_kind)) for d, l, s in zip(digests, labels, sources)]


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])  # an odd last node is promoted: this is RFC 6962's split at 2^k
    return nxt


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 MTH over 32-byte leaf hashes (already hashed with 0x00), built bottom-up.

    Equal to the RFC's recursive definition (an odd node at the end of a level moves up
    unchanged, which is the split at the largest power of two). No leaves give SHA-256("").
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[n]): the sibling hashes from the leaf up to the root.

    ``leaves`` are the n leaf hashes, ``index`` is 0-based. Returns at most ceil(log2 n)
    32-byte hashes, leaf-to-root. Raises ``IndexError`` when ``index`` is outside the tree.
    """
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is outside a tree of {len(leaves)}")
    proof: list[bytes] = []
    level = list(leaves)
    i = index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        level = _next_level(level)
        i //= 2
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: whether ``proof`` shows leaf hash ``leaf`` at ``index`` of a tree of
    ``size`` leaves whose root is ``root``. Returns ``False`` (never raises) for a wrong
    index, a short or long proof, or any other mismatch."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    sha = hashlib.sha256
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


_PARALLEL_TREE_MIN = 1 << 17


def _subtree_root(args: tuple[bytes, int, int]) -> bytes:
    from provenance.encoding import split_digests

    blob, start, end = args
    return merkle_root(split_digests(blob[start * 32 : end * 32]))


def merkle_root_of_blob(blob: bytes, executor=None) -> bytes:
    """MTH over concatenated 32-byte leaf hashes; returns the 32-byte root.

    Uses the ``fastsha`` extension when it is built; otherwise, from 2**17 leaves and with
    an ``executor`` of several workers, subtrees are hashed in parallel.

    Subtrees are aligned power-of-two chunks: in RFC 6962's tree each is a complete
    subtree (and the last, partial one reduces the same way), so hashing them apart and
    then combining their roots gives the same root as one pass.
    """
    from provenance import fastsha
    from provenance.encoding import split_digests

    n = len(blob) // 32
    if fastsha.available():
        return fastsha.merkle_root(blob)
    workers = getattr(executor, "workers", 1) if executor is not None else 1
    if n < _PARALLEL_TREE_MIN or workers <= 1:
        return merkle_root(split_digests(blob))
    chunk = 1 << max(0, (n // workers).bit_length() - 1)
    tasks = [(blob, start, min(start + chunk, n)) for start in range(0, n, chunk)]
    return merkle_root(executor.map(_subtree_root, tasks))


class MerkleBuilder:
    """RFC 6962 root over leaf hashes fed in order, holding O(log n) state.

    Leaves arrive in blobs (concatenated 32-byte hashes). Full chunks of ``2**CHUNK_BITS``
    leaves are perfect subtrees, hashed level by level; each subtree root goes onto a
    stack, and two subtrees of one height merge at once. At the end the leftover leaves
    are split into perfect subtrees, largest first, and the stack is folded from the
    right: this is MTH's "largest power of two smaller than n" split, applied repeatedly.
    """

    CHUNK_BITS = 14

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self._buf = bytearray()
        self.size = 0

    def add_blob(self, blob: bytes) -> None:
        """Feed the next leaf hashes (concatenated, 32 bytes each) in tree order."""
        self.size += len(blob) // 32
        # Views, not copies: the blob is hashed where it lies, and only the tail that does not
        # fill a chunk is kept (the old buffer is copied once when a tail was left over).
        data = memoryview(self._buf + blob if self._buf else blob)
        step = 32 << self.CHUNK_BITS
        full = len(data) // step * step
        for off in range(0, full, step):
            self._push(self.CHUNK_BITS, perfect_subtree_root(data[off : off + step]))
        self._buf = bytearray(data[full:])

    def add_chunk_roots(self, roots: list[bytes]) -> None:
        """Feed the roots of whole chunks (``2**CHUNK_BITS`` leaves each, made by
        :func:`chunk_roots`) that come next in tree order.

        Only at a chunk boundary: every leaf fed so far must fill whole chunks. Raises
        ValueError otherwise.
        """
        if roots and self._buf:
            raise ValueError("chunk roots fed where the leaves fed so far do not fill whole chunks")
        for node in roots:
            self.size += 1 << self.CHUNK_BITS
            self._push(self.CHUNK_BITS, node)

    def _push(self, height: int, node: bytes) -> None:
        sha = hashlib.sha256
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            node = sha(b"\x01" + left + node).digest()
            height += 1
        self._stack.append((height, node))

    def root(self) -> bytes:
        """The RFC 6962 root of every leaf fed so far (SHA-256("") for none); feed nothing after it."""
        rest = bytes(self._buf)
        n, at = len(rest) // 32, 0
        for k in range(self.CHUNK_BITS - 1, -1, -1):
            if n & (1 << k):
                self._push(k, perfect_subtree_root(rest[at * 32 : (at + (1 << k)) * 32]))
                at += 1 << k
        self._buf = bytearray()
        if not self._stack:
            return EMPTY_ROOT
        sha = hashlib.sha256
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = sha(b"\x01" + left + node).digest()
        return node


def chunk_roots(leaves: bytes | memoryview, start: int, bits: int) -> tuple[memoryview, list[bytes], memoryview]:
    """Split leaf hashes that sit at leaf index ``start`` of a tree into what can be hashed apart.

    Returns (head, roots, tail): the leaves before the first multiple of ``2**bits`` at or
    after ``start``, the roots of every whole aligned chunk of ``2**bits`` leaves after
    them (perfect subtrees of RFC 6962's tree wherever the tree ends), and the leaves
    after the last whole chunk. Feeding head, roots and tail in order to a
    :class:`MerkleBuilder` with ``CHUNK_BITS == bits`` (``add_blob``, ``add_chunk_roots``,
    ``add_blob``) is feeding it the leaves; the roots can be made on other threads.
    """
    data = memoryview(leaves)
    n, chunk = len(data) // 32, 1 << bits
    first = -(-start // chunk) * chunk - start  # leaves before the first chunk boundary
    whole = max(0, (n - first) // chunk)
    if not whole:
        return data, [], data[len(data) :]
    end = first + whole * chunk
    roots = [perfect_subtree_root(data[32 * at : 32 * (at + chunk)]) for at in range(first, end, chunk)]
    return data[: 32 * first], roots, data[32 * end :]


def perfect_subtree_root(blob: bytes | memoryview) -> bytes:
    """Root over a power-of-two number of leaf hashes (any count works; this is the hot path)."""
    from provenance import fastsha

    return fastsha.merkle_root(blob)


# --- RFC 9162 §2.1.4 consistency proofs (the audit log's signed tree heads) ---------------


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def consistency_proof(leaves: Sequence[bytes], first: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(first, D[n]): node hashes proving the tree of the first
    ``first`` leaves is a prefix of the tree of all ``len(leaves)`` leaves.

    ``leaves`` are leaf hashes (32 bytes each). Empty when ``first`` is 0 or equals the
    size (nothing to prove). Raises ValueError if ``first`` is outside 0..n.
    """
    n = len(leaves)
    if not 0 <= first <= n:
        raise ValueError(f"a tree of {first} leaves cannot be a prefix of a tree of {n}")
    if first in (0, n):
        return []
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [merkle_root(leaves)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [merkle_root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [merkle_root(leaves[:k])]


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: whether the tree of size ``first`` with root ``first_root`` is a
    prefix of the tree of size ``second`` with root ``second_root``.

    A tree of size 0 is a prefix of every tree; equal sizes need equal roots and an empty
    proof. Returns False (never raises) for anything that does not verify.
    """
    if first < 0 or second < first:
        return False
    if first == 0:
        return not proof
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if not path:
        return False
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a node of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    sha = hashlib.sha256
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = sha(b"\x01" + c + fr).digest()
            sr = sha(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def prefix_roots(leaves: Sequence[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """RFC 6962 MTH of the first ``size`` leaves for each of ``sizes``, in one pass.

    Keeps the compact range of the prefix (its perfect subtrees, largest first) and folds
    it from the right at each size asked for: O(n + k log n) for k sizes instead of O(n k).
    A size outside 1..n is left out of the answer.
    """
    want, out = set(sizes), {}
    stack: list[tuple[int, bytes]] = []  # (height, root) of perfect subtrees, left to right
    sha = hashlib.sha256
    for i, leaf in enumerate(leaves, 1):
        node, height = leaf, 0
        while stack and stack[-1][0] == height:
            node = sha(b"\x01" + stack.pop()[1] + node).digest()
            height += 1
        stack.append((height, node))
        if i in want:
            root = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                root = sha(b"\x01" + left + root).digest()
            out[i] = root
    return out
