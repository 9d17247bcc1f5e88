"""The delta's rows taken from the merge equal the rows read from both whole manifests."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.delta import signed_objects
from provenance.delta.compare import diff_versions
from provenance.detectors.pipeline import delta_records
from provenance.sources.interface import DatasetSpec, TableOptions
from provenance.versions import commit
from support import digits_table


@pytest.mark.parametrize("batch_rows", [None, 16])
def test_rows_from_the_merge_equal_the_whole_manifest_reference(workdir, store, keypair, monkeypatch, batch_rows):
    """With copies (a record carried twice) and without; ``batch_rows``: the manifest read in batches that
    small, so the rows wanted fall in many batches (``ManifestObject.take``)."""
    monkeypatch.setenv("PROV_WORKERS", "1")
    if batch_rows:
        monkeypatch.setattr(signed_objects, "WINDOW_ROWS", batch_rows)
    full = digits_table(400)
    pq.write_table(full.slice(0, 250), workdir / "v1.parquet", row_group_size=64)
    labels = full.column("label").to_pylist()
    for i in (20, 21, 22):  # relabeled
        labels[i] = str((int(labels[i]) + 1) % 10)
    new = full.set_column(full.schema.get_field_index("label"), "label", pa.array(labels))
    extra = pa.concat_tables(
        [
            new.slice(300, 1),  # an added record carried twice
            new.slice(310, 1).set_column(new.schema.get_field_index("label"), "label", pa.array(["x"])),
            new.slice(21, 1),  # a relabeled record carried twice
            new.slice(40, 1),  # a base record carried twice: copied
        ]
    )
    pq.write_table(pa.concat_tables([new.slice(10, 390), extra]), workdir / "v2.parquet", row_group_size=50)
    for tag in ("v1", "v2"):
        commit(store, DatasetSpec(str(workdir / f"{tag}.parquet")), tag, str(keypair.private_path))
    report = diff_versions(store, "v1", "v2")
    rows = report.delta["rows"]()
    reference = delta_records(
        store, "v1", "v2", report.delta["added"], report.delta["relabeled"], report.delta["copies"]
    )
    assert rows == reference
    assert rows.kinds.count("relabeled") == 3 and rows.kinds.count("added") == 151
    assert rows.kinds.count("copied") == 1  # a base record carried twice in v2
    assert sum(rows.extra_copies) == 4 and {o for o, k in zip(rows.old_labels, rows.kinds) if k == "added"} == {None}
    # no record carried twice: each digest is one row (the rows are kept as read, in one pass)
    pq.write_table(new.slice(10, 390), workdir / "v3.parquet", row_group_size=50)
    commit(store, DatasetSpec(str(workdir / "v3.parquet")), "v3", str(keypair.private_path))
    report = diff_versions(store, "v1", "v3")
    rows = report.delta["rows"]()
    assert rows == delta_records(store, "v1", "v3", report.delta["added"], report.delta["relabeled"])
    assert rows.kinds.count("relabeled") == 3 and rows.kinds.count("added") == 150 and not any(rows.extra_copies)
    assert sorted(o for o, k in zip(rows.old_labels, rows.kinds) if k == "relabeled") == sorted(
        full.column("label")[i].as_py() for i in (20, 21, 22)
    )


def test_reading_the_delta_rows_first_changes_no_byte_of_the_report(workdir, store, keypair, monkeypatch):
    """``diff_versions(detect=True)`` reads the delta's rows first and takes the listed records'
    locators and batches from that read (``rows.RowMemo``; a listed record outside the delta, here
    one whose source changed, is read from the manifest): the rows, the report (locators and
    batches of listed records of both sides) and the flagged records' descriptions are those of
    the lazy path, and the rows equal the whole-manifest reference."""
    monkeypatch.setenv("PROV_WORKERS", "1")
    full = digits_table(600)
    full = full.append_column("source", pa.array(["vendor"] * 600))
    pq.write_table(full.slice(0, 400), workdir / "v1.parquet", row_group_size=64)
    labels, sources = full.column("label").to_pylist(), full.column("source").to_pylist()
    for i in range(30, 90, 3):  # relabels spread over the table
        labels[i] = str((int(labels[i]) + 1) % 10)
    for i in range(200, 260, 4):  # the same records from another source: listed, not in the delta
        sources[i] = "crowd"
    new = full.set_column(full.schema.get_field_index("label"), "label", pa.array(labels))
    new = new.set_column(new.schema.get_field_index("source"), "source", pa.array(sources))
    extra = pa.concat_tables([new.slice(450, 2), new.slice(31, 1), new.slice(100, 1)])  # copies: added, relabeled, base
    pq.write_table(pa.concat_tables([new.slice(20, 580), extra]), workdir / "v2.parquet", row_group_size=50)
    options = TableOptions(source_column="source")
    for tag in ("v1", "v2"):
        commit(store, DatasetSpec(str(workdir / f"{tag}.parquet"), options=options), tag, str(keypair.private_path))
    for limit in (1000, 7):  # every record listed, or a few
        lazy = diff_versions(store, "v1", "v2", limit=limit)
        first = diff_versions(store, "v1", "v2", limit=limit, detect=True)
        rows = first.delta["rows"]()
        assert rows == lazy.delta["rows"]()
        assert rows == delta_records(
            store, "v1", "v2", first.delta["added"], first.delta["relabeled"], first.delta["copies"]
        )
        assert first.to_dict() == lazy.to_dict()
        assert first.summary["source_changed"] == 15
        listed = [item for kind in first.changes.values() if isinstance(kind, list) for item in kind]
        assert listed and all(item["locator"] is not None for item in listed)
        digests = [d.hex() for d in rows.digests]
        assert first.records.describe(digests, digests) == lazy.records.describe(digests, digests)
