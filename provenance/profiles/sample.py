"""The profile sample: per class, the distinct records with the smallest sample keys.

One rule, used twice: at commit, to pick which manifest rows are read again and
featurised, and inside the profile, to pick the bounded sample it keeps. The sample is
content-defined (the same records give the same sample in any order, file or chunking).

A record's *sample key* is SHA-256(prefix || digest), its first 8 bytes, the prefix being
SHA-256(``SAMPLE_DOMAIN`` || salt) cut to 16 bytes (``sample_key``). Ranked by the bare
digest, a source could grind its records into the sample (attack review 9, G1: a PNG text
chunk or a float's last bit varied until the digest is small, 200 of 200 of its images in a
20,000-image base's sample, 42 by chance). The salt is SHA-256 of the committer's Ed25519
signature over ``SALT_DOMAIN_V2``, a random nonce drawn at commit, the parent version's Merkle
root and the new tag (``salt_message``): no source can compute it without the committer's key,
and the nonce keeps one key from drawing the same salt in two stores (attack review 11, S11-1). The commit
signs the signature into its profile facts (``sampleSaltSignature``), so a verifier holding
the committer's public key checks it and recomputes the same sample from the manifest
(``verified_salt``). ``salt`` None ranks by the digest itself (profiles built outside a commit).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance import fastsha
from provenance.manifest import SCHEMA, Manifest

DEFAULT_MAX_PER_CLASS = 2000
# The whole sample is bounded whatever the class count, so profile time and memory
# are too (issue 15: <= 3 s up to 100 classes, <= 10 s at 2,000, <= 500 MiB).
DEFAULT_MAX_TOTAL = 8000


SAMPLE_DOMAIN = b"prov profile sample key v1\x00"
SALT_DOMAIN = b"prov profile sample salt v1\x00"
SALT_DOMAIN_V2 = b"prov profile sample salt v2\x00"
NONCE_BYTES = 16


def salt_message(parent_root: bytes | None, tag: str, nonce: bytes | None = None) -> bytes:
    """What the committer signs to draw the sample salt: ``SALT_DOMAIN_V2`` and the commit's random
    16-byte ``nonce``, then the parent's 32-byte Merkle root (a 0 byte without a parent, else a 1 byte
    before it) and the version's tag. Without a nonce (versions committed before it), ``SALT_DOMAIN``
    and the rest: one key then drew one salt for every store's version of that tag and parent, and a
    salt published by one store let a source grind into another's sample (attack review 11, S11-1)."""
    head = SALT_DOMAIN_V2 + nonce if nonce is not None else SALT_DOMAIN
    return head + (b"\x01" + parent_root if parent_root is not None else b"\x00") + tag.encode()


def salt_from_signature(signature: bytes) -> bytes:
    """The sample salt: SHA-256 of the committer's signature of ``salt_message``."""
    return hashlib.sha256(signature).digest()


def verified_salt(public_key, facts: dict, tag: str) -> bytes:
    """The sample salt a version's signed profile ``facts`` name, checked: its ``sampleSaltSignature``
    must verify under ``public_key`` (the committer's) over ``salt_message(sampleSaltParent, tag)`` and
    hash to ``sampleSalt``. Raises ``VerificationError`` otherwise."""
    from cryptography.exceptions import InvalidSignature

    from provenance.errors import VerificationError

    try:
        signature = bytes.fromhex(facts["sampleSaltSignature"])
        parent, nonce = facts.get("sampleSaltParent"), facts.get("sampleSaltNonce")
        if nonce is not None and len(bytes.fromhex(nonce)) != NONCE_BYTES:
            raise ValueError(f"sampleSaltNonce is not {NONCE_BYTES} bytes")
        message = salt_message(bytes.fromhex(parent) if parent else None, tag, bytes.fromhex(nonce) if nonce else None)
        public_key.verify(signature, message)
    except (KeyError, TypeError, ValueError, InvalidSignature) as exc:
        raise VerificationError(f"version {tag}: the profile sample's salt does not verify ({exc!r})") from exc
    salt = salt_from_signature(signature)
    if salt.hex() != facts.get("sampleSalt"):
        raise VerificationError(f"version {tag}: the profile sample's salt is not its signature's hash")
    return salt


