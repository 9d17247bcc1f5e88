"""Lineage classification: the best evidence wins, every record gets exactly one status."""

from __future__ import annotations

import hashlib

import pyarrow as pa

from provenance.lineage.classify import ATTESTED, RELABELED, UNATTRIBUTED, classify, counts
from provenance.manifest import Manifest


def d(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def batches(rows: list[tuple[str, str, str, str, bool]]) -> pa.Table:
    """(digest name, label, batch, source, signed) in registration order."""
    return pa.table(
        {
            "digest": pa.array([d(r[0]) for r in rows], pa.binary(32)),
            "batch_label": pa.array([r[1] for r in rows], pa.string()),
            "batch": pa.array([r[2] for r in rows], pa.string()),
            "source": pa.array([r[3] for r in rows], pa.string()),
            "signed": pa.array([r[4] for r in rows], pa.bool_()),
            "rank": pa.array(list(range(len(rows))), pa.int64()),
        }
    )


def manifest(rows: list[tuple[str, str]]) -> Manifest:
    return Manifest.build([d(n) for n, _ in rows], [label for _, label in rows], [str(i) for i in range(len(rows))])


def by_digest(table: pa.Table) -> dict[bytes, dict]:
    return {r["digest"]: r for r in table.to_pylist()}


def test_statuses_and_best_evidence():
    m = manifest([("a", "cat"), ("b", "dog"), ("c", "cat"), ("e", "cat"), ("f", "dog")])
    b = batches(
        [
            ("a", "cat", "v@1", "vendor", True),  # attested
            ("b", "cat", "v@1", "vendor", True),  # relabeled after source (signed cat, now dog)
            ("c", "cat", "crowd@1", "crowd", False),  # unsigned batch: unattributed, source kept
            ("f", "cat", "v@1", "vendor", True),  # signed cat ...
            ("f", "dog", "w@2", "other", True),  # ... and signed dog elsewhere: attested by the match
        ]
    )
    out = classify(m, b)
    assert out.num_rows == len(m) and out.column("digest").to_pylist() == m.digests
    rows = by_digest(out)
    assert (rows[d("a")]["status"], rows[d("a")]["signed_label"]) == (ATTESTED, "cat")
    assert (rows[d("b")]["status"], rows[d("b")]["signed_label"], rows[d("b")]["source"]) == (
        RELABELED,
        "cat",
        "vendor",
    )
    assert (rows[d("c")]["status"], rows[d("c")]["source"], rows[d("c")]["signed_label"]) == (
        UNATTRIBUTED,
        "crowd",
        None,
    )
    assert (rows[d("e")]["status"], rows[d("e")]["source"], rows[d("e")]["batch"]) == (UNATTRIBUTED, None, None)
    assert (rows[d("f")]["status"], rows[d("f")]["batch"]) == (ATTESTED, "w@2")
    assert counts(out) == {ATTESTED: 2, RELABELED: 1, UNATTRIBUTED: 2}


def test_ties_go_to_the_batch_registered_first_and_signed_beats_unsigned():
    m = manifest([("a", "cat"), ("b", "cat")])
    b = batches(
        [
            ("a", "cat", "crowd@1", "crowd", False),
            ("a", "cat", "v@1", "vendor", True),
            ("a", "cat", "v@2", "vendor", True),
            ("b", "cat", "crowd@1", "crowd", False),
            ("b", "dog", "v@1", "vendor", True),
        ]
    )
    rows = by_digest(classify(m, b))
    assert rows[d("a")]["batch"] == "v@1" and rows[d("a")]["status"] == ATTESTED
    assert rows[d("b")]["status"] == RELABELED and rows[d("b")]["signed_label"] == "dog"


def test_duplicate_records_each_get_a_row():
    m = manifest([("a", "cat"), ("a", "dog"), ("a", "cat")])
    out = classify(m, batches([("a", "cat", "v@1", "vendor", True)]))
    assert out.num_rows == 3
    assert sorted(out.column("status").to_pylist()) == sorted([ATTESTED, ATTESTED, RELABELED])


def test_no_batches_and_empty_manifest():
    empty = batches([])
    m = manifest([("a", "cat")])
    assert classify(m, empty).column("status").to_pylist() == [UNATTRIBUTED]
    assert classify(manifest([]), empty).num_rows == 0
