"""Newcomer review 32's smaller findings: a release whose working file moved on is refused with what to do, a
quarantine's removals are named as the quarantine's, a stolen key's advice names the batch-level ways, ``prov
sources`` lists batch ids, and a refused batch verification inside a store is one short line."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance
from provenance.errors import VerificationError
from support import check_rules, commit_signed, digits_table, ok, validate_output


def test_a_release_whose_file_moved_on_is_refused_with_the_way_to_restore_it(prov, workdir, keypair):
    table = digits_table(300)
    pq.write_table(table.slice(0, 200), "train.parquet")
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "v1", "train.parquet")
    pq.write_table(table.slice(0, 250), "train.parquet")  # the next delivery appended to the same file
    commit_signed(prov, keypair, "v2", "train.parquet")
    pq.write_table(table, "train.parquet")  # and the one after
    with pytest.raises(VerificationError) as refused:
        provenance.load("v2", pins=[keypair.public_path]).arrays()
    message = str(refused.value)
    assert "train.parquet#250: record " in message and "is not in the signed manifest of version v2" in message
    assert message.endswith(
        "the data changed since it was signed; next: restore the data v2 signed (from git, DVC or a backup) and load "
        "again; a release loads only while its data stays as signed, so keep each release's data (one file per "
        "release, or DVC/git); every record that changed: prov verify v2 --json"
    ), message
    pq.write_table(table.slice(0, 250), "train.parquet")  # restored: the same release loads
    X, y = provenance.load("v2", pins=[keypair.public_path]).arrays()
    assert len(X) == len(y) == 250


def test_sources_lists_each_batch_id_that_withdraw_takes(prov, workdir, keypair):
    table = digits_table(120)
    pq.write_table(table.slice(0, 40), "crowd1.parquet")
    pq.write_table(table.slice(40, 30), "crowd2.parquet")
    assert prov("init").exit_code == 0
    pins = ("--signer", keypair.public_path)
    added = [
        ok(prov, "add", name, "--source", "crowd", "--unsigned", *pins) for name in ("crowd1.parquet", "crowd2.parquet")
    ]
    first, second = (line.split()[2].rstrip(":") for line in added)  # "Added batch crowd@...: 40 records ..."
    ok(prov, "withdraw", second, "--reason", "never shipped", "--key", keypair.private_path, *pins)
    text = ok(prov, "sources", *pins)
    assert "batches (the ids prov withdraw takes):" in text, text
    rows = [line.split() for line in text.splitlines() if line.startswith("  crowd@")]
    assert rows == [[first, "unsigned", "40", "records"], [second, "unsigned", "30", "records", "withdrawn"]], text
    report = json.loads(ok(prov, "sources", "--json", *pins))
    validate_output("sources", report)
    assert report["sources"][0]["registered_batches"] == [
        {
            "batch": first,
            "signed": False,
            "keys_pinned": None,
            "records": 40,
            "withdrawn": False,
            "signature_not_trusted": None,
        },
        {
            "batch": second,
            "signed": False,
            "keys_pinned": None,
            "records": 30,
            "withdrawn": True,
            "signature_not_trusted": None,
        },
    ]


def test_a_possibly_stolen_source_key_is_answered_batch_by_batch_before_cutting_the_source_out(prov, workdir):
    # a trusted vendor signed 70 records a thousandfold beyond the base (attack review 31d's control): its key is
    # what they point at, but cutting the vendor out would remove its clean earlier deliveries too
    from test_attack31d_replays import _vendor_delivery_held

    steps = _vendor_delivery_held(prov, 1, 1000.0)
    retire = (
        "or, if vendor's key may be stolen (most flagged records are its signed ones), end its trust from when it may "
        "have been, so what it signed before stays attested, and have vendor sign with a new key: prov trust retire "
        "vendor --key-id ID --at T --key K (prov trust revoke vendor --reason R --checkpoint-key K takes away all it "
        "signed; docs/security-model.md, A stolen key)"
    )
    withdraw = (
        "then leave out only the batches signed since, not vendor's whole history: remove their records, commit "
        "again, and withdraw each by its id (vendor@ROOT12: prov sources lists them): prov withdraw BATCH --reason R "
        "--key K"
    )
    cut = (
        "or, if every batch of vendor is in doubt, cut vendor out (its clean history too): prov quarantine --from v2 "
        "--source vendor --tag NEW --key K"
    )
    assert retire in steps and withdraw in steps and cut in steps, steps
    assert steps.index(retire) < steps.index(withdraw) < steps.index(cut), steps


def test_a_folder_added_as_one_source_and_quarantined_is_named_at_each_step(prov, workdir, keypair):
    # v4: 400 records of no source; the newcomer registers a whole folder (240 of v4's records and 60 new ones) as
    # one unsigned source, commits it, and quarantines that source as the check advised
    rows = digits_table(500)
    pq.write_table(rows.slice(0, 400), "v4.parquet")
    pq.write_table(pa.concat_tables([rows.slice(160, 240), rows.slice(400, 60)]), "scrape.parquet")
    pq.write_table(rows.slice(0, 460), "v5.parquet")
    pins = ("--signer", keypair.public_path)
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "v4", "v4.parquet")
    r = prov("add", "scrape.parquet", "--source", "scraper", "--unsigned", *pins)
    assert r.exit_code == 0, r.output
    batch = r.stdout.split()[2].rstrip(":")
    assert (
        f"Note: 240 of batch {batch}'s 300 records are already in v4: the next commit gives them to scraper, so prov "
        "quarantine --source scraper would cut them with the rest; to register only what is new, add a file of the "
        "new records instead"
    ) in " ".join(r.stderr.split()), r.stderr
    commit_signed(prov, keypair, "v5", "v5.parquet")
    r = prov("quarantine", "--from", "v5", "--source", "scraper", "--tag", "v6", "--key", keypair.private_path, *pins)
    assert r.exit_code == 0, r.output
    assert "Quarantined source 'scraper': 300 records removed, 160 kept" in r.stdout
    assert (
        "240 of the records cut were already in v4, v5's parent: --source cuts every record scraper's batches carry, "
        "base records delivered again too; to cut only what v5 added, commit its data without them instead (prov "
        "commit DATA --parent v5 --tag NEW --key K)"
    ) in " ".join(r.stderr.split()), r.stderr
    rules = check_rules(prov, "v6", "v4", *pins)
    assert rules["removals.max_unsigned_removed_rate"]["status"] == "pass"
    assert rules["removals.max_unsigned_removed_rate"]["reason"] == (
        "no unsigned base records removed outside a signed quarantine; 240 removed by signed quarantine v6"
    )


def test_an_unsigned_batch_of_new_records_gets_no_note(prov, workdir, keypair):
    rows = digits_table(300)
    pq.write_table(rows.slice(0, 200), "v1.parquet")
    pq.write_table(rows.slice(200, 100), "crowd.parquet")
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "v1", "v1.parquet")
    r = prov("add", "crowd.parquet", "--source", "crowd", "--unsigned", "--signer", keypair.public_path)
    assert r.exit_code == 0 and "already in" not in r.stderr, r.output
