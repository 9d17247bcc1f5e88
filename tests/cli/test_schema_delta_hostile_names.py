"""Schema review 25: the check's added-columns advice read the diff's schema change *lines* back.

``prov check`` took ``added_columns`` / ``other_schema_changes`` from ``summary["schema_changes"]`` with a
regex and ``ast.literal_eval``. Whoever writes the data folder names the columns, and a struct column's
type string holds its field names, so a line does not always parse back into the change it was made
from. The diff now carries the change as data (``summary["schema_delta"]``) and the check reads that.
"""

from __future__ import annotations

import json

# Hostile names: a quote and ' added (' in a name, a newline, a Cyrillic lookalike of an existing column
# ('рx00', U+0440), and a struct column whose field name holds ') added (' (it is in the column's type
# string, so the old line "column 'meta' added (struct<x) added (y: int64>)" parsed as no addition).
QUOTED = "note' added (string)"
NEWLINE = "first\nsecond"
LOOKALIKE = "\u0440x00"
STRUCT_FIELD = "x) added (y"


def hostile_training_file(batch):
    """The vendor's records with four columns added under hostile names, each one value in every row."""
    import pyarrow as pa

    n = batch.num_rows
    struct = pa.array([{STRUCT_FIELD: 1}] * n, type=pa.struct([(STRUCT_FIELD, pa.int64())]))
    return (
        batch.append_column(QUOTED, pa.array(["a"] * n))
        .append_column(NEWLINE, pa.array(["b"] * n))
        .append_column(LOOKALIKE, pa.array([0] * n))
        .append_column("meta", struct)
    )


def test_hostile_column_names_give_the_check_the_columns_the_data_really_adds(prov, workdir, store):
    import pyarrow.parquet as pq
    from test_newcomer24_hints import vendor_signed

    from support import digits_table, validate_output

    batch = digits_table(60)
    pq.write_table(batch, "vendor.parquet")
    pq.write_table(hostile_training_file(batch), "train.parquet")
    vendor_signed(
        prov,
        ("commit", "vendor.parquet", "--tag", "v1", "--key", "m.key", "--signer", "m.pub"),
        ("commit", "train.parquet", "--tag", "v2", "--key", "m.key", "--signer", "m.pub"),
    )
    added = sorted([QUOTED, NEWLINE, LOOKALIKE, "meta"])

    r = prov("check", "v2", "--base", "v1", "--signer", "m.pub", "--format", "json")
    report = json.loads(r.stdout)
    validate_output("check", report)
    rule = next(x for x in report["rules"] if x["rule"] == "lineage.unattributed_beside_signed")
    assert r.exit_code == 1 and rule["status"] == "block", (r.exit_code, rule)
    # main read 'meta' as no addition and so a change beside the additions: other_schema_changes true
    assert rule["statistic"]["added_columns"] == added, rule["statistic"]
    assert rule["statistic"]["other_schema_changes"] is False, rule["statistic"]
    assert "cast the columns back" not in rule["reason"] and "--metadata meta " in rule["reason"], rule["reason"]

    diff = json.loads(prov("diff", "v1", "v2", "--format", "json", "--signer", "m.pub").stdout)
    validate_output("diff", diff)
    delta = diff["summary"]["schema_delta"]
    assert delta["typed"] is True and list(delta["added"]) == added, delta
    assert delta["added"]["meta"] == f"struct<{STRUCT_FIELD}: int64>" and not delta["removed"] and not delta["retyped"]
    assert len(diff["summary"]["schema_changes"]) == 4  # the lines for people are still there
    assert report["summary"]["schema_delta"] == delta  # the check carries the same data
    # the text: each name reads as one name, and the command pastes back as the same bytes (a newline escaped
    # by the renderer inside $'...', where bash reads \x0a as a newline, not as four characters)
    text = " ".join(prov("check", "v2", "--base", "v1", "--signer", "m.pub").stdout.split())
    names = "'first\\nsecond', meta, \"note' added (string)\", '\u0440x00'"
    assert f"the columns {names} the data adds" in text, text
    assert f"If your own pipeline adds the columns {names}, commit with" in text, text
    assert "--metadata $'first\\x0asecond' --metadata meta --metadata 'note'\"'\"' added (string)'" in text, text
    assert "schema change: column 'meta' added (struct<x) added (y: int64>)" in text, text


