"""The delta's rows taken from the merge equal the rows read from both whole manifests."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.delta.compare import diff_versions
from provenance.detectors.pipeline import delta_records
from provenance.sources.interface import DatasetSpec
from provenance.versions import commit
from support import digits_table


def test_rows_from_the_merge_equal_the_whole_manifest_reference(workdir, store, keypair, monkeypatch):
    monkeypatch.setenv("PROV_WORKERS", "1")
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
