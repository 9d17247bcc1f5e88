"""Lineage classification: the best evidence wins, every record gets exactly one status."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.api import add
from provenance.executor import InlineExecutor
from provenance.lineage import layout
from provenance.lineage.classify import ATTESTED, RELABELED, UNATTRIBUTED, batch_records, classify, counts
from provenance.lineage.lineage_stage import LineageStage, iter_classified, lineage_memory, write_lineage
from provenance.manifest import Manifest
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.memory import MemoryLimitError
from provenance.stages import CommitJob
from support import digits_table, store_fingerprint


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


def reference_bytes(table: pa.Table, row_group: int | None = None, fmt: int = layout.FORMAT) -> bytes:
    """The lineage object of format ``fmt`` as one ``pq.write_table`` call writes it (format 1:
    how every lineage object was written before format 2; format 2: without the digest column,
    its format in the schema metadata)."""
    sink = io.BytesIO()
    if fmt == 1:
        pq.write_table(table, sink, compression="zstd", row_group_size=row_group)
    else:
        table = table.drop_columns(["digest"]).replace_schema_metadata({b"prov.lineage.format": b"2"})
        pq.write_table(table, sink, compression="zstd", write_statistics=False, row_group_size=row_group)
    return sink.getvalue()


def test_streamed_lineage_is_the_reference_classification_byte_for_byte(tmp_path):
    # runs of 3 manifest rows, row groups of 4: batch records fall inside runs, across
    # their edges and outside every run; a run with no batch record takes the shortcut
    names = [f"r{i}" for i in range(20)]
    m = manifest([(n, "cat" if i % 3 else "dog") for i, n in enumerate(names)])
    b = batches(
        [(n, "cat", "v@1", "vendor", True) for n in names[:12:2]]
        + [(n, "dog", "crowd@1", "crowd", False) for n in names[5:9]]
        + [("not in the version", "cat", "v@1", "vendor", True)]
    )
    ref = classify(m, b)
    for fmt in (1, 2):
        out = tmp_path / f"lineage-{fmt}.parquet"
        found = write_lineage(iter_classified(m, b, rows=3, digests=fmt == 1), str(out), row_group=4, fmt=fmt)
        assert found == counts(ref) and found[UNATTRIBUTED] and found[ATTESTED] and found[RELABELED]
        assert out.read_bytes() == reference_bytes(ref, row_group=4, fmt=fmt)
        assert pq.ParquetFile(out).metadata.num_row_groups == 5
        assert layout.object_format(pq.ParquetFile(out).schema_arrow, "lineage") == fmt


def test_streamed_lineage_of_no_records_and_of_no_batches(tmp_path):
    empty = batches([])
    for m in (manifest([]), manifest([("a", "cat"), ("b", "dog")])):
        for fmt in (1, 2):
            out = tmp_path / f"{len(m)}-{fmt}.parquet"
            # format 2 is written without digests: with no batch record the manifest's are not even read
            rows = iter_classified(m, empty, rows=1, digests=fmt == 1)
            assert write_lineage(rows, str(out), fmt=fmt) == counts(classify(m, empty))
            assert out.read_bytes() == reference_bytes(classify(m, empty), fmt=fmt)


def test_the_lineage_stage_refuses_past_the_memory_bound_before_reading_a_batch(workdir, store, keypair, monkeypatch):
    pq.write_table(digits_table(60), workdir / "batch.parquet")
    pq.write_table(digits_table(90), workdir / "data.parquet")
    add(store, workdir / "batch.parquet", source="crowd", unsigned=True)
    hashed = build_manifest(DatasetSpec(str(workdir / "data.parquet")), executor=InlineExecutor())
    job = CommitJob(store, "v1", hashed, DatasetSpec(str(workdir / "data.parquet")))
    need = lineage_memory(store, len(hashed.manifest))
    before = store_fingerprint(workdir / ".prov")
    monkeypatch.setenv("PROV_MEMORY_LIMIT", str(need - (1 << 20)))
    with pytest.raises(MemoryLimitError, match="lineage of 90 records.*PROV_MEMORY_LIMIT="):
        LineageStage().prepare(job)
    assert store_fingerprint(workdir / ".prov") == before
    monkeypatch.setenv("PROV_MEMORY_LIMIT", str(need))
    prepared = LineageStage().prepare(job)
    ref = classify(hashed.manifest, batch_records(store))
    assert prepared.counts == counts(ref) == {ATTESTED: 0, RELABELED: 0, UNATTRIBUTED: 90}  # an unsigned batch
    assert pq.ParquetFile(prepared.path).read().column("source").to_pylist().count("crowd") == 60
    assert Path(prepared.path).read_bytes() == reference_bytes(ref)
