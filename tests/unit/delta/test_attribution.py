"""``delta.attribution``: a manifest stream's missing sources filled from the lineage object row by
row, whatever the two files' batch boundaries, and how each name was learned."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.delta.attribution import attributed_batches, named_by, record_named_by
from provenance.errors import VerificationError

SOURCES = [None, "site", None, None, None, "site", None, None, None, None]  # the data's own column
LINEAGE = ["vendor", "scraper", "scraper", None, "vendor", "vendor", "crowd", "scraper", None, "vendor"]
STATUS = ["attested", "unattributed", "unattributed", "unattributed", "relabeled_after_source"] + [
    "attested",
    "unattributed",
    "unattributed",
    "unattributed",
    "unattributed",
]


def manifest_batches(sizes, sources):
    def stream():
        at = 0
        for n in sizes:
            part = sources[at : at + n]
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([bytes([i]) * 32 for i in range(at, at + n)], pa.binary(32)),
                    pa.array(["0"] * n),
                    pa.array(part, pa.string()).dictionary_encode(),
                ],
                ["digest", "label", "source"],
            )
            at += n

    return stream


@pytest.mark.parametrize("sizes,row_group", [((3, 5, 2), 4), ((10,), 3), ((1,) * 10, 7)])
def test_sources_are_filled_row_by_row_across_batch_boundaries(tmp_path, sizes, row_group):
    path = tmp_path / "lineage.parquet"
    pq.write_table(pa.table({"source": LINEAGE, "status": STATUS}), path, row_group_size=row_group)
    origins: dict[str, set[str]] = {}
    stream = attributed_batches(
        manifest_batches(sizes, SOURCES),
        lambda: pq.ParquetFile(path, read_dictionary=["source", "status"]),
        origins,
        "lineage",
    )
    batches = list(stream())
    assert [b.num_rows for b in batches] == list(sizes)
    got = [v for b in batches for v in pc_strings(b.column("source"))]
    assert got == [s if s is not None else l for s, l in zip(SOURCES, LINEAGE)]
    # vendor: attested (signed) rows and a relabeled-after-source row; row 5 is "site" from the column
    assert origins == {
        "site": {"source column"},
        "vendor": {"signed batch", "unsigned batch"},
        "scraper": {"unsigned batch"},
        "crowd": {"unsigned batch"},
    }
    assert named_by("vendor", origins) == ["signed batch", "unsigned batch"] and named_by(None, origins) == []
    assert named_by("elsewhere", origins) == ["source column"]  # a name nothing else explains came from the data
    assert record_named_by("vendor", "attested", ["signed batch", "unsigned batch"]) == "signed batch"
    assert record_named_by("vendor", "unattributed", ["signed batch", "unsigned batch"]) == "unsigned batch"
    assert record_named_by("site", "unattributed", ["source column"]) == "source column"


def pc_strings(column: pa.Array) -> list:
    return column.cast(pa.string()).to_pylist() if pa.types.is_dictionary(column.type) else column.to_pylist()


def test_a_lineage_object_shorter_than_the_manifest_is_refused(tmp_path):
    path = tmp_path / "lineage.parquet"
    pq.write_table(pa.table({"source": LINEAGE[:6], "status": STATUS[:6]}), path)
    stream = attributed_batches(manifest_batches((10,), SOURCES), lambda: pq.ParquetFile(path), {}, "lineage of v2")
    with pytest.raises(VerificationError, match="lineage of v2: holds fewer rows than the manifest"):
        list(stream())
