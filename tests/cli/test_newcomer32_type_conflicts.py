"""Newcomer review 32, finding 2, replayed through the CLI on real Parquet, keys and stores: clinic A's two signed
batches disagree on a column's type (2023 int64; 2024 double, as its NaNs made it). After the gaps were filled, `prov
check` said "cast the columns in the file to the signed types (double)", and after that cast "cast the columns back
to the signed types (int64)": one Parquet column cannot hold both. The advice now says the batches disagree and gives
the way that works (the source signs the records shipped in the differing batch's place, that batch is withdrawn,
commit again: never registered as one's own, attack review 32d, A32d-3), and a withdrawn batch is no longer advised on."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from support import validate_output, words

PINS = ("--signer", "m.pub")
RULE = "lineage.unattributed_beside_signed"


def _clinic(n: int, seed: int, gaps: bool) -> pa.Table:
    """``n`` patients: whole-number ``bp`` (int64; double with NaN gaps when ``gaps``), two measured columns."""
    rng = np.random.default_rng(seed)
    bp = rng.integers(50, 110, n).astype("int64")
    column = pa.array(bp)
    if gaps:
        column = pa.array(np.where(np.arange(n) % 7 == 0, np.nan, bp.astype("float64")))
    return pa.table(
        {
            "glu": rng.normal(120, 30, n).round(1) + 0.05,
            "bmi": rng.normal(32, 6, n).round(1) + 0.05,
            "bp": column,
            "label": np.array(["No", "Yes"])[np.arange(n) % 2],
        }
    )


def _ok(prov, *args: str) -> str:
    r = prov(*args)
    assert r.exit_code == 0, (args, r.output)
    return r.stdout


def register_clinic_batches_and_v1(prov) -> list[str]:
    """Keys ``clinic`` and ``m`` (the maintainer, pinned); clinicA trusted by an entry m signs; a2023.parquet and
    a2024.parquet (written by the caller) signed by the clinic and registered; v1 the 2023 batch. Returns the two
    batch ids, 2023's first."""
    for args in (("keys", "generate", "clinic"), ("keys", "generate", "m")):
        _ok(prov, *args)
    _ok(prov, "trust", "add", "clinicA", "clinic.pub", "--key", "m.key", *PINS)
    batches = []
    for name in ("a2023.parquet", "a2024.parquet"):
        _ok(prov, "sign", name, "--source", "clinicA", "--key", "clinic.key")
        added = _ok(prov, "add", name, "--source", "clinicA", *PINS)
        batches.append(re.search(r"Added batch (\S+):", added).group(1))
    _ok(prov, "commit", "a2023.parquet", "--tag", "v1", "--key", "m.key", *PINS)
    return batches


