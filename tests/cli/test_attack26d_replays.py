"""Attack review 26d: the copies rule's anchor test (``provenance/gate/copies_anchor.py``, session 26). Real spam7
rows, real stores and keys; the attacks edit ``prov.db`` and ``.prov/objects`` as a ``.prov/`` writer can, or sign
with the commit key as its holder (a thief) can.

Findings (strict xfails until branch fixanchor26 fixed them; each replay says "(fixed)"): A26d-1 an empty
oldest version made the default anchor test vacuous; A26d-2 a small oldest version (a 100-row pilot) blocked clean
releases; A26d-3 a deleted anchor manifest was answered with advice to move the anchor; A26d-4 an anchor-only
block was headlined "0 more than ..." and its one "To release:" step was copies_added = "warn". The rest are attacks that held."""

from __future__ import annotations

import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import test_attack22b_replays as r22b

from provenance.gate.copies_anchor import find_anchor
from provenance.store import Store
from support import commit_table, resign_version, spam7_table, validate_output

RULE = "copies.max_copies_rate"


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def commit(prov, tag: str, rows: slice, key, *options: str) -> None:
    pq.write_table(spam7_table(rows), f"{tag}.parquet")
    r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", key, *options)
    assert r.exit_code == 0, r.output


@pytest.fixture
def chain(prov, workdir, store, keypair):
    """Three clean releases of spam7 in file order, each the parent of the next: v1 (2,000 rows), v2 (2,400),
    v3 (2,800), as tests/cli/test_copies_anchor.py's."""
    for tag, rows in (("v1", 2000), ("v2", 2400), ("v3", 2800)):
        commit(prov, tag, slice(0, rows), keypair.private_path)
    return workdir


def check(prov, new: str = "v3", base: str = "v2", *options: str) -> tuple[int, dict, dict | None]:
    """``prov check NEW --base BASE --format json``: (exit code, report, the copies rule's row or None)."""
    r = prov("check", new, "--base", base, "--format", "json", *options)
    assert r.exit_code in (0, 1), (r.exit_code, r.output)
    report = json.loads(r.stdout)
    validate_output("check", report)
    return r.exit_code, report, next((x for x in report["rules"] if x["rule"] == RULE), None)


def db(workdir) -> sqlite3.Connection:
    return sqlite3.connect(workdir / ".prov" / "prov.db")


def object_path(workdir, tag: str, column: str):
    with db(workdir) as conn:
        [oid] = conn.execute(f"select {column} from versions where tag = ?", [tag]).fetchone()
    [path] = (workdir / ".prov" / "objects").glob(f"{oid}*")
    return path


@pytest.fixture
def anchor_manifest_gone(chain):
    """The chain with v1's (the default anchor's) manifest object deleted, as a ``.prov/`` writer can."""
    object_path(chain, "v1", "manifest_object").unlink()
    return chain


def blocked(report: dict) -> list[str]:
    return [f"{x['rule']}: {x['reason'][:300]}" for x in report["rules"] if x["status"] == "block"]


