"""Attack review 28a: fresh replays against fix28a (one vouching rule for every reader, ``vouching.unvouched_entries``;
a revocation's checkpoint names ``pendingVersionEntries`` and vouches for none of them; under the lock only heads from
before the write; the hand-off of the first refusal's answer, ``vouched.log_state``). Real stores, real keys, real
roots; the ``.prov/`` writer edits with sqlite3 and plants files."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_attack26a_replays import commit_v1_v2, plant_rolled_back_v3
from test_attack27c_replays import _roots

from provenance import keys
from support import digits_table, ok, one_line, store_fingerprint, validate_output

RULE = "lineage.block_quarantined_sources"


def _with_source(table: pa.Table, name: str) -> pa.Table:
    return table.append_column("source", pa.array([name] * table.num_rows, pa.string()))


def _flipped(table: pa.Table) -> pa.Table:
    labels = pc.cast(pc.add(pc.cast(table.column("label"), pa.int64()), 1), pa.string())
    labels = pc.utf8_slice_codeunits(pc.binary_join_element_wise(pa.scalar("0"), labels, ""), -1)
    return table.set_column(table.schema.get_field_index("label"), "label", labels)


def _sql(*statements: str) -> None:
    with sqlite3.connect(".prov/prov.db") as db:
        for s in statements:
            db.execute(s)
    db.close()


def _quarantine_world(prov) -> dict:
    """Root: commit to maintainer, waive to reviewer. v1 holds vendor's 400 and crowd's 60 flipped records; rc, cut
    from v1 with 20 more vendor records, is committed as a side branch; then v2 = ``prov quarantine --from v1
    --source crowd``; then the reviewer's CI runner signs a checkpoint (``prov audit checkpoint --key reviewer.key``).
    Returns the env pinning the root."""
    keys.generate("maintainer")
    keys.generate("reviewer")
    (root,) = _roots(prov, ["maintainer.pub"], "reviewer.pub")
    env = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": root}
    assert prov("init").exit_code == 0
    rows = digits_table(480)
    vendor, crowd = _with_source(rows.slice(0, 400), "vendor"), _with_source(_flipped(rows.slice(400, 60)), "crowd")
    pq.write_table(pa.concat_tables([vendor, crowd]), "a.parquet")
    pq.write_table(pa.concat_tables([vendor, crowd, _with_source(rows.slice(460, 20), "vendor")]), "rc.parquet")
    signing = ("--key", "maintainer.key")
    for args in (
        ("commit", "a.parquet", "--source-column", "source", "--tag", "v1", *signing),
        ("commit", "rc.parquet", "--source-column", "source", "--tag", "rc", "--parent", "v1", *signing),
        ("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", *signing),
        ("audit", "checkpoint", "--key", "reviewer.key"),
    ):
        r = prov("-q", *args, env=env)
        assert r.exit_code == 0, (args, r.output)
    return env


def _rule(prov, env) -> tuple[int, dict]:
    r = prov("check", "rc", "--base", "v1", "--format", "json", env=env)
    doc = json.loads(r.stdout)
    return r.exit_code, {x["rule"]: x for x in doc["rules"]}


def _data_of(prov, data: str, version: str, pinned) -> list[str]:
    doc = json.loads(ok(prov, "status", data, "--version", version, "--json", *pinned))
    validate_output("status", doc)
    return doc["data_of"]


def _pending_versions(prov, *args: str) -> list[tuple[str, str]]:
    doc = json.loads(ok(prov, "audit", "verify", "--json", *args))
    validate_output("audit-verify", doc)
    return [(e["action"], e["subject"]) for e in doc["pending"] if e["action"] in ("commit", "quarantine")]


def _commit_v4(prov, *extra: str):
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    return prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", *extra)


def _unpinned_revocation_over_put_back_v3(prov, workdir, planted_key: bool, command: str = "trust"):
    """plant_rolled_back_v3's world (v3's row and chain-valid commit entry put back by a ``.prov/`` writer), a vendor
    key trusted; with ``planted_key`` the ``.prov/`` writer also runs ``prov audit checkpoint --key mallory.key`` with
    nothing pinned (it registers mallory's key in ``.prov/``'s ``keys`` table and signs the log, v3's entry in it).
    Then the maintainer revokes the vendor's key (``command`` "keys": a registered laptop key) with a checkpoint,
    nothing pinned (README's "A stolen key" shows
    ``prov keys revoke OLD --checkpoint-key NEW.key`` without ``--signer``). Returns the verifier's pins and the
    revocation's result."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.copy("train.parquet", "poisoned.parquet")
    ok(prov, "keys", "generate", "vendor")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned)
    if planted_key:
        ok(prov, "keys", "generate", "mallory")
        ok(prov, "audit", "checkpoint", "--key", "mallory.key")  # the .prov/ writer, with a key of their own
    return pinned, prov(
        "trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key"
    )