def _two_batches_v1_v2(prov) -> str:
    """The clinic signs its 2023 batch (bp int64) and its 2024 batch (bp double, gaps); v1 is the 2023 batch, v2 adds
    the 2024 batch with its gaps filled (bp int64 again). Returns the 2024 batch's id."""
    pq.write_table(_clinic(200, 1, gaps=False), "a2023.parquet")
    with_gaps = _clinic(70, 2, gaps=True)
    pq.write_table(with_gaps, "a2024.parquet")
    filled = with_gaps.set_column(2, "bp", pa.array(np.nan_to_num(with_gaps.column("bp").to_numpy(), nan=72.0)))
    filled = filled.set_column(2, "bp", filled.column("bp").cast(pa.int64()))
    pq.write_table(filled, "a2024-filled.parquet")
    pq.write_table(pa.concat_tables([_clinic(200, 1, gaps=False), filled]), "train.parquet")
    batches = register_clinic_batches_and_v1(prov)
    note = json.loads(_ok(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", "--json", *PINS))
    # the commit's note says the batches disagree, and does not offer the cast that would re-key v1's records
    assert f"signed batch {batches[0]} signs it as this data has it" in note["retype_note"], note["retype_note"]
    assert (
        "have its source sign the changed file (on the source's side: prov sign FILE --source SOURCE --key SOURCE_KEY; "
        f"here: prov add FILE --source SOURCE) and withdraw {batches[1]} (prov withdraw {batches[1]} --reason R --key K)"
    ) in note["retype_note"], note["retype_note"]
    assert (
        "--source NAME --unsigned" not in note["retype_note"]
    )  # the source's labels stay signed (attack review 32d, A32d-3)
    assert "cast the columns back" not in note["retype_note"]
    return batches[1]


def test_check_says_the_signed_batches_disagree_and_the_way_it_gives_releases(prov, workdir, store):
    batch = _two_batches_v1_v2(prov)
    r = prov("check", "v2", "--base", "v1", *PINS, "--format", "json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    validate_output("check", report)
    (rule,) = [x for x in report["rules"] if x["rule"] == RULE]
    assert rule["status"] == "block"
    assert rule["statistic"]["type_conflicts"] == {batch: {"bp": "double"}}
    assert "signed_types" not in rule["statistic"]  # no "cast to double" beside it
    assert (
        f"the signed batches disagree on column types (bp: double in {batch}; bp: int64 in v1's): one column of a "
        "file holds one type, so no data matches them all"
    ) in rule["reason"], rule["reason"]
    text = words(prov("check", "v2", "--base", "v1", *PINS).stdout)
    assert "cast the columns" not in text
    assert (
        f"the signed batches disagree on column types (bp: {batch} against v1's): no file matches them all; keep "
        "v1's types, have the source sign the records you ship in the other batch's place (prov sign FILE --source "
        "SOURCE --key SOURCE_KEY, on its side), withdraw the other batch, then commit again: prov add FILE --source "
        f"SOURCE && prov withdraw {batch} --reason R --key K && prov commit DATA --parent v2 --tag NEW --key K"
    ) in text, text
    assert (
        "--source NAME --unsigned" not in text
    )  # records of one's own would bind none of the clinic's labels (A32d-3)

    # the way given: the clinic signs the filled file, the maintainer registers it, withdraws the 2024 batch, commits
    _ok(prov, "sign", "a2024-filled.parquet", "--source", "clinicA", "--key", "clinic.key")
    _ok(prov, "add", "a2024-filled.parquet", "--source", "clinicA", *PINS)
    _ok(prov, "withdraw", batch, "--reason", "gaps filled with the median", "--key", "m.key", *PINS)
    committed = json.loads(_ok(prov, "commit", "train.parquet", "--tag", "v3", "--key", "m.key", "--json", *PINS))
    assert committed["retype_note"] is None  # the withdrawn batch is no longer advised on
    r = prov("check", "v3", "--base", "v1", *PINS, "--format", "json")
    (rule,) = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == RULE]
    assert rule["status"] == "pass", rule


def test_additions_of_no_batch_are_told_to_register_with_unsigned_in_text_as_in_json(prov, workdir, store):
    batch = _two_batches_v1_v2(prov)
    _ok(prov, "withdraw", batch, "--reason", "gaps filled with the median", "--key", "m.key", *PINS)
    _ok(prov, "commit", "train.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    (rule,) = [
        x
        for x in json.loads(prov("check", "v3", "--base", "v1", *PINS, "--format", "json").stdout)["rules"]
        if x["rule"] == RULE
    ]
    assert "`prov add --unsigned --source NAME`" in rule["reason"], rule["reason"]
    text = words(prov("check", "v3", "--base", "v1", *PINS).stdout)
    # the command keeps the envelope; --unsigned is named in words, for records of one's own (attack review 33a, A33a-2)
    assert "prov add BATCH --source S && prov commit DATA --parent v3 --tag NEW --key K (prov add reads" in text, text
    assert "only records of your own that no source signed go in with --unsigned instead" in text, text
