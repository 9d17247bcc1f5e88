"""``prov verify DATA`` of a signed batch edited in more records than a report names (session 27).

The comparison counts every record and names the first ``REPORTED`` of each kind: a vendor's file
edited in every row but one is exit 1 with the exact count in ``counts``, 1000 records in
``changes``, and the text's 20 lines and ``... and N more changed`` (before, every record became a
dict and was listed: 2.5 GiB at 1M rows, attack review 25d's leftover).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from provenance.changes import MAX_LISTED, REPORTED
from support import validate_output

ROWS = REPORTED + 300


def test_a_batch_edited_in_every_row_but_one_is_counted_and_the_first_named(prov, workdir):
    data = workdir / "batch.parquet"
    pq.write_table(pa.table({"x": [float(i) for i in range(ROWS)], "label": [str(i % 3) for i in range(ROWS)]}), data)
    keys.generate(workdir / "vendor")
    assert prov("sign", data, "--source", "vendor", "--key", "vendor.key").exit_code == 0
    x = [0.0] + [i + 0.5 for i in range(1, ROWS)]  # every row edited in place but the first
    pq.write_table(pa.table({"x": x, "label": [str(i % 3) for i in range(ROWS)]}), data)

    r = prov("verify", data, "--signer", "vendor.pub", "--json")
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    validate_output("verify-batch", report)
    assert report["counts"] == {"changed": ROWS - 1, "added": 0, "removed": 0, "relabeled": 0}
    assert [c["locator"] for c in report["changes"]["changed"]] == [str(i) for i in range(1, REPORTED + 1)]

    r = prov("verify", data, "--signer", "vendor.pub")
    assert r.exit_code == 1
    assert f"({ROWS - 1} changed): changed row 1: content digest " in r.stderr
    assert f"... and {ROWS - 1 - MAX_LISTED} more changed" in r.stderr
    assert r.stderr.count("changed row ") == MAX_LISTED
