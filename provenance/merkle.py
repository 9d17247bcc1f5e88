"""RFC 6962 Merkle tree hash over manifest entries, and RFC 9162 inclusion proofs.

An entry is the canonical encoding of (digest, label, source), never the locator or
the batch; leaf hash = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from provenance import fastsha
from provenance.encoding import encode_value, split_digests

EMPTY_ROOT = hashlib.sha256(b"").digest()


def merkle_entry(digest: bytes, label: str, source: str | None) -> bytes:
    """The bytes a leaf commits to: (digest, label, source); never locator or batch."""
    return encode_value(digest) + encode_value(label) + encode_value(source)


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def leaf_hashes(digests: Iterable[bytes], labels: Iterable[str], sources: Iterable[str | None]) -> list[bytes]:
    return [leaf_hash(merkle_entry(d, l, s)) for d, l, s in zip(digests, labels, sources)]


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])  # an odd last node is promoted: this is RFC 6962's split at 2^k
    return nxt


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, built bottom-up; equal to RFC 6962's recursive definition."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[n]), leaf-to-root order."""
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
    """RFC 9162 §2.1.3.2: check that ``leaf`` sits at ``index`` of a tree of ``size``."""
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
    blob, start, end = args
    return merkle_root(split_digests(blob[start * 32 : end * 32]))


def merkle_root_of_blob(blob: bytes, executor=None) -> bytes:
    """MTH over concatenated 32-byte leaf hashes, with subtrees hashed in parallel.

    Subtrees are aligned power-of-two chunks: in RFC 6962's tree each is a complete
    subtree (and the last, partial one reduces the same way), so hashing them apart and
    then combining their roots gives the same root as one pass.
    """
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
        """Feed the next leaf hashes (concatenated 32-byte values) in order."""
        self.size += len(blob) // 32
        # Views, not copies: the blob is hashed where it lies, and only the tail that does not
        # fill a chunk is kept (the old buffer is copied once when a tail was left over).
        data = memoryview(self._buf + blob if self._buf else blob)
        step = 32 << self.CHUNK_BITS
        full = len(data) // step * step
        for off in range(0, full, step):
            self._push(self.CHUNK_BITS, perfect_subtree_root(data[off : off + step]))
        self._buf = bytearray(data[full:])

    def _push(self, height: int, node: bytes) -> None:
        sha = hashlib.sha256
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            node = sha(b"\x01" + left + node).digest()
            height += 1
        self._stack.append((height, node))

    def root(self) -> bytes:
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


def perfect_subtree_root(blob: bytes | memoryview) -> bytes:
    """Root over a power-of-two number of leaf hashes (any count works; this is the hot path)."""
    return fastsha.merkle_root(blob)
