"""The manifest matcher: a record passes only if the signed manifest lists it, with its label and source, as often."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from provenance.errors import VerificationError
from provenance.loader.matcher import ManifestMatcher
from provenance.manifest import Manifest


def _digest(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest()


def _manifest(rows):
    """rows: (record number, label, source)."""
    return Manifest.build(
        [_digest(i) for i, _, _ in rows],
        [label for _, label, _ in rows],
        [str(n) for n in range(len(rows))],
        [source for _, _, source in rows],
    )


def _check(matcher, rows):
    digests = b"".join(_digest(i) for i, _, _ in rows)
    labels = pa.array([label for _, label, _ in rows], pa.string())
    sources = pa.array([source for _, _, source in rows], pa.string())
    matcher.check(digests, labels, sources, lambda i: f"data.parquet#{i}")


SIGNED = [(i, str(i % 3), "vendor" if i % 2 else None) for i in range(50)]


def test_the_signed_records_pass_in_any_order_and_batching():
    matcher = ManifestMatcher(_manifest(SIGNED), "version v1")
    shuffled = SIGNED[::-1]
    _check(matcher, shuffled[:7])
    _check(matcher, shuffled[7:])
    matcher.finish()
    assert matcher.matched == 50


def test_a_record_the_manifest_does_not_list_is_refused():
    matcher = ManifestMatcher(_manifest(SIGNED), "version v1")
    with pytest.raises(
        VerificationError, match=r"data.parquet#1: record [0-9a-f]{12} is not in the signed manifest of version v1"
    ):
        _check(matcher, [SIGNED[0], (999, "0", None)])


def test_a_relabel_is_refused_naming_both_labels():
    matcher = ManifestMatcher(_manifest(SIGNED), "version v1")
    with pytest.raises(VerificationError, match=r"data.parquet#0: record .* has label '2', signed as '1' \(relabeled"):
        _check(matcher, [(1, "2", "vendor")])


def test_another_source_is_refused():
    matcher = ManifestMatcher(_manifest(SIGNED), "version v1")
    with pytest.raises(VerificationError, match=r"has source 'crowd', signed as 'vendor'"):
        _check(matcher, [(1, "1", "crowd")])


def test_an_extra_copy_is_refused_in_one_batch_and_across_batches():
    matcher = ManifestMatcher(_manifest(SIGNED), "version v1")
    with pytest.raises(VerificationError, match="read more times than the signed manifest"):
        _check(matcher, [SIGNED[4], SIGNED[4]])
    matcher = ManifestMatcher(_manifest(SIGNED), "version v1")
    _check(matcher, [SIGNED[4]])
    with pytest.raises(VerificationError, match="read more times than the signed manifest"):
        _check(matcher, [SIGNED[4]])


def test_listed_copies_and_conflicting_labels_pass_as_often_as_listed():
    rows = [*SIGNED, SIGNED[3], (5, "0", "vendor")]  # a copy of record 3; record 5 also signed with label 0
    matcher = ManifestMatcher(_manifest(rows), "version v1")
    _check(matcher, [(5, "0", "vendor"), SIGNED[3]])
    _check(matcher, [*SIGNED])
    matcher.finish()
    matcher = ManifestMatcher(_manifest(rows), "version v1")
    _check(matcher, [*SIGNED, SIGNED[3]])
    with pytest.raises(VerificationError, match="read more times"):
        _check(matcher, [SIGNED[3]])
    matcher = ManifestMatcher(_manifest(rows), "version v1")
    with pytest.raises(VerificationError, match=r"has label '2', signed as '0'"):
        _check(matcher, [*SIGNED, (5, "2", "vendor")])


def test_a_missing_record_is_named_at_the_end():
    matcher = ManifestMatcher(_manifest(SIGNED), "version v1")
    _check(matcher, SIGNED[:-1])
    with pytest.raises(
        VerificationError, match=r"version v1: 1 signed record\(s\) are missing from the data .*signed at \d+"
    ):
        matcher.finish()


def test_digests_ending_in_zero_bytes_are_matched_on_all_32_bytes():
    a = b"\x01" * 31 + b"\x00"
    b = b"\x01" * 31 + b"\x02"
    manifest = Manifest.build([a, b], ["x", "y"], ["0", "1"])
    matcher = ManifestMatcher(manifest, "version v1")
    matcher.check(b + a, pa.array(["y", "x"]), pa.nulls(2, pa.string()), str)
    matcher.finish()


def test_locate_gives_exactly_the_full_digest_binary_search():
    """The prefix search against the reference (``np.searchsorted`` on the whole 32-byte digests), with
    copies, digests sharing their first 8 bytes (above, below and between the signed ones) and absent ones."""
    import numpy as np

    rng = np.random.default_rng(5)
    base = [rng.bytes(32) for _ in range(200)]
    shared = [base[3][:8] + rng.bytes(24) for _ in range(4)] + [base[7][:8] + b"\x00" * 24, base[7][:8] + b"\xff" * 24]
    signed = base + shared + [base[10], base[10], base[11]]  # copies
    m = ManifestMatcher(Manifest.build(signed, ["0"] * len(signed), [str(i) for i in range(len(signed))]), "v1")
    probes = signed + [rng.bytes(32) for _ in range(50)] + [base[3][:8] + rng.bytes(24) for _ in range(20)]
    probes += [base[7][:8] + b"\x00" * 23 + b"\x01", base[7][:8] + b"\x00" * 24, b"\x00" * 32, b"\xff" * 32]
    probes += [b[:8] + bytes(24) for b in base[:20]] + [
        b[:8] + b"\xff" * 24 for b in base[:20]
    ]  # one entry, either side
    got = np.frombuffer(b"".join(probes), dtype="S32")
    reference = np.frombuffer(b"".join(sorted(signed)), dtype="S32")  # the manifest's order
    left, right = m.locate(got)
    assert np.array_equal(left, np.searchsorted(reference, got, side="left"))
    assert np.array_equal(right, np.searchsorted(reference, got, side="right"))
    assert (right - left > 0).sum() == sum(p in set(signed) for p in probes) and (right - left > 1).sum() == 5
    empty = ManifestMatcher(Manifest.build([], [], []), "v0")
    assert [a.tolist() for a in empty.locate(got[:3])] == [[0, 0, 0], [0, 0, 0]]