def test_a_retyped_column_beside_hostile_additions_is_another_change(prov, workdir, store):
    """A column retyped as well: ``other_schema_changes`` is true, and the added columns are still exactly named."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_newcomer24_hints import vendor_signed

    from support import digits_table

    batch = digits_table(60)
    pq.write_table(batch, "vendor.parquet")
    train = hostile_training_file(batch)
    train = train.set_column(1, "px01", train.column("px01").cast(pa.float64()))
    pq.write_table(train, "train.parquet")
    vendor_signed(
        prov,
        ("commit", "vendor.parquet", "--tag", "v1", "--key", "m.key", "--signer", "m.pub"),
        ("commit", "train.parquet", "--tag", "v2", "--key", "m.key", "--signer", "m.pub"),
    )
    r = prov("check", "v2", "--base", "v1", "--signer", "m.pub", "--format", "json")
    assert r.stdout, r.output
    rule = next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == "lineage.unattributed_beside_signed")
    assert r.exit_code == 1 and rule["status"] == "block", rule
    assert rule["statistic"]["added_columns"] == sorted([QUOTED, NEWLINE, LOOKALIKE, "meta"]), rule["statistic"]
    assert rule["statistic"]["other_schema_changes"] is True, rule["statistic"]
    assert "Keep the signed types" in rule["reason"], rule["reason"]


def test_a_saved_diff_report_from_before_schema_delta_still_renders(prov, workdir, store):
    """``prov report`` of a diff JSON saved before ``schema_delta`` existed: its lines shown as written, ungrouped
    (grouping would parse them), in text and Markdown; one saved now groups columns retyped alike from the data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from support import digits_table, validate_output

    table = digits_table(40)
    pq.write_table(table, "a.parquet")
    retyped = table
    for i in (0, 1):
        retyped = retyped.set_column(i, f"px0{i}", retyped.column(f"px0{i}").cast(pa.float64()))
    pq.write_table(retyped, "b.parquet")
    for args in (
        ("keys", "generate", "m"),
        ("commit", "a.parquet", "--tag", "v1", "--key", "m.key"),
        ("commit", "b.parquet", "--tag", "v2", "--key", "m.key", "--signer", "m.pub"),
        ("diff", "v1", "v2", "--format", "json", "--out", "diff.json", "--signer", "m.pub"),
    ):
        assert prov(*args).exit_code == 0, args
    report = json.loads((workdir / "diff.json").read_text())
    assert report["summary"]["schema_delta"]["retyped"] == {"px00": ["int64", "double"], "px01": ["int64", "double"]}
    r = prov("report", "diff.json", "--format", "text")
    assert r.exit_code == 0 and "schema change: 2 columns changed type int64 -> double: 'px00', 'px01'" in r.stdout
    hostile = 'column "x\' changed type: int64 -> double" added (string)'
    del report["summary"]["schema_delta"]
    report["summary"]["schema_changes"] = [hostile, "column 'px00' changed type: int64 -> double"]
    validate_output("diff", report)
    (workdir / "old.json").write_text(json.dumps(report))
    r = prov("report", "old.json", "--format", "text")
    assert r.exit_code == 0, r.output
    assert f"schema change: {hostile}\n" in r.stdout, r.stdout
    assert "schema change: column 'px00' changed type: int64 -> double\n" in r.stdout, r.stdout
    r = prov("report", "old.json", "--format", "md")
    assert r.exit_code == 0 and r.stdout.count("Schema change: ") == 2, r.output