@pytest.mark.parametrize("damage", ["delete", "garbage", "truncate"])
def test_a_damaged_anchor_manifest_fails_closed(prov, chain, damage):
    # Held: a .prov/ writer deletes, overwrites or truncates the default anchor's (v1's) manifest object; no other
    # rule notices (integrity verifies the base's and the candidate's), and the copies rule blocks, exit 1, naming it.
    path = object_path(chain, "v1", "manifest_object")
    data = path.read_bytes()
    if damage == "delete":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"PAR1" + b"\0" * 100 + b"PAR1")
    else:
        path.write_bytes(data[: len(data) // 2])
    code, report, rule = check(prov)
    assert code == 1 and [b.split(":")[0] for b in blocked(report)] == [RULE], blocked(report)
    assert rule["statistic"]["anchor"]["problem"].startswith("the anchor's copies cannot be counted"), rule


def test_the_advice_for_a_damaged_anchor_manifest_is_to_restore_it(prov, anchor_manifest_gone):
    # A26d-3 (fixed): a manifest a .prov/ writer deleted is answered with restoring .prov/, not moving the anchor
    _, _, rule = check(prov)
    assert "turns the anchor test off" not in rule["reason"], rule["reason"]
    assert "restore" in rule["reason"], rule["reason"]


def test_a_cycle_signed_by_a_stolen_key_fails_closed(prov, chain, keypair, pins):
    # Held: the commit key signs v1 again naming v2 as its parent (v2 -> v1 -> v2). The walk stops at the cycle
    # (find_anchor's problem names it); the check blocks on the audit log's commit entry of v1 first.
    with db(chain) as conn:
        [root] = conn.execute("select merkle_root from versions where tag = 'v2'").fetchone()
    resign_version(
        chain, "v1", keypair.private_path, lambda p: p.__setitem__("parent", {"version": "v2", "merkleRoot": root})
    )
    with db(chain) as conn:
        conn.execute("update versions set parent = 'v2' where tag = 'v1'")
    store = Store(chain / ".prov")
    store.pins = pins
    anchor = find_anchor(store, "v2", None, 2800)
    store.close()
    assert anchor.problem is not None and "cycle" in anchor.problem, anchor
    code, report, _ = check(prov)
    assert code == 1 and blocked(report)[0].startswith("integrity.verify_signatures"), blocked(report)


def test_a_renamed_anchor_fails_closed(prov, chain):
    # Held: a .prov/ writer renames v1 (and v2's parent column) to move a policy's copies.anchor = "v1" off it.
    with db(chain) as conn:
        conn.execute("update versions set tag = 'v0' where tag = 'v1'")
        conn.execute("update versions set parent = 'v0' where tag = 'v2'")
    code, report, _ = check(prov)
    assert code == 1 and blocked(report) == [
        "integrity.verify_signatures: version v2: signed parent 'v1' differs from 'v0'"
    ]


@pytest.mark.parametrize(
    ("value", "problem"), [("5", "must be a string, not int 5"), ('""', "must be a version name, not ''")]
)
def test_a_bad_anchor_in_the_policy_is_exit_2_naming_the_file(prov, chain, tmp_path, value, problem):
    policy = tmp_path / "p.toml"
    policy.write_text(f"[copies]\nanchor = {value}\n")
    before = (chain / ".prov" / "prov.db").read_bytes()
    r = prov("check", "v3", "--base", "v2", "--policy", str(policy))
    assert r.exit_code == 2 and r.stderr == f"Error: {policy}:2: copies.anchor: {problem}\n", r.stderr
    assert (chain / ".prov" / "prov.db").read_bytes() == before


def test_an_empty_oldest_version_is_skipped_and_the_ratchet_still_blocks(prov, workdir, store, keypair):
    commit(prov, "pilot", slice(0, 0), keypair.private_path, "--allow-empty")  # refused without it (newcomer 27)
    base, batch = spam7_table(slice(0, 2000)), spam7_table(slice(2000, 2400))
    accepted = pa.concat_tables([base, batch, base.take(r22b.flood_under_quantiles(base, batch, total=True))])
    nxt = spam7_table(slice(2400, 2800))
    flood = r22b.flood_under_quantiles(accepted, nxt, total=True)
    for tag, table in (
        ("base", base),
        ("cand", accepted),
        ("next", pa.concat_tables([accepted, nxt, accepted.take(flood)])),
    ):
        commit_table(prov, keypair, tag, table)
    code, report, rule = check(prov, "next", "cand")
    anchor = rule["statistic"]["anchor"]
    # A26d-1 (fixed): an empty first version (or any under MIN_ANCHOR_ROWS) is passed over for the oldest one that
    # holds 1,000 rows and a third of the base's (attack review 26h, A26h-1: never the candidate's)
    assert anchor["version"] == "base" and anchor["anchor_rows"] == 2000 and anchor["excess"] > 0, anchor
    assert code == 1 and RULE in [b.split(":")[0] for b in blocked(report)], blocked(report)


def test_clean_random_releases_after_a_small_pilot_pass(prov, workdir, store, keypair, tmp_path):
    commit(prov, "pilot", slice(0, 100), keypair.private_path)
    for k, rows in enumerate((2000, 2400, 2800)):
        commit(prov, f"r{k}", slice(0, rows), keypair.private_path)
    # A26d-2 (fixed): the 100-row pilot is passed over; r1's check has no anchor test (only the base, r0, is large
    # enough) and says so; r2's is anchored at r0
    for k, anchor in ((1, None), (2, "r0")):
        code, report, rule = check(prov, f"r{k}", f"r{k - 1}")
        assert rule["statistic"]["anchor"]["version"] == anchor, rule["statistic"]["anchor"]
        if anchor is None:
            assert rule["statistic"]["anchor"]["reason"].startswith("no signed ancestor of r0 holds 1,000 rows")
        assert rule["statistic"]["excess"] == 0  # the test against the base passes these clean rows
        assert rule["status"] == "pass", (k, rule["reason"])
    # a policy that names the pilot is followed, and the statistic says its rates are loose
    policy = tmp_path / "policy.toml"
    policy.write_text('[copies]\nanchor = "pilot"\n')
    _, _, rule = check(prov, "r2", "r1", "--policy", str(policy))
    anchor = rule["statistic"]["anchor"]
    assert anchor["version"] == "pilot" and anchor["reason"].startswith("small anchor: pilot holds 100 rows"), anchor


def test_an_anchor_block_is_not_headlined_as_none_over(prov, anchor_manifest_gone):
    r = prov("check", "v3", "--base", "v2")
    assert r.exit_code == 1 and "BLOCKED by 1 of" in r.output, r.output[:400]
    headline = r.output.splitlines()[1] + " " + r.output.splitlines()[2]
    assert "0 more than a delivery" not in headline and "anchor" in headline, headline


def test_an_anchor_block_s_step_is_not_to_turn_the_rule_to_warn(prov, anchor_manifest_gone):
    from provenance.report.next_steps import release_steps

    r = prov("check", "v3", "--base", "v2", "--format", "json")
    steps = [s.what for s in release_steps(json.loads(r.stdout))]
    assert not any('copies_added = "warn"' in s for s in steps), steps
    assert any("restore .prov/" in s for s in steps), steps


def test_after_a_reviewed_re_delivery_naming_its_release_as_anchor_lets_the_next_clean_one_pass(
    prov, workdir, store, keypair, tmp_path
):
    # Held: v2 re-delivers 300 of v1's rows on purpose (released with copies_added = "warn"); the next clean release
    # v3 blocks on the anchor test (v1), whose reason says to set copies.anchor to a later version; naming v2, the
    # release that took the re-delivery in, passes v3, and v4 is then judged against v2's rates (not switched off).
    v1 = spam7_table(slice(0, 2000))
    for tag, table in (
        ("v1", v1),
        ("v2", pa.concat_tables([v1, spam7_table(slice(2000, 2400)), v1.slice(0, 300)])),
    ):
        commit_table(prov, keypair, tag, table)
    v2 = pa.concat_tables([v1, spam7_table(slice(2000, 2400)), v1.slice(0, 300)])
    v3 = pa.concat_tables([v2, spam7_table(slice(2400, 2800))])
    commit_table(prov, keypair, "v3", v3)
    commit_table(prov, keypair, "v4", pa.concat_tables([v3, spam7_table(slice(2800, 3200))]))
    code, _, rule = check(prov, "v3", "v2")
    assert rule["status"] == "block" and rule["statistic"]["excess"] == 0, rule["reason"]
    assert "if they were reviewed and meant, set copies.anchor to a later version" in rule["reason"], rule["reason"]
    # A26d-4 (fixed): the decision line names the anchor's excess, and the step is copies.anchor, not the rule to warn
    from provenance.report.next_steps import release_steps

    r = prov("check", "v3", "--base", "v2")
    assert "more than the anchor v1's repetition explains" in r.output.splitlines()[1], r.output[:400]
    steps = [s.what for s in release_steps(check(prov, "v3", "v2")[1])]
    assert steps == [
        'copies since the anchor v1 reviewed and meant: [copies] anchor = "<a later version>" (one that holds them, '
        "e.g. v2: later releases are then judged against its rates) (a policy file: start from prov check "
        "--print-default-policy, check with --policy FILE)"
    ], steps
    policy = tmp_path / "policy.toml"
    policy.write_text('[copies]\nanchor = "v2"\n')
    _, _, rule = check(prov, "v3", "v2", "--policy", str(policy))
    assert rule["status"] == "pass" and rule["statistic"]["anchor"] is None, rule["reason"]
    _, _, rule = check(prov, "v4", "v3", "--policy", str(policy))
    assert rule["status"] == "pass" and rule["statistic"]["anchor"]["version"] == "v2", rule["reason"]