def test_held_an_unpinned_revocation_without_a_planted_key_leaves_v3_pending(prov, workdir):
    """The control for A28a-1: with nothing pinned the revocation's list is computed under the store's own keys; with
    only the maintainer's key there, v3's put-back entry is named and stays pending under the verifier's pins."""
    pinned, r = _unpinned_revocation_over_put_back_v3(prov, workdir, planted_key=False)
    assert r.exit_code == 0, r.output
    assert "does not vouch for 1 version entry" in r.stderr and "(commit v3)" in r.stderr, r.stderr
    assert ("commit", "v3") in _pending_versions(prov, *pinned)
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []
    r = _commit_v4(prov, *pinned)
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output


# A28a-1 was a strict xfail; fixed by the lead: with nothing pinned, a revocation counts only its own key's heads
# (vouched.unvouched's unpinned). Its reason, kept:
# reason="A28a-1: a revocation run with nothing pinned computes its pendingVersionEntries under the store's own "
# "keys (vouching.commit_keys returns None), so a key a .prov/ writer registered (prov audit checkpoint --key "
# "mallory.key) vouches for v3's put-back commit entry; the revocation's checkpoint, signed by the maintainer's "
# "pinned key, leaves it off its list and so vouches for it under every verifier's pins: audit verify lists "
# "nothing pending, status names v3 again (data_of) and the next pinned commit takes v3 as its parent",
@pytest.mark.parametrize("command", ["trust", "keys"])
def test_a28a_1_an_unpinned_revocation_vouches_for_a_planted_entry_a_planted_key_covered(prov, workdir, command):
    """A28a-1 (medium): the .prov/ writer's key, registered in ``.prov/``, is trusted by a revocation made with nothing
    pinned, and the revocation's checkpoint then vouches, with the maintainer's key, for what that key signed."""
    pinned, r = _unpinned_revocation_over_put_back_v3(prov, workdir, planted_key=True, command=command)
    assert r.exit_code in (0, 2), r.output  # made (its list naming v3), or refused unpinned as commit is (exit 2)
    assert ("commit", "v3") in _pending_versions(prov, *pinned)
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []
    before = store_fingerprint(workdir / ".prov")
    r = _commit_v4(prov, *pinned)
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


# A28a-2 was a strict xfail; fixed by fix29a: the signing writes' refusal (vouched.unvouched) counts the log states
# the command was given (--checkpoint F, vouched.remember_kept) as prov audit verify's coverage does. Its reason, kept:
# reason="A28a-2: a kept log state (--checkpoint F, a commit key's checkpoint kept outside .prov/) vouches for a "
# "version entry in prov audit verify (coverage's kept heads) but not in the signing writes' refusal (vouched."
# "unvouched reads no kept file): with the stored checkpoints deleted, audit verify --checkpoint F says 'nothing "
# "pending' while commit --checkpoint F refuses v2's entry as pending and tells the user to run prov audit verify",
def test_a28a_2_a_kept_commit_key_checkpoint_vouches_in_audit_verify_and_in_the_commits_refusal(prov, workdir):
    """A28a-2 (low; failed closed, the readers disagreed): the maintainer kept the log state after v2 (``prov audit
    checkpoint --out kept.cp``, as CI keeps one); a ``.prov/`` writer deletes the stored checkpoints. Without the kept
    file both readers name v2's commit entry pending (the commit refused, store unchanged); given it, both let it
    through: audit verify lists nothing pending and the commit is made."""
    commit_v1_v2(prov)
    pinned = ("--signer", "maintainer.pub")
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *pinned)
    _sql("delete from checkpoints")
    assert ("commit", "v2") in _pending_versions(prov, *pinned)
    before = store_fingerprint(workdir / ".prov")
    r = _commit_v4(prov, *pinned)
    assert r.exit_code == 1 and "version v2's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before
    assert _pending_versions(prov, "--checkpoint", "kept.cp", *pinned) == []
    r = _commit_v4(prov, "--checkpoint", "kept.cp", *pinned)
    assert r.exit_code == 0, r.output
    assert _pending_versions(prov, *pinned) == []  # v4's own checkpoint now signs the log, v2's entry in it


