"""The base's within-pseudo-batch repetition, recomputed at check time from its signed manifest.

The copies rule (``gate.copies``) and the per-record copy test of ``detectors.extreme``
(``detectors.duplicates``) judge a delivery's copies against how much the base's own file-order
pseudo-batches repeat records (``profiles.batch_copies``). Commit computes that statistic from the
manifest and keeps it in the reference profile, but a profile's arrays are a fact only a commit key
vouches for: whoever holds a stolen one could sign any arrays the caps allow and widen the copies
allowance of every later check against that base (session 24). So a check never reads them: it
counts again from the base version's manifest object, whose SHA-256 the version's verified statement
names (``version_facts.verified_statement``) and whose bytes are hashed as they are read
(``delta.signed_objects.ManifestObject``). Two columns are streamed: ``digest`` (under the Merkle
root too) and ``locator`` (the row's place in the data, which gives its file order and pseudo-batch:
not under the Merkle root, which leaves the order out by design, but under the signed manifest digest).

The profile still keeps its arrays, for people and other tools; a check compares them with the count
(``signed_clumping_differs``) and says so when they differ, never relying on them.

What this does not close: the locator column is signed by the same commit key, and ``prov verify`` does not
compare it with the data (order is not signed: rows reordered are the same version, README). A stolen key
can re-sign the base with its rows' locators permuted; the count then shows the clumping of that order,
which some order of the base's real rows must give (a base with no repeated record shows none), within the
caps, instead of any arrays the caps allow.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import TYPE_CHECKING

import numpy as np

from provenance.profiles.batch_copies import COPY_PSEUDO_BATCHES, BatchCopies, manifest_batch_copies

if TYPE_CHECKING:
    from provenance.profiles.reference import ReferenceProfile
    from provenance.store.store import Store

_COUNTED: weakref.WeakKeyDictionary[Store, dict[tuple[str, int], BatchCopies | None]] = weakref.WeakKeyDictionary()
"""Per open store, counts by (manifest object SHA-256, pseudo-batches): a pure function of bytes that were hashed
to that digest when counted, so a check that asks twice (the copies rule, then the detectors) streams the
manifest once; another handle on the store (the next command) hashes the object again."""

READ_ROWS = 1 << 16  # rows per record batch streamed: two columns, ~3 MB at a time


def version_clumping(store: Store, tag: str) -> BatchCopies | None:
    """``BatchCopies`` of version ``tag``'s every row, counted from its signed manifest object (module docstring);
    None for an empty version.

    Raises ``InputError`` (exit 2) for an unknown version and ``VerificationError`` (exit 1) when its statement
    does not verify under the verifier's pins or its manifest object is missing, altered or not a manifest.
    """
    from provenance.delta.signed_objects import ManifestObject
    from provenance.version_facts import verified_statement

    row = store.version(tag)
    verified_statement(store, row)  # the row's manifest object is the one the version signed
    key = (row["manifest_object"], COPY_PSEUDO_BATCHES)
    manifest = ManifestObject(store, row)
    counts = _COUNTED.setdefault(store, {})
    if key in counts:
        manifest.present()  # counted from these signed bytes already; still there, as a merge would find them
        return counts[key]
    try:
        parquet = manifest.opened()  # hashed against the signed digest first, read from the very file hashed
        counted = manifest_batch_copies(
            lambda: parquet.iter_batches(batch_size=READ_ROWS, columns=["digest", "locator"], use_threads=False),
            int(row["records"]),
            COPY_PSEUDO_BATCHES,
        )
    finally:
        manifest.close()
    counts[key] = counted
    return counted


def with_version_clumping(store: Store, tag: str, profile: ReferenceProfile, needed: bool = True) -> ReferenceProfile:
    """``profile`` (version ``tag``'s, as ``profiles.loading.load_profile`` read it) with its within-pseudo-batch
    arrays replaced by ``version_clumping``'s count, so detectors read only that; with ``needed`` False (a delta
    without copies: only the copy test reads them) left out instead, and the manifest not read. Raises as
    ``version_clumping``."""
    counted = version_clumping(store, tag) if needed else None
    return dataclasses.replace(
        profile,
        batch_rows=None if counted is None else counted.rows,
        batch_copies=None if counted is None else counted.copies,
        batch_most_copies=None if counted is None else counted.most,
    )


def signed_clumping_differs(signed: BatchCopies | None, counted: BatchCopies | None) -> bool:
    """Whether a profile's signed arrays (``ReferenceProfile.within_batch_copies``) differ from the count of its
    manifest. False when the profile keeps none (written before session 23) or counted another number of
    pseudo-batches (another prov's parameter: not comparable, and not relied on either way)."""
    if signed is None or counted is None or len(signed.rows) != len(counted.rows):
        return False
    return not (
        np.array_equal(signed.rows, counted.rows)
        and np.array_equal(signed.copies, counted.copies)
        and np.array_equal(signed.most, counted.most)
    )
