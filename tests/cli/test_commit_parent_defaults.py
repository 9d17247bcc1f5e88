"""`prov commit` reads with the parent's signed read options and featuriser unless told otherwise
(newcomer review 11, finding 7).

A CI commit step that forgot `--metadata` read the vendor's file another way: every record got a
new digest and lost its attestation, while `prov status` (which reads with the parent's signed
options) called the data unchanged. A text dataset committed with `--featurizer text` went back to
the numeric featuriser on the next commit, which then had no reference profile, so the release
after it could not be checked. The defaults come from the parent's verified signature; options
given on the command line still win, and one that differs from the parent's is said.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from support import digits_table, ok, one_line, store_fingerprint

ROOT = Path(__file__).resolve().parents[2]
PINNED = ("--signer", "maintainer.pub")
READ = ("--label-column", "target", "--metadata", "annotator", "--metadata", "labelled_at")


@pytest.fixture
def vendor_store(prov, workdir):
    """A team store whose v1 holds a vendor's signed CSV batch (label `target`, two metadata columns)."""
    table = digits_table(300).rename_columns([*digits_table(1).column_names[:-1], "target"])
    table = table.append_column("annotator", pa.array([f"ann{i % 4}" for i in range(300)]))
    table = table.append_column("labelled_at", pa.array([f"2026-11-{1 + i % 28:02d}" for i in range(300)]))
    pcsv.write_csv(table, "batch.csv")
    for name in ("maintainer", "vendor"):
        ok(prov, "keys", "generate", name)
    ok(prov, "sign", "batch.csv", "--source", "vendor", "--key", "vendor.key", *READ)
    ok(prov, "init")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *PINNED)
    ok(prov, "add", "batch.csv", "--source", "vendor", *PINNED)
    out = ok(prov, "commit", "batch.csv", "--tag", "v1", "--key", "maintainer.key", *PINNED, *READ)
    assert "lineage: 300 attested" in out, out


def test_a_commit_that_forgets_its_read_options_keeps_every_attestation(prov, vendor_store):
    status = ok(prov, "status", *PINNED)
    assert "unchanged since v1" in status
    out = ok(prov, "commit", "batch.csv", "--tag", "v2", "--key", "maintainer.key", *PINNED)
    assert "read options as v1: --label-column target; --metadata annotator, labelled_at" in out, out
    assert "lineage: 300 attested, 0 relabeled after source, 0 unattributed" in out, out
    assert "identical to v1" in out  # status said unchanged; the commit agrees
    # a forgotten --metadata, with the label column given, is carried on its own
    out = ok(prov, "commit", "batch.csv", "--tag", "v3", "--key", "maintainer.key", *PINNED, "--label-column", "target")
    assert "read options as v1" not in out  # v2 is the parent now, and it signed the same options
    assert "read options as v2: --metadata annotator, labelled_at" in out, out
    assert "lineage: 300 attested" in out
    assert "unchanged since v3" in ok(prov, "status", *PINNED)  # v3 signed the options it read with