def test_a_kept_checkpoint_by_a_waive_only_key_vouches_in_neither_reader(prov, workdir):
    """Fail closed (A28a-2's one rule): a kept log state signed by a key the root pins only for the waive role (a
    reviewer's CI runner) covers v2's commit entry but vouches for it in neither reader: audit verify --checkpoint F
    names it pending, and commit --checkpoint F refuses it (exit 1, naming it, store unchanged)."""
    keys.generate("maintainer")
    keys.generate("reviewer")
    (root,) = _roots(prov, ["maintainer.pub"], "reviewer.pub")
    env = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": root}
    ok(prov, "init")
    table = digits_table(400)
    for tag, n in (("v1", 300), ("v2", 340)):
        pq.write_table(table.slice(0, n), "train.parquet")
        r = prov("-q", "commit", "train.parquet", "--tag", tag, "--key", "maintainer.key", env=env)
        assert r.exit_code == 0, r.output
    r = prov("audit", "checkpoint", "--key", "reviewer.key", "--out", "kept.cp", env=env)
    assert r.exit_code == 0, r.output
    _sql("delete from checkpoints")
    doc = json.loads(prov("audit", "verify", "--json", "--checkpoint", "kept.cp", env=env).stdout)
    validate_output("audit-verify", doc)
    assert [(e["action"], e["subject"]) for e in doc["pending"] if e["action"] == "commit"] == [("commit", "v2")]
    before = store_fingerprint(workdir / ".prov")
    pq.write_table(table.slice(0, 360), "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", "--checkpoint", "kept.cp", env=env)
    assert r.exit_code == 1 and "version v2's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_held_a_quarantine_under_a_waive_keys_checkpoint_alone_still_blocks(prov, workdir):
    """fix28a applies the commit-key rule to ``quarantine`` entries too, for the gate's backstop
    (``quarantine_history.checkpointed_quarantines``, ``version_facts._checkpointed_quarantines``): a quarantine
    entry that only a waive key's checkpoint covers no longer counts there. Held: the quarantine entry is written
    before v2's commit entry, so v2's own signed head vouches for it; the attacker who deletes the maintainer's
    checkpoints still meets the quarantine (read from v2's signed facts), and deleting v2's row as well
    is caught by integrity (v2's commit entry, covered by the reviewer's checkpoint, has no version): blocked both
    times, never passed."""
    env = _quarantine_world(prov)
    code, rules = _rule(prov, env)
    assert code == 1 and rules[RULE]["status"] == "block" and rules[RULE]["count"] == 60, rules[RULE]
    maintainer = keys.key_id(keys.load_public("maintainer.pub"))
    _sql(f"delete from checkpoints where keyid = '{maintainer}'")
    verify = prov("audit", "verify", "--json", env=env)
    doc = json.loads(verify.stdout)
    validate_output("audit-verify", doc)
    # v2's commit entry is pending (only the deleted checkpoint vouched for it); its quarantine entry, written before
    # it, is under v2's own signed audit head, which a commit key signed
    assert [(e["action"], e["subject"]) for e in doc["pending"] if e["action"] in ("commit", "quarantine")] == [
        ("commit", "v2")
    ], doc["pending"]
    code, rules = _rule(prov, env)
    assert code == 1 and rules[RULE]["status"] == "block" and rules[RULE]["count"] == 60, rules[RULE]
    _sql("delete from versions where tag = 'v2'")
    code, rules = _rule(prov, env)
    assert code == 1, rules
    assert "version v2 (commit entry" in rules["integrity.verify_signatures"]["reason"], rules


