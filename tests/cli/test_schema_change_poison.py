"""Newcomer review 11, finding 1: a schema change must not hide what changed with it.

Retyping one column (or adding one) changes every record digest, so the diff pairs the old
and new records ("re-keyed"). Those records were then neither scored nor compared by label:
30 label flips and 20 outliers, shipped together with a retyped column, passed ``prov check``
with "no record added or relabeled to score". Re-keyed records are now paired with their base
records by content (attack review 11b, R11-1; ``test_schema_change_content_pairs.py``): the
flips are relabels, the outliers (content changed) are added, and both are scored.
"""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import commit_signed, digits_table


def _poisoned(base: pa.Table) -> pa.Table:
    labels = base.column("label").to_pylist()
    for i in range(0, 300, 10):  # 30 flips
        labels[i] = "1" if labels[i] != "1" else "7"
    px = np.asarray(base.column("px10")).copy()
    px[300:320] = 99  # 20 outliers
    t = base.set_column(base.column_names.index("label"), "label", pa.array(labels))
    return t.set_column(t.column_names.index("px10"), "px10", pa.array(px))


@pytest.mark.parametrize("change", ["retype", "new_column"])
def test_poison_behind_a_schema_change_is_scored_and_blocks(prov, workdir, keypair, change):
    base = digits_table(1200)
    pq.write_table(base, workdir / "base.parquet")
    poisoned = _poisoned(base)
    if change == "retype":  # px63 int64 -> double, values unchanged
        i = poisoned.column_names.index("px63")
        poisoned = poisoned.set_column(i, "px63", poisoned.column("px63").cast(pa.float64()))
    else:  # one constant string column added
        poisoned = poisoned.append_column("split", pa.array(["train"] * poisoned.num_rows))
    pq.write_table(poisoned, workdir / "poisoned.parquet")
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "base", "base.parquet")
    commit_signed(prov, keypair, "p", "poisoned.parquet", "--parent", "base")

    diff = json.loads(prov("diff", "base", "p", "--detect", "--json", "--signer", keypair.public_path).stdout)
    s = diff["summary"]
    assert s["schema_changes"] and s["rekeyed_by"] == "content" and s["rekeyed"] == 1180
    assert s["rekeyed_relabeled"] == 30 and s["relabeled"] == 30  # the flips, paired by content
    assert s["added"] == 20 and s["removed"] == 20  # the outliers: their content changed beyond the cast
    assert diff["detection"]["scored"] == 50  # was 0: "7 detectors ran on none"
    flips = {f["digest"] for f in diff["findings"] if f.get("old_label") is not None}
    assert len(flips) == 30

    r = prov("check", "p", "--base", "base", "--signer", keypair.public_path)
    assert r.exit_code == 1, r.output  # was 0: "passed with warnings", nothing scored
    words = " ".join(r.output.split())  # the text wraps at the terminal's width
    assert "BLOCKED" in words and "re-keyed by the schema change" in words
    assert "30 relabeled (scored as relabels)" in words