def test_an_option_given_still_wins_and_a_difference_is_said(prov, vendor_store):
    r = prov("commit", "batch.csv", "--tag", "v2", "--key", "maintainer.key", *PINNED, "--metadata", "annotator",
             "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    Draft202012Validator(json.loads((ROOT / "schemas" / "commit.schema.json").read_text())).validate(result)
    assert result["from_parent"] == {
        "version": "v1",
        "read_options": ["--label-column target"],
        "read_options_differing": ["--metadata annotator (v1: annotator, labelled_at)"],
        "featurizer": None,
    }
    assert result["lineage"]["attested"] == 0  # labelled_at is content now: every digest changed
    out = ok(prov, "commit", "batch.csv", "--tag", "v3", "--key", "maintainer.key", *PINNED, "--metadata", "annotator")
    assert "read options differ from v2" not in out  # v2 read with --metadata annotator alone, as this one
    out = ok(prov, "commit", "batch.csv", "--tag", "v4", "--key", "maintainer.key", *PINNED, "--no-parent-defaults",
             "--label-column", "target")  # fmt: skip
    assert "read options as" not in out
    assert "read options differ from v3: --metadata none (v3: annotator)" in out, out


def test_a_carried_option_naming_a_column_the_data_lost_says_where_it_came_from(prov, vendor_store, workdir):
    table = pcsv.read_csv("batch.csv")
    pcsv.write_csv(table.drop_columns(["labelled_at"]), "batch2.csv")
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "batch2.csv", "--tag", "v2", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 2, r.output
    line = one_line(r)
    assert line.startswith("Error: batch2.csv: --metadata 'labelled_at': no such column"), line
    assert "(read options as v1: --label-column target; --metadata annotator, labelled_at; give the options" in line
    assert "or --no-parent-defaults)" in line
    assert store_fingerprint(workdir / ".prov") == before
    out = ok(prov, "commit", "batch2.csv", "--tag", "v2", "--key", "maintainer.key", *PINNED, "--metadata", "annotator")
    assert "read options as v1: --label-column target" in out


def _texts(n: int, seed: int) -> pa.Table:
    words = ["red", "green", "blue", "cat", "dog", "bird", "fast", "slow", "big", "small"]
    rows = [" ".join(words[(i * 7 + j * 3 + seed) % len(words)] for j in range(6)) for i in range(n)]
    return pa.table(
        {"id": [f"t{seed}-{i}" for i in range(n)], "text": rows, "label": [("a", "b")[i % 2] for i in range(n)]}
    )


def test_a_text_parent_keeps_its_featuriser_and_a_text_table_is_told_which_fits(prov, workdir):
    ok(prov, "keys", "generate", "maintainer")
    ok(prov, "init")
    base = _texts(120, 0)
    pq.write_table(base, "t1.parquet")
    key = ("--key", "maintainer.key", *PINNED)
    out = ok(prov, "commit", "t1.parquet", "--tag", "t1", *key, "--metadata", "id")
    assert "no reference profile" in out
    assert "text column 'text' found: commit with --featurizer text" in out, out
    out = ok(prov, "commit", "t1.parquet", "--tag", "t2", *key, "--featurizer", "text")
    assert "read options as t1: --metadata id" in out
    assert "features text/v1" in out and "(as t" not in out
    pq.write_table(pa.concat_tables([base, _texts(30, 1)]), "t3.parquet")
    out = ok(prov, "commit", "t3.parquet", "--tag", "t3", *key)
    assert "reference profile:" in out, out
    assert "features text/v1" in out and "(featuriser text, as t2)" in out, out
    # and the release after it can be checked against it
    pq.write_table(pa.concat_tables([base, _texts(30, 1), _texts(20, 2)]), "t4.parquet")
    ok(prov, "commit", "t4.parquet", "--tag", "t4", *key)
    r = prov("check", "t4", "--base", "t3", *PINNED)
    assert r.exit_code in (0, 1), r.output  # evaluated: passed or blocked, never "could not be evaluated"
    # --featurizer auto, given, is the automatic one again
    out = ok(prov, "commit", "t4.parquet", "--tag", "t5", *key, "--featurizer", "auto")
    assert "no reference profile" in out and "(as t4)" not in out


def test_vendor_data_read_by_id_column_is_told_the_option_that_keeps_attestations_and_detection(prov, workdir):
    """Newcomer review 11, finding 4: `--id-column item_id` (the natural option for a vendor's ids) gave
    a version that can never be a detection base, and the note said "commit without --id-column", which
    makes item_id content and loses every attestation. It now names `--metadata item_id`, which keeps the
    digests; following it, the carried --id-column gives way instead of taking the same column twice."""
    table = digits_table(200).append_column("item_id", pa.array([f"LC-{i:06d}" for i in range(200)]))
    pcsv.write_csv(table, "batch.csv")
    for name in ("maintainer", "vendor"):
        ok(prov, "keys", "generate", name)
    ok(prov, "sign", "batch.csv", "--source", "vendor", "--key", "vendor.key", "--id-column", "item_id")
    ok(prov, "init")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *PINNED)
    ok(prov, "add", "batch.csv", "--source", "vendor", *PINNED)
    key = ("--key", "maintainer.key", *PINNED)
    out = ok(prov, "commit", "batch.csv", "--tag", "v1", *key, "--id-column", "item_id")
    assert "lineage: 200 attested" in out
    assert (
        "to use --detect, commit with --metadata item_id instead of --id-column (the same digests, so attestations "
        "hold; locators become row numbers)" in " ".join(out.split())
    ), out
    out = ok(prov, "commit", "batch.csv", "--tag", "v2", *key, "--metadata", "item_id")
    assert "lineage: 200 attested" in out and "reference profile:" in out, out
    assert "read options as v1" not in out  # the carried --id-column item_id gave way to --metadata item_id
    help_text = " ".join(prov("sign", "--help", env={"COLUMNS": "200"}).stdout.replace("│", " ").split())
    assert "cannot be a detection base yet: --metadata COL gives the same digests" in help_text