def test_held_revoking_the_commit_key_itself_leaves_its_entries_pending_and_fails_closed(prov, workdir):
    """``prov keys revoke`` of the commit key (the one that signed v1 and v2) with another pinned key's checkpoint:
    read after the revocation's own entry, the revoked key's heads no longer vouch, so the revocation's checkpoint
    names v1's and v2's commit entries as left pending (signed), says so, and vouches for neither; the kept file
    carries the list (its statement valid against schemas/audit-checkpoint); audit verify and a commit by the other
    key both fail closed (exit 1: v1's and v2's envelopes no longer verify), nothing exits 3."""
    commit_v1_v2(prov)
    ok(prov, "keys", "generate", "second")
    both = ("--signer", "maintainer.pub", "--signer", "second.pub")
    keyid = keys.key_id(keys.load_public("maintainer.pub"))
    r = prov("keys", "revoke", keyid[:16], "--reason", "stolen", "--yes", "--checkpoint-key", "second.key",
             "--out", "k.cp", *both)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "does not vouch for 2 version entries" in r.stderr and "(commit v1)" in r.stderr, r.stderr
    statement = json.loads(base64.b64decode(json.loads(Path("k.cp").read_bytes())["payload"]))
    validate_output("audit-checkpoint", statement)
    assert statement["predicate"]["pendingVersionEntries"] == [2, 3], statement["predicate"]
    r = prov("audit", "verify", *both)
    assert r.exit_code == 1 and "envelope of v1" in one_line(r), r.output
    r = prov("commit", "train.parquet", "--tag", "v4", "--key", "second.key", *both)
    assert r.exit_code == 1 and "revoked" in one_line(r), r.output


# A28a-3 was a strict xfail; fixed by the lead: the note queries only the five entries it names. Its reason, kept:
# reason="A28a-3: vouched.left_pending_note binds one SQL variable per left-pending entry (select ... where seq in "
# "(?, ?, ...)); past SQLite's variable limit (32,766 on stock builds since 3.32, 999 before, 250,000 here) the "
# "query raises, and prov trust/keys revoke, its revocation already committed and signed, exits 3 saying 'store "
# "database cannot be read (too many SQL variables); run prov fsck'",
def test_a28a_3_naming_more_left_pending_entries_than_sqlite_binds_crashes_the_revocation(prov, workdir):
    """A28a-3 (low): replayed whole once by hand (tests/cli, 250,001 chain-valid ``commit`` entries planted with
    sqlite3 after v2, then ``prov trust revoke vendor --checkpoint-key maintainer.key`` under the pins: exit 3 with
    that message after 47 s, the ``trust.revoke`` entry and its checkpoint committed). Here the note is asked for
    directly, over a real store, for a checkpoint leaving that many entries pending: the same query, in a second."""
    from provenance.store import Store, vouched
    from provenance.store.checkpoints import Checkpoint
    from provenance.trust.pins import Pins

    commit_v1_v2(prov)
    many = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) + 1
    store = Store.open(workdir, Pins.load(["maintainer.pub"]))
    try:
        store.written_checkpoint = Checkpoint(many, "0" * 64, "0" * 64, "", "", "", tuple(range(1, many + 1)))
        note = vouched.left_pending_note(store)
    finally:
        store.close()
    assert note is not None and f"does not vouch for {many} version entries" in note, note


# A28a-4 was a strict xfail; fixed by the lead: audit_words.audit_line names an entry under a head that does not vouch for it as such. Its reason, kept:
# reason="A28a-4: report.audit_words.audit_line (prov show's, check's audit line) still reads every pending entry "
# "as after the newest signed head: over v3's put-back entry that the revocation's checkpoint signs and leaves "
# "pending, prov show says '1 of 6 entries pending (after checkpoint X: 1 commit entry; not relied on until a "
# "checkpoint or version signs them)', while X covers all 6 and signed that entry (fix28a fixed these words in "
# "audit verify's text only, 385bd79)",
def test_a28a_4_show_calls_an_entry_the_revocations_checkpoint_signs_pending_after_it(prov, workdir):
    """A28a-4 (low: words): the audit line ``prov show`` prints names the left-pending entry as after the checkpoint
    that covers it, where ``prov audit verify`` says '1 version entry PENDING under checkpoint X'."""
    pinned = plant_rolled_back_v3(prov, workdir)
    ok(prov, "keys", "generate", "vendor")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned)
    ok(prov, "trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key",
       *pinned)  # fmt: skip
    doc = json.loads(ok(prov, "audit", "verify", "--json", *pinned))
    assert [(e["action"], e["subject"]) for e in doc["pending"]] == [("commit", "v3")], doc["pending"]
    assert doc["pending"][0]["seq"] < doc["signed"] == doc["entries"], doc  # under the newest checkpoint
    assert "1 version entry PENDING under checkpoint" in ok(prov, "audit", "verify", *pinned)
    (line,) = [x for x in ok(prov, "show", "v2", *pinned).splitlines() if "audit log:" in x]
    assert "after checkpoint" not in line, line


