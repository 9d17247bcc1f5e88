"""Newcomer review 31, finding 1: the advice after a schema change looped on a Parquet base.

A column cast int64 -> double in a Parquet file re-keyed the signed batch's records, and `prov check` advised
"re-commit the base with the new types: prov commit BASEDATA ... --schema body_mass_g:double". On Parquet
`--schema` did nothing (the same Merkle root), yet was signed as a read option later commits inherit. It is now
refused on an input with no CSV or JSON Lines file, and the advice for a Parquet base is to cast the columns back;
for a CSV base `--schema` re-reads the data with the new types, and the advice still says so.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from test_newcomer24_hints import vendor_signed

from provenance.lineage.classify import version_lineage
from provenance.store import Store
from support import store_fingerprint, validate_output, words

PINS = ("--signer", "m.pub")
RULE = "lineage.unattributed_beside_signed"


def _penguins(rows: range) -> pa.Table:
    """Penguin-like rows: whole-number ``body_mass_g`` (int64), two measured columns (never whole, so a CSV of them
    reads back as double), three species."""
    rng = np.random.default_rng(31)
    n = 300
    species = np.array(["Adelie", "Chinstrap", "Gentoo"])[np.arange(n) % 3]
    table = pa.table(
        {
            "bill_length_mm": rng.normal(44, 5, n).round(1) + 0.05,
            "flipper_length_mm": rng.normal(200, 14, n).round(0) + 0.5,
            "body_mass_g": rng.integers(2700, 6300, n).astype("int64"),
            "label": species,
        }
    )
    return table.slice(rows.start, len(rows))


def penguins_v1_v2(prov, written: str = "parquet") -> None:
    """The vendor signs penguins 200-299 (Parquet); v1 is penguins 0-199 and v2 adds the vendor's 100, both written as
    ``written`` (``parquet`` or ``csv``) and committed under the maintainer's key m.key
    (``test_newcomer24_hints.vendor_signed``)."""
    write = pq.write_table if written == "parquet" else pcsv.write_csv
    write(_penguins(range(0, 200)), f"base.{written}")
    pq.write_table(_penguins(range(200, 300)), "vendor.parquet")
    write(_penguins(range(0, 300)), f"train.{written}")
    vendor_signed(
        prov,
        ("commit", f"base.{written}", "--tag", "v1", "--key", "m.key", *PINS),
        ("commit", f"train.{written}", "--tag", "v2", "--key", "m.key", *PINS),
    )


def _as_double(table: pa.Table) -> pa.Table:
    i = table.column_names.index("body_mass_g")
    return table.set_column(i, "body_mass_g", table.column("body_mass_g").cast(pa.float64()))


def _rule(prov, new: str, base: str) -> dict:
    r = prov("check", new, "--base", base, *PINS, "--format", "json")
    assert r.exit_code in (0, 1), r.output
    (rule,) = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == RULE]
    return rule


def test_schema_on_parquet_is_refused_and_the_advice_is_to_cast_back(prov, workdir, store):
    penguins_v1_v2(prov)
    pq.write_table(_as_double(_penguins(range(0, 300))), "train-v3.parquet")
    assert prov("commit", "train-v3.parquet", "--tag", "v3", "--parent", "v2", "--key", "m.key", *PINS).exit_code == 0

    rule = _rule(prov, "v3", "v2")
    assert rule["status"] == "block" and rule["statistic"]["base_parquet"] is True, rule
    # finding 2: re-keyed records that lost their attestation, not "added records without a trusted signature"
    assert rule["reason"].startswith(
        "100 records of v2 re-keyed by a schema change (column 'body_mass_g' changed type: int64 -> double) that "
        "lost their source's attestation"
    ), rule["reason"]
    diff = words(prov("diff", "v2", "v3", *PINS).stdout)
    assert (
        "Records whose source changed: re-keyed by the schema change, they lost their source's attestation (a record "
        "a batch signed with the old types matches no batch now), not re-sourced"
    ) in diff, diff
    # prov lineage of a vendor record's v2 digest: v3 holds it re-keyed (a new digest), not "absent"
    paired = json.loads(prov("diff", "v2", "v3", "--json", *PINS).stdout)["changes"]["source_changed"][0]
    v2 = version_lineage(Store.open(workdir / ".prov"), "v2")
    attested = v2.filter(pc.equal(v2.column("status"), "attested"))
    digest = attested.column("digest")[0].as_py().hex()
    info = json.loads(prov("lineage", digest, "--json", *PINS).stdout)
    validate_output("lineage", info)
    (v3,) = [v for v in info["versions"] if v["version"] == "v3"]
    assert not v3["present"] and v3["rekeyed"]["from"] == "v2" and v3["rekeyed"]["status"] == "unattributed", v3
    back = json.loads(prov("lineage", v3["rekeyed"]["digest"], "--json", *PINS).stdout)["versions"]
    assert [v["present"] for v in back if v["version"] in ("v2", "v3")] == [False, True]
    assert paired["new_sources"] == [None]
    shown = words(prov("lineage", digest, *PINS).stdout)
    assert f"v3 re-keyed by a schema change from v2: new digest {v3['rekeyed']['digest'][:12]}" in shown, shown
    assert "v3 absent" not in shown
    text = words(prov("check", "v3", "--base", "v2", *PINS).stdout)
    assert "re-commit the base with the new types" not in text and "--schema body_mass_g:double" not in text, text
    assert (
        "a schema change re-keyed 100 base records: cast the columns back to the signed types (body_mass_g: int64) "
        "in the data (Parquet carries its own types; --schema does not apply), then commit it again: prov commit "
        "DATA --tag NEW --parent v2 --key K and check NEW against v2"
    ) in text, text

    # the step it used to give: refused, one line naming the file, nothing written
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "base.parquet", "--tag", "B2", "--parent", "v2", "--schema", "body_mass_g:double",
             "--key", "m.key", *PINS)  # fmt: skip
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        "Error: base.parquet: --schema applies to CSV and JSON Lines only, and this is a Parquet file, which carries "
        "its own column types (read as they are): cast the columns in the file instead (pyarrow: table.cast; pandas: "
        "astype)"
    ], r.stderr
    assert store_fingerprint(workdir / ".prov") == before
    r = prov("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key", "--schema", "body_mass_g:double")
    assert r.exit_code == 2 and "vendor.parquet: --schema applies to CSV and JSON Lines only" in r.stderr, r.output

    # the step given now leads out: cast back, commit, and the rule passes
    pq.write_table(pq.read_table("train-v3.parquet").cast(pq.read_table("train.parquet").schema), "train-v4.parquet")
    assert prov("commit", "train-v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "m.key", *PINS).exit_code == 0
    assert _rule(prov, "v4", "v2")["status"] == "pass"


def test_a_folder_holding_a_csv_file_takes_schema(prov, workdir, store, keypair):
    """--schema applies where one file of the folder is text: not refused there."""
    (workdir / "mixed").mkdir()
    pq.write_table(_penguins(range(0, 100)), "mixed/a.parquet")
    pcsv.write_csv(_as_double(_penguins(range(100, 200))), "mixed/b.csv")
    r = prov("commit", "mixed", "--tag", "v1", "--key", keypair.private_path, "--signer", keypair.public_path,
             "--schema", "body_mass_g:double")  # fmt: skip
    assert "--schema applies to CSV and JSON Lines only" not in r.output, r.output


def test_for_a_csv_base_the_advice_re_reads_it_with_schema_and_that_leads_out(prov, workdir, store):
    penguins_v1_v2(prov, "csv")
    assert prov("show", "v2", "--json", *PINS).exit_code == 0
    r = prov("commit", "train.csv", "--tag", "v3", "--parent", "v2", "--schema", "body_mass_g:double",
             "--key", "m.key", *PINS)  # fmt: skip
    assert r.exit_code == 0, r.output
    rule = _rule(prov, "v3", "v2")
    assert rule["status"] == "block" and rule["statistic"]["base_parquet"] is False, rule
    text = words(prov("check", "v3", "--base", "v2", *PINS).stdout)
    step = "prov commit BASEDATA --tag B2 --parent v2 --schema body_mass_g:double --key K"
    assert step in text, text
    # following it: the base read with the new types, and v3 checked against it
    r = prov("commit", "train.csv", "--tag", "B2", "--parent", "v2", "--schema", "body_mass_g:double",
             "--key", "m.key", *PINS)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _rule(prov, "v3", "B2")["status"] == "pass"


def test_parquet_data_with_other_types_than_its_signed_batch_is_told_to_cast_not_to_use_schema(prov, workdir, store):
    """The vendor signed body_mass_g as double; the team's Parquet holds int64. The step was `--schema
    body_mass_g:double`, which Parquet ignores (now refused); it is to cast the column in the file."""
    pq.write_table(_penguins(range(0, 200)), "base.parquet")
    pq.write_table(_as_double(_penguins(range(200, 300))), "vendor.parquet")
    pq.write_table(_penguins(range(0, 300)), "train.parquet")
    vendor_signed(
        prov,
        ("commit", "base.parquet", "--tag", "v1", "--key", "m.key", *PINS),
        ("commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PINS),
    )
    rule = _rule(prov, "v2", "v1")
    assert rule["status"] == "block", rule
    assert rule["statistic"]["signed_types"] == {"body_mass_g": "double"} and rule["statistic"]["data_parquet"]
    assert "cast the columns in the file to the signed types (body_mass_g:double)" in rule["reason"], rule
    text = words(prov("check", "v2", "--base", "v1", *PINS).stdout)
    assert "--schema body_mass_g:double" not in text, text
    assert (
        "the data holds other column types than its signed batches: cast the columns in the file to the signed "
        "types (body_mass_g:double; --schema does not apply to Parquet), then commit it again: prov commit DATA "
        "--parent v1 --tag NEW --key K and check NEW against v1"
    ) in text, text
    pq.write_table(_as_double(_penguins(range(0, 300))), "train-cast.parquet")
    r = prov("commit", "train-cast.parquet", "--tag", "v2b", "--parent", "v1", "--key", "m.key", *PINS, "--json")
    assert json.loads(r.stdout)["lineage"]["attested"] == 100, r.output
    assert _rule(prov, "v2b", "v1")["status"] == "pass"


def test_the_library_refuses_schema_on_parquet_as_the_command_does(workdir, store, keypair):
    import pytest

    import provenance
    from provenance.errors import InputError

    pq.write_table(_penguins(range(0, 50)), "base.parquet")
    with pytest.raises(InputError, match=r"^base\.parquet: schema= applies to CSV and JSON Lines only"):
        provenance.commit(store, "base.parquet", tag="v1", key=keypair.private_path, schema={"body_mass_g": "double"})
    assert not store.db["versions"].count