def sample_key(digests: np.ndarray, salt: bytes | None) -> np.ndarray:
    """(n,) uint64 sample keys of 32-byte ``digests`` (``S32`` items or an ``(n, 32)`` uint8 matrix):
    the first 8 bytes, big-endian, of SHA-256(``sample_prefix(salt)`` || digest), or of the
    digest itself when ``salt`` is None (so key order is digest order up to ties). One batched
    SHA-256 call (``fastsha``: ~0.1 us a record compiled)."""
    matrix = np.ascontiguousarray(_as_s32(np.asarray(digests))).view(np.uint8).reshape(-1, 32)
    if salt is not None:
        hashed = fastsha.sha256_fixed(sample_prefix(salt), matrix)
        matrix = np.frombuffer(hashed, dtype=np.uint8).reshape(-1, 32)
    return matrix[:, :8].copy().view(">u8").reshape(-1).astype(np.uint64)


def sample_prefix(salt: bytes) -> bytes:
    """The 16 bytes hashed before each digest: SHA-256(``SAMPLE_DOMAIN`` || ``salt``), cut so that
    prefix and digest fit one SHA-256 block (48 bytes: half the cost of two blocks)."""
    return hashlib.sha256(SAMPLE_DOMAIN + salt).digest()[:16]


def key_order(keys: np.ndarray, digests: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Indexes that sort rows by (sample key, digest, class): a record's copies stay together."""
    d = _as_s32(np.asarray(digests))
    return np.lexsort((classes, d, keys))


def _as_s32(digests: np.ndarray) -> np.ndarray:
    """Digests as one ``S32`` item each, from an ``S32`` array or an ``(n, 32)`` uint8 matrix."""
    if digests.dtype == np.dtype("S32"):
        return digests
    if digests.ndim != 2 or digests.shape[1] != 32 or digests.dtype != np.uint8:
        raise ValueError(f"digests must be S32 or (n, 32) uint8, not {digests.dtype} {digests.shape}")
    return np.ascontiguousarray(digests).view("S32").reshape(-1)


def first_per_class(
    digests: np.ndarray,
    classes: np.ndarray,
    n_classes: int,
    cap: int,
    max_total: int | None = None,
    taken: np.ndarray | None = None,
) -> np.ndarray:
    """Row indexes of the sample, class by class (row order within a class).

    ``digests`` (``S32`` items or an ``(n, 32)`` uint8 matrix) must be in sample-key order:
    sorted ascending without a salt, else by ``key_order``; ``classes`` holds each row's
    class index in ``[0, n_classes)``. A record repeated with the same class sits next to
    its copies and counts once; each class keeps at most ``cap`` rows, and if that is more
    than ``max_total`` in all, only the ``max_total`` first of them are kept. ``taken`` (per class, how
    many distinct rows earlier batches of the same sorted sequence held) continues a
    streamed pass; it is updated in place. Vectorised: this runs over the whole manifest
    on every commit.
    """
    n = len(classes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    d = _as_s32(digests)
    first = np.ones(n, dtype=bool)
    first[1:] = (d[1:] != d[:-1]) | (classes[1:] != classes[:-1])
    rows = np.flatnonzero(first)
    row_classes = classes[rows]
    by_class = np.argsort(row_classes, kind="stable")  # stable: digest order kept within a class
    sorted_classes = row_classes[by_class]
    starts = np.searchsorted(sorted_classes, np.arange(n_classes))
    rank = np.arange(len(rows)) - starts[sorted_classes]
    if taken is not None:
        rank += taken[sorted_classes]
        taken += np.bincount(row_classes, minlength=n_classes)[: len(taken)]
    chosen = rows[by_class[rank < cap]]
    if max_total is not None and len(chosen) > max_total:
        kept = np.sort(chosen)[:max_total]  # rows are in sample-key order: the smallest keys
        chosen = chosen[np.isin(chosen, kept)]
    return chosen


def sample_rows(manifest: Manifest, cap: int = DEFAULT_MAX_PER_CLASS, max_total: int | None = None) -> np.ndarray:
    """Manifest rows of the profile sample, ascending: per label, the first ``cap`` distinct digests,
    and of those only the ``max_total`` smallest digests (all of them when None).

    The manifest is sorted by (digest, label), so the first rows of each label are its
    smallest digests. Streamed (see ``sample_manifest``).
    """
    return sample_manifest(manifest, cap, max_total).rows


def sample_table(manifest: Manifest, cap: int = DEFAULT_MAX_PER_CLASS, max_total: int | None = None) -> pa.Table:
    """The sample's manifest rows (digest, label, source, locator) in manifest order (see ``sample_manifest``)."""
    return sample_manifest(manifest, cap, max_total).table


@dataclass
class ManifestSample:
    """The profile sample as chosen from a manifest."""

    rows: np.ndarray  # (m,) int64 manifest row indexes, ascending (-1: chosen from a hashing pool, no row known)
    table: pa.Table  # the rows' digest, label, source and locator, in manifest order
    copies: np.ndarray  # (m,) int64: manifest rows carrying each sampled record's digest and label (>= 1)


_SAMPLE_COLUMNS = ["digest", "label", "source", "locator"]


def sample_manifest(
    manifest: Manifest,
    cap: int = DEFAULT_MAX_PER_CLASS,
    max_total: int | None = DEFAULT_MAX_TOTAL,
    salt: bytes | None = None,
) -> ManifestSample:
    """The profile sample of ``manifest``: per label the ``cap`` distinct records with the smallest
    sample keys (``sample_key`` under ``salt``), and of those the ``max_total`` smallest.

    With a ``salt``, every row's key is computed in one streamed pass over the whole manifest
    (``_keyed_sample``); without, key order is the manifest's own digest order and the pass
    stops as soon as the sample is complete (``_digest_sample``).
    """
    if salt is not None:
        return _keyed_sample(manifest, cap, max_total, salt)
    return _digest_sample(manifest, cap, max_total)


def _digest_sample(manifest: Manifest, cap: int, max_total: int | None) -> ManifestSample:
    """The profile sample of ``manifest`` in one streamed pass that stops when the sample is complete.

    Per label the first ``cap`` distinct records, and of those the ``max_total`` with the
    smallest digests (None: no total bound). Only four columns are read, one row group at
    a time (``Manifest.iter_batches``), so a large file-backed manifest is never loaded
    whole. Rows arrive in digest order and whether a row is chosen depends only on the
    rows before it, so the first ``max_total`` chosen rows *are* the sample: the pass
    stops there (and reads on only while the last sampled record's copies continue),
    which makes it cost O(sample), not O(manifest), on balanced data. Each sampled
    record's copies (the base's own repeat count, which the duplicates detector judges a
    delta's copies against) are the length of its run of equal (digest, label) rows,
    counted in the same pass.
    """
    label_index: dict[str, int] = {}
    taken = np.zeros(0, dtype=np.int64)
    previous: tuple[np.bytes_, int] | None = None
    rows: list[np.ndarray] = []
    parts: list[pa.Table] = []
    copies: list[np.ndarray] = []
    open_run = False  # the last run seen so far holds a sampled record and may continue
    total, start = 0, 0
    for batch in manifest.iter_batches(_SAMPLE_COLUMNS):
        n = batch.num_rows
        if n == 0:
            continue
        d, codes, run_starts = _runs(batch, label_index, previous)
        first_end = int(run_starts[0]) if len(run_starts) else n  # rows before it continue the previous run
        if open_run and first_end:
            copies[-1][-1] += first_end
        if max_total is not None and total >= max_total:
            if first_end < n:
                break  # the last sampled record's run has ended: the sample is complete
            continue
        taken = np.concatenate([taken, np.zeros(len(label_index) - len(taken), dtype=np.int64)])
        dd, cc = d, codes
        if previous is not None:
            # The previous batch's last row goes first again, so copies of it that continue
            # here are seen as copies; it was counted there, so it is not counted twice.
            dd = np.concatenate([np.array([previous[0]], dtype="S32"), d])
            cc = np.concatenate([[previous[1]], codes])
            taken[previous[1]] -= 1
        previous = (d[-1], int(codes[-1]))
        chosen = np.sort(first_per_class(dd, cc, len(label_index), cap, taken=taken))
        if len(dd) > n:
            chosen = chosen[chosen > 0] - 1
        if max_total is not None:
            chosen = chosen[: max_total - total]
        run_lengths = np.diff(np.append(run_starts, n))
        if len(run_starts):  # else the whole batch continues the previous run, open or not
            open_run = bool(len(chosen)) and bool(chosen[-1] == run_starts[-1])
        if len(chosen):
            rows.append(chosen + start)
            parts.append(pa.Table.from_batches([batch]).take(pa.array(chosen)))
            # every chosen row starts a run (a copy of the row before it is never chosen)
            copies.append(run_lengths[np.searchsorted(run_starts, chosen)].astype(np.int64))
        total += len(chosen)
        start += n
        if max_total is not None and total >= max_total and not open_run:
            break
    picked = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    schema = pa.schema([SCHEMA.field(name) for name in _SAMPLE_COLUMNS])
    table = pa.concat_tables(parts).cast(schema) if parts else schema.empty_table()
    counts = np.concatenate(copies) if copies else np.zeros(0, dtype=np.int64)
    return ManifestSample(picked.astype(np.int64), table, counts)


def _runs(
    batch: pa.RecordBatch, label_index: dict[str, int], previous: tuple[np.bytes_, int] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A manifest batch's digests (``S32``), label codes (``label_index``, grown in place) and the rows where
    its runs of equal (digest, label) start; its first row starts none when it continues ``previous``, the
    last row of the batch before."""
    n = batch.num_rows
    digests = batch.column("digest")
    d = np.frombuffer(digests.buffers()[1], dtype="S32", count=n, offset=digests.offset * 32)
    labels = pc.dictionary_encode(batch.column("label"))
    to_global = np.array(
        [label_index.setdefault(name, len(label_index)) for name in labels.dictionary.to_pylist()], dtype=np.int64
    )
    codes = to_global[labels.indices.to_numpy(zero_copy_only=False)]
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (d[1:] != d[:-1]) | (codes[1:] != codes[:-1])
    if previous is not None:
        new_run[0] = bool(d[0] != previous[0] or codes[0] != previous[1])
    return d, codes, np.flatnonzero(new_run)


def _keyed_sample(manifest: Manifest, cap: int, max_total: int | None, salt: bytes) -> ManifestSample:
    """``sample_manifest`` under a salt: one streamed pass over every row, keeping a pool of the records
    that can still enter the sample (a record left out once never enters later: more rows only bring
    smaller keys that push others out), pruned after each batch, with each pooled record's copies
    counted as the length of its run of equal (digest, label) rows."""
    label_index: dict[str, int] = {}
    keys = np.zeros(0, dtype=np.uint64)
    digests = np.zeros(0, dtype="S32")
    codes = np.zeros(0, dtype=np.int64)
    rows = np.zeros(0, dtype=np.int64)
    copies = np.zeros(0, dtype=np.int64)
    kept_rows: list[np.ndarray] = []  # global rows of the pooled records, batch by batch
    kept_parts: list[pa.Table] = []  # their digest, label, source and locator
    total_limit = np.iinfo(np.uint64).max
    class_limit = np.zeros(0, dtype=np.uint64)
    previous: tuple[np.bytes_, int] | None = None
    open_start = -1  # global row where the last run seen began
    start = 0
    for batch in manifest.iter_batches(_SAMPLE_COLUMNS):
        n = batch.num_rows
        if n == 0:
            continue
        d, c, starts = _runs(batch, label_index, previous)
        grown = len(label_index) - len(class_limit)
        if grown:
            class_limit = np.concatenate([class_limit, np.full(grown, np.iinfo(np.uint64).max, dtype=np.uint64)])
        first_end = int(starts[0]) if len(starts) else n  # rows continuing the previous batch's last run
        if first_end:
            copies[rows == open_start] += first_end
        previous = (d[-1], int(c[-1]))
        if len(starts):
            open_start = start + int(starts[-1])
        lengths = np.diff(np.append(starts, n))
        k = sample_key(d[starts], salt)
        eligible = (k <= total_limit) & (k <= class_limit[c[starts]])
        local = starts[eligible]
        keys = np.concatenate([keys, k[eligible]])
        digests = np.concatenate([digests, d[local]])
        codes = np.concatenate([codes, c[local]])
        rows = np.concatenate([rows, local + start])
        copies = np.concatenate([copies, lengths[eligible]])
        order = key_order(keys, digests, codes)
        chosen = order[first_per_class(digests[order], codes[order], len(label_index), cap, max_total)]
        chosen.sort()
        keys, digests, codes, rows, copies = keys[chosen], digests[chosen], codes[chosen], rows[chosen], copies[chosen]
        from_batch = rows[rows >= start] - start
        if len(from_batch):
            kept_rows.append(from_batch + start)
            kept_parts.append(pa.Table.from_batches([batch]).take(pa.array(from_batch)))
        if max_total is not None and len(keys) >= max_total:
            total_limit = keys.max()
        counts = np.bincount(codes, minlength=len(label_index))
        for full in np.flatnonzero(counts >= cap):  # a full class: only smaller keys can still enter it
            class_limit[full] = keys[codes == full].max()
        start += n
    schema = pa.schema([SCHEMA.field(name) for name in _SAMPLE_COLUMNS])
    if not len(rows):
        return ManifestSample(np.zeros(0, dtype=np.int64), schema.empty_table(), np.zeros(0, dtype=np.int64))
    every = np.concatenate(kept_rows)
    table = pa.concat_tables(kept_parts).take(pa.array(np.searchsorted(every, rows))).cast(schema)
    return ManifestSample(rows.astype(np.int64), table, copies.astype(np.int64))
