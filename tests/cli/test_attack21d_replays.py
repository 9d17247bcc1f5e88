"""Attack review 21d: replays against the signed delta object's content part (``delta_content``).

Each test is an attack that a fix should refuse; it fails on lead21f. The attacker holds the commit key
and runs a modified prov (replayed by patching the writer while the real ``prov commit`` signs), the
way tests/cli/test_diff_signed_delta.py replays a key holder. Real Parquet, keys and store.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.delta import delta_content
from tests.cli.test_diff_signed_delta import _delta_path


def _commit_v4(prov):
    r = prov(
        "commit",
        "v4.parquet",
        "--tag",
        "v4",
        "--key",
        "alice.key",
        "--signer",
        "alice.pub",
        "--source-column",
        "source",
    )
    assert r.exit_code == 0, r.output


def _v4_with_one_added_record() -> None:
    t = pq.read_table("v3.parquet")
    one = t.slice(0, 1)
    one = one.set_column(one.schema.get_field_index("px00"), "px00", pa.array([9], one.column("px00").type))
    pq.write_table(pa.concat_tables([t, one]), "v4.parquet")


def test_content_values_on_rows_outside_the_content_part_fail_verify(prov, three_versions, monkeypatch):
    # a key holder's prov fills the content column on the object's other rows (where an honest
    # commit writes null): _same_table compares only the delta columns and check_content only the
    # content part's rows, so verify calls this object "the delta recomputed from the manifests".
    # Those cells are read whole by every --detect and verify (parquet.read of the column), so they
    # can also carry a large (dictionary-compressed) payload the signed row count does not bound.
    honest = delta_content.content_column

    def stuffed(before: int, table: pa.Table) -> pa.Array:
        made = honest(before, table)
        first = made.slice(before, 1)
        return pa.concat_arrays([first] * before + [made.slice(before)])

    monkeypatch.setattr(delta_content, "content_column", stuffed)
    _v4_with_one_added_record()
    _commit_v4(prov)
    monkeypatch.setattr(delta_content, "content_column", honest)
    table = pq.read_table(_delta_path("v4"))
    outside = table.filter(pa.compute.not_equal(table.column("part"), "content")).column("content")
    assert outside.null_count == 0 and len(outside) > 0  # the signed object holds them
    r = prov("verify", "v4", "--no-data", "--store-keys")
    assert r.exit_code == 1, r.output
