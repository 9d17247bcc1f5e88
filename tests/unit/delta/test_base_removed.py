"""The base rows a diff found removed (``delta.base_removed``), kept for the gate to pair edits with: every copy of
each record the new version lacks, read from the base's verified manifest, on a real store, key and Parquet."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance import versions
from provenance.delta.compare import diff_versions
from provenance.sources.interface import DatasetSpec
from provenance.version_facts import load_manifest
from support import digits_table


def test_every_copy_of_each_removed_record_is_kept_with_its_row_of_the_base(store, keypair, pins, workdir):
    table = digits_table(80)
    copies = pa.concat_tables([table, table.slice(10, 3), table.slice(10, 1)])  # row 10 three times, 11-12 twice
    pq.write_table(copies, workdir / "base.parquet")
    pq.write_table(table.slice(12), workdir / "new.parquet")  # rows 0-11 gone: with them every copy of 10 and 11
    for tag, name in (("v1", "base.parquet"), ("v2", "new.parquet")):
        versions.commit(store, DatasetSpec(str(workdir / name)), tag, keypair.private_path, stages=[])
    store.pins = pins

    removed = diff_versions(store, "v1", "v2", signed_delta=False).delta["base_removed"]
    found = removed.columns(["digest", "label", "locator"])

    base = load_manifest(store, store.version("v1")).table
    kept = pc.is_in(base.column("digest"), value_set=load_manifest(store, store.version("v2")).table.column("digest"))
    gone = base.filter(pc.invert(kept))
    assert found == {c: gone.column(c).to_pylist() for c in ("digest", "label", "locator")}
    assert sorted(found["locator"], key=int) == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "80",
                                                 "81", "83"]  # fmt: skip
    assert removed.rows.tolist() == sorted(removed.rows.tolist()) and len(set(removed.rows.tolist())) == 15


def test_a_diff_read_from_the_signed_delta_keeps_none(store, keypair, workdir):
    pq.write_table(digits_table(40), workdir / "base.parquet")
    pq.write_table(digits_table(30), workdir / "new.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "base.parquet")), "v1", keypair.private_path, stages=[])
    versions.commit(store, DatasetSpec(str(workdir / "new.parquet")), "v2", keypair.private_path, parent="v1")
    assert diff_versions(store, "v1", "v2").delta["base_removed"] is None  # the gate merges: it always has them
