"""Checking records read now against a version's signed manifest, batch by batch.

The manifest is sorted by digest (``manifest.py``), so each record read is found by binary
search on its 32-byte content digest. A record passes only if the manifest lists its
digest with the same label and source, and it may pass as many times as the manifest
lists it (a dataset may hold copies of one record). At the end every listed record must
have been read once: the data a trainer saw is then, as a multiset of (content, label,
source), exactly what was signed, whatever order or file it came in (the same equivalence
as the Merkle root's).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.errors import VerificationError
from provenance.manifest import Manifest, digest_matrix, digest_prefixes
from provenance.names import short_digest

Where = Callable[[int], str]
"""Names the ``i``-th record of a batch for messages (``data/part-0.parquet#17``, ``cat/1.png``)."""


def _short(digest: bytes) -> str:
    """The short form of a digest taken from an ``S32`` array (numpy drops trailing zero bytes)."""
    return short_digest(bytes(digest).ljust(32, b"\x00").hex())


def _same(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Element-wise equality where two nulls are equal (a record with no source matches an entry with none)."""
    equal = pc.fill_null(pc.equal(a, b), False)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return np.asarray(pc.or_(equal, both_null).to_numpy(zero_copy_only=False), dtype=bool)


def restore_step(version: str) -> str:
    """What a job refused because ``version``'s data changed since it was signed does next (newcomer review 32:
    a job trained on a release whose working file had moved on was told only that it changed): restore the data
    that release signed, keep each release's data readable, and where every changed record is listed."""
    return (
        f"next: restore the data {version} signed (from git, DVC or a backup) and load again; a release loads only "
        f"while its data stays as signed, so keep each release's data (one file per release, or DVC/git); every "
        f"record that changed: prov verify {shlex.quote(version)} --json"
    )


class ManifestMatcher:
    """Matches records read now against the signed manifest of one version.

    ``name`` names the version in messages, ``shown`` a signed locator (default: as it is).
    :meth:`check` takes one batch of records;
    :meth:`finish` says whether every listed record was read. Memory: the manifest's
    digest, label and source columns (about 50 bytes a record) and one flag per record.
    """

    def __init__(self, manifest: Manifest, name: str, shown: Callable[[str], str] = str):
        table = manifest.table
        self.name = name
        self.shown = shown  # a signed locator as messages show it (``reading.display_locator``)
        self._digests = digest_matrix(table.column("digest"))
        self._prefixes = np.append(
            digest_prefixes(self._digests), [0, 0]
        )  # two past the end: entries left and left + 1
        self._labels = table.column("label").combine_chunks()
        self._sources = table.column("source").combine_chunks()
        self._locators = table.column("locator")
        self._used = np.zeros(len(self._digests), dtype=bool)
        self.matched = 0

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, digests: bytes, labels: pa.Array, sources: pa.Array, where: Where) -> None:
        """Check one batch: ``digests`` (32 bytes a record, concatenated), their label texts and sources.

        Raises ``VerificationError`` (exit 1) naming the first record (``where(i)``) that
        the manifest does not list, lists with another label or source, or lists fewer
        times than it was read.
        """
        got = np.frombuffer(digests, dtype="S32")
        if len(got) == 0:
            return
        left, right = self.locate(got)
        absent = np.flatnonzero(left == right)
        if len(absent):
            i = int(absent[0])
            raise VerificationError(
                f"{where(i)}: record {_short(got[i])} is not in the signed manifest of {self.name} "
                f"({len(absent)} such record(s) in this batch); the data changed since it was signed"
            )
        single = right - left == 1
        rows = np.flatnonzero(single)
        if len(rows):
            self._check_unique(left[rows], rows, labels, sources, where, got)
        for i in np.flatnonzero(~single).tolist():  # a digest the manifest lists more than once
            self._check_repeated(int(left[i]), int(right[i]), i, labels, sources, where, got)
        self.matched += len(got)

    def locate(self, got: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each digest of ``got`` (``S32``) is in the sorted manifest: ``(left, right)``, exactly
        ``np.searchsorted(digests, got, side="left")`` and ``side="right"`` (``left == right``: not listed).

        Searched on the digests' first 8 bytes as big-endian integers (the same order, several times
        faster than comparing 32-byte strings), in sorted order; only where the manifest holds more than one entry with
        a prefix (copies, or a shared prefix) are the whole digests searched."""
        prefixes = digest_prefixes(got)
        n = len(self._digests)
        order = np.argsort(prefixes)  # sorted keys: each search starts where the last one ended (5x faster)
        left = np.empty(len(got), dtype=np.intp)
        left[order] = np.searchsorted(self._prefixes[:n], prefixes[order], side="left")
        right = left.copy()  # no entry with this prefix: the digest would go at ``left`` too
        at = (self._prefixes[left] == prefixes) & (left < n)
        after = (self._prefixes[left + 1] == prefixes) & (left + 1 < n)
        right[at] += 1
        right[at & after] += 1  # two or more: searched in full below
        one = np.flatnonzero(right - left == 1)
        if len(one):  # one entry with this prefix: the digest is it, or goes before or after it
            entry = self._digests[left[one]]
            mine = got[one]
            found, before = entry == mine, mine < entry
            left[one] = np.where(found | before, left[one], right[one])
            right[one] = np.where(found, right[one], left[one])
        many = np.flatnonzero(right - left > 1)
        if len(many):
            left[many] = np.searchsorted(self._digests, got[many], side="left")
            right[many] = np.searchsorted(self._digests, got[many], side="right")
        return left, right

    def _check_unique(self, entries, rows, labels, sources, where, got) -> None:
        taken = pa.array(rows)
        label_ok = _same(self._labels.take(pa.array(entries)), labels.take(taken))
        source_ok = _same(self._sources.take(pa.array(entries)), sources.take(taken))
        bad = np.flatnonzero(~(label_ok & source_ok))
        if len(bad):
            k = int(bad[0])
            self._refuse_entry(int(entries[k]), int(rows[k]), labels, sources, where, got)
        seen = self._used[entries]
        if seen.any() or len(np.unique(entries)) != len(entries):
            order = np.argsort(entries, kind="stable")
            repeats = np.flatnonzero(np.diff(entries[order]) == 0)
            k = int(np.flatnonzero(seen)[0]) if seen.any() else int(order[repeats[0] + 1])
            raise VerificationError(
                f"{where(int(rows[k]))}: record {_short(got[rows[k]])} is read more times than the signed "
                f"manifest of {self.name} lists it (a copy was added since it was signed)"
            )
        self._used[entries] = True

    def _check_repeated(self, start: int, stop: int, i: int, labels, sources, where, got) -> None:
        label, source = labels[i].as_py(), sources[i].as_py()
        for entry in range(start, stop):
            if self._used[entry]:
                continue
            if self._labels[entry].as_py() == label and self._sources[entry].as_py() == source:
                self._used[entry] = True
                return
        candidates = [e for e in range(start, stop) if not self._used[e]]
        if not candidates:
            raise VerificationError(
                f"{where(i)}: record {_short(got[i])} is read more times than the signed manifest of "
                f"{self.name} lists it (a copy was added since it was signed)"
            )
        self._refuse_entry(candidates[0], i, labels, sources, where, got)

    def _refuse_entry(self, entry: int, i: int, labels, sources, where, got) -> None:
        signed_label, signed_source = self._labels[entry].as_py(), self._sources[entry].as_py()
        label, source = labels[i].as_py(), sources[i].as_py()
        if label != signed_label:
            what = f"has label {label!r}, signed as {signed_label!r} (relabeled since it was signed)"
        else:
            what = f"has source {source!r}, signed as {signed_source!r}"
        raise VerificationError(f"{where(i)}: record {_short(got[i])} {what} in {self.name}")

    def finish(self) -> None:
        """Raise ``VerificationError`` if some record the manifest lists was not read (naming the first)."""
        missing = np.flatnonzero(~self._used)
        if len(missing):
            first = int(missing[0])
            locator = self._locators[first].as_py()
            raise VerificationError(
                f"{self.name}: {len(missing)} signed record(s) are missing from the data "
                f"(first: {_short(self._digests[first])}, signed at {self.shown(locator)}); the data changed since it was signed"
            )
