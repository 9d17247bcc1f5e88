"""Newcomer review 30, findings 4 and 6 (finding 1: ``test_check_class_sorted_base.py``)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from test_newcomer24_hints import vendor_signed


def _wine_like(rows: range) -> pa.Table:
    """Two columns of whole numbers held as double (``magnesium``, ``proline``), one of fractions, two classes."""
    rng = np.random.default_rng(7)
    n = 260  # every slice of the same rows
    labels = np.array(["a", "b"])[np.arange(n) % 2]
    table = pa.table(
        {
            "alcohol": rng.normal(13, 0.8, n) + (labels == "b"),
            "magnesium": np.round(rng.normal(100, 12, n)).astype("float64"),
            "proline": np.round(rng.normal(700, 200, n)).astype("float64") + 300 * (labels == "b"),
            "label": labels,
        }
    )
    return table.slice(rows.start, len(rows))


def test_a_delivery_read_with_other_column_types_names_the_columns_and_the_schema_flags(prov, workdir, store):
    """The base came from a CSV (whole numbers read as int64), the vendor signed Parquet with double: every
    delivered record matched no signed record, and the check called it 'the shape of a signed delivery edited and
    re-declared', offering withdraw, quarantine or add. It now names the columns and types and the --schema flags,
    which bridge it."""
    pcsv.write_csv(_wine_like(range(0, 200)), "base.csv")
    pq.write_table(_wine_like(range(200, 260)), "vendor.parquet")
    pcsv.write_csv(_wine_like(range(0, 260)), "train-v2.csv")
    vendor_signed(
        prov,
        ("commit", "base.csv", "--tag", "v1", "--key", "m.key", "--signer", "m.pub"),
        ("commit", "train-v2.csv", "--tag", "v2", "--key", "m.key", "--signer", "m.pub"),
    )
    r = prov("check", "v2", "--base", "v1", "--signer", "m.pub", "--format", "json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    (rule,) = [x for x in report["rules"] if x["rule"] == "lineage.unattributed_beside_signed"]
    assert rule["status"] == "block"
    reason = rule["reason"]
    assert "edited and re-declared" not in reason
    assert "magnesium: double signed, int64 in v2; proline: double signed, int64 in v2" in reason, reason
    assert "commit the data read with the signed types (--schema magnesium:double --schema proline:double)" in reason
    assert rule["statistic"]["signed_types"] == {"magnesium": "double", "proline": "double"}
    text = prov("check", "v2", "--base", "v1", "--signer", "m.pub").stdout
    step = "prov commit DATA --parent v1 --tag NEW --schema magnesium:double --schema proline:double --key K"
    assert step in " ".join(text.split()), text
    # the way on works: read with the signed types, every delivered record is attested and the rule passes
    r = prov("commit", "train-v2.csv", "--tag", "v2b", "--parent", "v1", "--key", "m.key", "--signer", "m.pub",
             "--schema", "magnesium:double", "--schema", "proline:double", "--json")  # fmt: skip
    assert json.loads(r.stdout)["lineage"]["attested"] == 60, r.output
    r = prov("check", "v2b", "--base", "v1", "--signer", "m.pub", "--format", "json")
    (rule,) = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == "lineage.unattributed_beside_signed"]
    assert rule["status"] == "pass", rule


def test_an_edited_delivery_is_still_called_one(prov, workdir, store):
    """Same types but other values: no column types to name, so the edited-delivery reason stands."""
    pq.write_table(_wine_like(range(0, 200)), "base.parquet")
    delivery = _wine_like(range(200, 260))
    pq.write_table(delivery, "vendor.parquet")
    edited = delivery.set_column(0, "alcohol", pa.array(np.asarray(delivery.column("alcohol")) + 0.01))
    pq.write_table(pa.concat_tables([_wine_like(range(0, 200)), edited]), "train-v2.parquet")
    vendor_signed(
        prov,
        ("commit", "base.parquet", "--tag", "v1", "--key", "m.key", "--signer", "m.pub"),
        ("commit", "train-v2.parquet", "--tag", "v2", "--key", "m.key", "--signer", "m.pub"),
    )
    r = prov("check", "v2", "--base", "v1", "--signer", "m.pub", "--format", "json")
    (rule,) = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == "lineage.unattributed_beside_signed"]
    assert rule["status"] == "block" and "edited and re-declared" in rule["reason"], rule
    assert "signed_types" not in rule["statistic"]


def _question_mark_csv(columns: int) -> None:
    """bc.csv: ``columns`` number columns and a label; one '?' in each of c00 .. c{columns-1}'s first ones listed."""
    rng = np.random.default_rng(3)
    n = 120
    data = {f"c{j:02d}": rng.normal(size=n).round(3).astype(object) for j in range(columns)}
    data["x"] = rng.normal(size=n).round(3).astype(object)  # stays numeric
    for j in range(columns):
        data[f"c{j:02d}"][j] = "?"
    data["label"] = np.array(["a", "b"])[np.arange(n) % 2].astype(object)
    pcsv.write_csv(pa.table({k: pa.array([str(v) for v in vals]) for k, vals in data.items()}), "bc.csv")


def test_commit_names_a_column_left_out_of_the_features_as_not_numeric(prov, workdir, store, keypair):
    """One '?' turned a CSV column to text, and `prov commit` printed 'features numeric/v1 over N columns' without
    naming the column no detector would score."""
    _question_mark_csv(1)
    r = prov("commit", "bc.csv", "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stdout.splitlines() if "not in the features" in x).strip()
    assert line == (
        "column 'c00' (string) is not in the features: not numeric, so no detector scores it; if it holds numbers, "
        "fix its values (a '?' or text) and commit with --schema c00:double; if it is text, leave it out on purpose "
        "with --featurizer numeric --featurizer-option 'exclude=[\"c00\"]'"
    ), line
    r = prov("commit", "bc.csv", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path,
             "--featurizer", "numeric", "--featurizer-option", 'exclude=["c00"]', "--json")  # fmt: skip
    assert r.exit_code == 0 and json.loads(r.stdout)["unfeatured_note"] is None, r.output  # left out on purpose


def test_commit_names_at_most_five_such_columns(prov, workdir, store, keypair):
    _question_mark_csv(7)
    r = prov("commit", "bc.csv", "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path,
             "--json")  # fmt: skip
    note = json.loads(r.stdout)["unfeatured_note"]
    assert note.startswith(
        "columns 'c00' (string), 'c01' (string), 'c02' (string), 'c03' (string), 'c04' (string) and 2 more are not "
        "in the features"
    ), note
    assert "if one holds numbers, fix its values" in note