class _EditsWhileHashing:
    """The ``.prov/`` writer acting between a commit's first refusal and its write (a commit stage's ``prepare`` runs
    exactly there, so no timing): runs ``sql`` on ``prov.db`` with sqlite3."""

    name = "edits prov.db"

    def __init__(self, sql: str):
        self.sql = sql

    def prepare(self, job):
        _sql(self.sql)
        return self

    def record(self, store, tag, predicate) -> None:
        return None


def test_held_an_entry_edited_in_place_between_the_refusals_is_caught_though_the_state_does_not_move(prov, workdir):
    """The hand-off (``vouched.log_state``) hashes the chain hash of the last entry, not the entries' fields: a
    ``.prov/`` writer who turns the newest entry (a ``key.register``) into a ``commit`` of v9 in place, hashes left
    as they were, leaves the state the first refusal cleared unchanged, so the second refusal is skipped. Held: the
    signing then checks the whole chain (``checkpoints.signable_entries``), so the commit (its parent named, v2) fails,
    exit 1 naming the edited entry, and v4 is not written."""
    from provenance import versions
    from provenance.errors import VerificationError
    from provenance.sources.interface import DatasetSpec
    from provenance.store import Store, vouched
    from provenance.trust.pins import Pins

    commit_v1_v2(prov)
    ok(prov, "keys", "generate", "laptop")
    ok(prov, "keys", "register", "laptop.pub", "--name", "laptop")  # entry 4, after every commit
    edit = "update audit set action = 'commit', subject = 'v9' where seq = 4"
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    store = Store.open(workdir, Pins.load(["maintainer.pub"]))
    try:
        before = vouched.log_state(store, store.audit_head()[0])
        with pytest.raises(VerificationError, match="entry 4 .*was edited.*prov signs no log state over a broken log"):
            versions.commit(
                store, DatasetSpec("train.parquet"), "v4", "maintainer.key", "v2", stages=[_EditsWhileHashing(edit)]
            )
        assert vouched.log_state(store, store.audit_head()[0]) == before  # the state did not see the edit
    finally:
        store.close()
    with sqlite3.connect(".prov/prov.db") as db:
        assert db.execute("select count(*) from versions where tag = 'v4'").fetchone() == (0,)
    db.close()


def test_held_audit_checkpoint_out_keeps_the_revocations_list_and_the_json_fits_its_schema(prov, workdir):
    """After a revocation that left v3's put-back entry pending: ``prov audit checkpoint --out F --json`` over the same
    log keeps the revocation's checkpoint, list and all (documented), its output valid against
    audit-checkpoint-result; ``prov audit checkpoint --json`` (stored) signs a fresh one with no list, the knowing
    signature, and v3's entry is then vouched for. Both outputs fit the schema."""
    pinned = plant_rolled_back_v3(prov, workdir)
    ok(prov, "keys", "generate", "vendor")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned)
    ok(prov, "trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key",
       "--out", "revocation.cp", *pinned)  # fmt: skip
    kept = json.loads(
        ok(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "again.cp", "--json", *pinned)
    )
    validate_output("audit-checkpoint-result", kept)
    v3 = [e["seq"] for e in json.loads(ok(prov, "audit", "verify", "--json", *pinned))["pending"]]
    assert kept["left_pending"] == v3 and len(v3) == 1, (kept, v3)
    assert Path("again.cp").read_bytes() == Path("revocation.cp").read_bytes()
    fresh = json.loads(ok(prov, "audit", "checkpoint", "--key", "maintainer.key", "--json", *pinned))
    validate_output("audit-checkpoint-result", fresh)
    assert fresh["left_pending"] == [] and fresh["object"] != kept["object"], fresh
    assert _pending_versions(prov, *pinned) == []
