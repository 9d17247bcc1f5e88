"""A check names the row that blocks, not its digest's other row (attack review 10b, S10b-1).

The candidate holds one record twice: with its true label and with a flipped one (a source re-delivering a
row a reviewer corrected). The reviewer waives the true row (`prov waive --label`). The gate judged rows
already (T9b-1), but the reports described records by digest alone: check JSON, text and SARIF named the
flipped row's finding with the true row's label and row number, the waiver took its effect from whichever
row of the digest came last, and SARIF carried the waived row's suppressed result under the same
fingerprint as the blocking row's (a code-scanning tool that matches results by fingerprint keeps one).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import ok, validate_sarif

PINNED = ("--signer", "maintainer.pub")


def _twice(prov, workdir) -> tuple[str, str, str, int]:
    """v4 = v2 + one crowd record under its true label and under a flipped one (true < flipped, so the
    true row comes first in the manifest, as the digest's first row); returns (digest, true, flipped, row
    number of the flipped row)."""
    v2 = pq.read_table(workdir / "v2.parquet")
    crowd = pq.read_table(workdir / "crowd-batch.parquet")
    i = crowd.column("label").to_pylist().index("3")
    row = crowd.slice(i, 1)
    flipped = row.set_column(row.column_names.index("label"), "label", pa.array(["8"]))
    pq.write_table(pa.concat_tables([v2, row, flipped]), workdir / "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    report = json.loads(ok(prov, "diff", "v2", "v4", "--detect", "--format", "json", *PINNED))
    [digest] = {f["digest"] for f in report["findings"]}
    return digest, "3", "8", v2.num_rows + 1


def test_reports_name_the_blocking_row_when_the_other_row_of_its_digest_is_waived(prov, template_trust, workdir):
    digest, true, flipped, flipped_row = _twice(prov, workdir)
    ok(prov, "waive", digest, "--version", "v4", "--detector", "combined", "--label", true, "--reason",
       "true label restored", "--key", "maintainer.key", *PINNED)  # fmt: skip
    scored = {f["label"]: f for f in json.loads(ok(prov, "findings", "v4", "--all", "--json", *PINNED))["findings"]}
    assert scored[flipped]["flagged"], scored  # the flipped row is the one the detectors flag
    # prov findings places each row at its own row number (it placed both at the digest's first)
    assert (scored[true]["location"]["row"], scored[flipped]["location"]["row"]) == (flipped_row - 1, flipped_row)

    r = prov("check", "v4", "--base", "v2", "--format", "json", *PINNED)
    report = json.loads(r.stdout)
    [waiver] = report["waivers"]["honoured"]
    assert waiver["label"] == true
    # its effect is the true row's own verdict, not the flipped row's
    assert (waiver["effect"] == "waived") == scored[true]["flagged"], waiver
    listed = [f for f in report["findings"] if f["digest"] == digest]
    listed += [x for rule in report["rules"] if rule["rule"].startswith("detectors.") for x in rule["records"]]
    listed = [x for x in listed if x["digest"] == digest]
    assert listed, report["findings"]
    for item in listed:  # the flipped row, where it is: not the waived row's label and row number
        assert (item["label"], item["location"]["row"]) == (flipped, flipped_row), item

    r = prov("check", "v4", "--base", "v2", "--format", "text", *PINNED, env={"COLUMNS": "200"})  # the locator column
    flagged = r.stdout.split("Flagged records")[1].split("\n\n")[0]
    assert f"row {flipped_row}" in flagged and f"row {flipped_row - 1}" not in flagged, r.stdout

    sarif = json.loads(prov("check", "v4", "--base", "v2", "--format", "sarif", *PINNED).stdout)
    validate_sarif(sarif)
    per_record = [x for x in sarif["runs"][0]["results"] if "recordRow/v1" in x.get("partialFingerprints", {})]
    prints = {x["partialFingerprints"]["recordRow/v1"] for x in per_record if "suppressions" not in x}
    suppressed = {x["partialFingerprints"]["recordRow/v1"] for x in per_record if "suppressions" in x}
    assert f"{digest}:{flipped}" in prints and not prints & suppressed, per_record
    assert suppressed <= {f"{digest}:{true}"}, per_record
    [blocking] = [x for x in per_record if x["properties"]["digest"] == digest and "suppressions" not in x]
    assert blocking["properties"]["label"] == flipped and f"row {flipped_row}" in blocking["message"]["text"]


def test_diff_detect_names_each_row_of_a_digest_by_its_own_label(prov, template_trust, workdir):
    """S10b-1's residue: `prov diff --detect` showed both rows of the record with the label (and row number) of
    its first row; each finding is now a row, with its own label, and a located one at its own row."""
    digest, true, flipped, flipped_row = _twice(prov, workdir)
    report = json.loads(ok(prov, "diff", "v2", "v4", "--detect", "--format", "json", *PINNED))
    rows = {f["label"]: f for f in report["findings"] if f["digest"] == digest}
    assert set(rows) == {true, flipped}, report["findings"]  # was {true}: two findings under one label
    assert rows[flipped]["flagged"] and rows[flipped]["location"]["row"] == flipped_row
