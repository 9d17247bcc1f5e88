"""The copies rule's anchor (``provenance/gate/copies_anchor.py``): which version it is, and that a check fails
closed when it cannot be reached. Real spam7 rows (they repeat: every release adds copies of earlier records),
a real store, real keys; the attacks edit ``prov.db`` with sqlite3 as a ``.prov/`` writer can."""

from __future__ import annotations

import json
import sqlite3

import pyarrow.parquet as pq
import pytest

from support import spam7_table, validate_output


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


@pytest.fixture
def chain(prov, workdir, store, keypair):
    """Three clean releases of spam7 in file order, each the parent of the next: v1 (2,000 rows), v2 (2,400),
    v3 (2,800)."""
    for tag, rows in (("v1", 2000), ("v2", 2400), ("v3", 2800)):
        pq.write_table(spam7_table(slice(0, rows)), f"{tag}.parquet")
        r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path)
        assert r.exit_code == 0, r.output
    return workdir


def copies_rule(prov, *options: str) -> tuple[int, dict, dict]:
    """``prov check v3 --base v2 --format json``: (exit code, report, the copies rule's row)."""
    r = prov("check", "v3", "--base", "v2", "--format", "json", *options)
    report = json.loads(r.stdout)
    validate_output("check", report)
    return r.exit_code, report, next(x for x in report["rules"] if x["rule"] == "copies.max_copies_rate")


def test_a_clean_chain_passes_its_anchor_the_oldest_signed_version(prov, chain):
    code, report, rule = copies_rule(prov)
    assert rule["status"] == "pass", rule["reason"]
    anchor = rule["statistic"]["anchor"]
    assert anchor["version"] == "v1" and anchor["chosen_by"] == "oldest signed ancestor" and anchor["problem"] is None
    # every copy of v1's records since v1: both releases' rows
    assert anchor["rows_added"] > 700 and anchor["copies"] >= rule["statistic"]["copies_of_base"], anchor
    assert anchor["excess"] == 0 and anchor["anchor_rows"] == 2000, anchor


def test_the_policy_names_the_anchor_and_the_base_turns_it_off(prov, chain, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[copies]\nanchor = "v2"\n')
    _, _, rule = copies_rule(prov, "--policy", str(policy))
    assert rule["status"] == "pass" and rule["statistic"]["anchor"] is None, rule
    policy.write_text('[copies]\nanchor = "v1"\n')
    _, _, rule = copies_rule(prov, "--policy", str(policy))
    assert rule["statistic"]["anchor"]["chosen_by"] == "policy", rule


def test_an_anchor_outside_the_base_chain_fails_closed(prov, chain, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[copies]\nanchor = "v3"\n')  # the candidate: not the base or a signed ancestor of it
    code, report, rule = copies_rule(prov, "--policy", str(policy))
    assert code == 1 and rule["status"] == "block", rule
    assert "copies.anchor names 'v3', which is not v2 or one of its signed ancestors (v1)" in rule["reason"]
    assert rule["statistic"]["anchor"]["problem"] and rule["statistic"]["excess"] == 0, rule["statistic"]
    policy.write_text('[copies]\nanchor = "v3"\ncopies_added = "warn"\n')
    code, _, rule = copies_rule(prov, "--policy", str(policy))
    assert code == 0 and rule["status"] == "warn", rule


def edit_db(workdir, sql: str) -> None:
    """Run ``sql`` on the store's prov.db with sqlite3, as a ``.prov/`` writer can."""
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    with db:
        db.execute(sql)
    db.close()


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        # a .prov/ writer deletes v1's row to move the oldest signed ancestor forward to v2 (whose rates would
        # hold whatever v2 let in)
        ("delete from versions where tag = 'v1'", "its signed parent 'v1' is missing"),
        # the writable parent column says v2 has none: its signed statement still names v1
        ("update versions set parent = null where tag = 'v2'", "signed parent 'v1' differs from None"),
    ],
)
def test_an_edited_chain_fails_closed_and_does_not_move_the_anchor(prov, chain, pins, edit, why):
    from provenance.gate.copies_anchor import find_anchor
    from provenance.store import Store

    edit_db(chain, edit)
    store = Store(chain / ".prov")
    store.pins = pins
    anchor = find_anchor(store, "v2", None, 2800)
    assert anchor.version is None and anchor.problem is not None, anchor
    assert anchor.problem.startswith("the chain of signed parents of v2 does not hold") and why in anchor.problem
    # the check as a whole: the base's own signature check blocks first, and nothing else is judged on it
    r = prov("check", "v3", "--base", "v2", "--format", "json")
    assert r.exit_code == 1, r.output
