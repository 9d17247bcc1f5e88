"""A training job asks where each record it loaded came from (newcomer review 5, item 9: ``record.source`` was None
for every record while every report named "vendor (signed batch)"): ``VerifiedDataset.lineage()`` in the trust
world (``support.build_trust_world``: v3 = 1000 base records + the vendor's 600 signed + 197 declared crowd)."""

from __future__ import annotations

import sqlite3

import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import InputError, VerificationError
from provenance.loader.dataset import VerifiedDataset
from provenance.loader.signed_version import open_signed_version


def _rows(contents) -> set[tuple]:
    return {tuple(sorted(c.items())) for c in contents}


def test_lineage_names_the_batch_source_reports_show_and_record_source_is_the_data_column(template_trust, workdir):
    data = prov.load("v3", store=prov.Store.open(str(workdir)), pins=prov.Pins.load(["maintainer.pub"]))
    records = list(data)
    assert {r.source for r in records} == {None}  # the data has no source column
    lineage = data.lineage()
    assert lineage.num_rows == len(records) == 1797
    counts = {
        (r["status"], r["source"]): r["count_all"]
        for r in lineage.group_by(["status", "source"]).aggregate([([], "count_all")]).to_pylist()
    }
    assert counts == {("attested", "vendor"): 600, ("unattributed", "crowd"): 197, ("unattributed", None): 1000}
    by_digest = dict(zip(lineage["digest"].to_pylist(), lineage["source"].to_pylist()))
    delivered = pq.read_table(workdir / "vendor-batch.parquet").drop_columns(["label"]).to_pylist()
    assert _rows(r.content for r in records if by_digest[r.digest] == "vendor") == _rows(delivered)


def test_lineage_comes_from_the_lineage_object_the_version_signed(template_trust, workdir):
    """Whoever can write .prov/ points v3's lineage row at v2's lineage object (no vendor record unattributed
    there): refused, not read."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        (other,) = db.execute("select object from version_lineage where tag = 'v2'").fetchone()
        db.execute("update version_lineage set object = ? where tag = 'v3'", (other,))
    data = prov.load("v3", store=prov.Store.open(str(workdir)), pins=prov.Pins.load(["maintainer.pub"]))
    with pytest.raises(VerificationError, match="v3: its lineage record differs from the lineage it signed"):
        data.lineage()
    unopened = VerifiedDataset(open_signed_version(str(workdir / ".prov"), "v3", prov.Pins.load(["maintainer.pub"])))
    with pytest.raises(InputError, match="lineage\\(\\) needs the store and pins"):
        unopened.lineage()
