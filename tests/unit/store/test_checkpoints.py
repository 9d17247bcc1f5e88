"""Signed checkpoints over the audit log: what they sign, what they cover, what is pending."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from provenance import keys, merkle, signing, versions
from provenance.errors import InputError, VerificationError
from provenance.lineage import register
from provenance.sources.interface import DatasetSpec
from provenance.store import audit, coverage
from provenance.store import checkpoints as cps
from support import digits_table

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


@pytest.fixture
def committed(store, keypair, workdir):
    """A store with v1 committed (which signs a checkpoint) and an unsigned batch added after it."""
    pq.write_table(digits_table(120), workdir / "d.parquet")
    pq.write_table(digits_table(40, seed=1).slice(0, 40), workdir / "crowd.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), "v1", keypair.private_path, stages=[])
    register.add_batch(store, DatasetSpec(str(workdir / "crowd.parquet")), "crowd", unsigned=True)
    return store


def pinned(*pairs) -> dict:
    return {p.keyid: keys.load_public(p.public_path) for p in pairs}


def test_a_commit_signs_a_tree_head_over_every_entry_it_logged(committed, keypair):
    (row,) = cps.checkpoint_rows(committed.db)
    rows = audit.entries(committed.db)
    assert [e["action"] for e in rows] == ["key.register", "commit", "batch.add"]
    # the envelope is an in-toto Statement with the RFC 9162 root of the first two entries, signed by the committer
    data = committed.objects.get(row["object"])
    env = json.loads(data)
    stmt = signing.verify(env, pinned(keypair)).statement
    Draft202012Validator(json.loads((SCHEMAS / "audit-checkpoint.schema.json").read_text())).validate(stmt)
    leaves = [merkle.leaf_hash(audit.entry_bytes(e)) for e in rows[:2]]
    assert stmt["predicate"]["treeSize"] == 2 == row["size"]
    assert stmt["predicate"]["rootHash"] == merkle.merkle_root(leaves).hex() == row["root"]
    assert stmt["predicate"]["headHash"] == rows[1]["hash"]
    assert base64.b64decode(env["payload"]) == signing.canonical_json(stmt)


def test_entries_after_the_last_signed_head_are_pending(committed, keypair, workdir):
    cov = coverage.coverage(committed, pinned(keypair))
    assert (cov.entries, cov.signed, cov.pinned) == (3, 2, True) and cov.by.startswith("checkpoint ")
    assert [e["action"] for e in cov.pending] == ["batch.add"] and not cov.covers(3) and cov.covers(2)
    # a key nobody pinned covers nothing; without pins the store's keys are used, and it says so
    stranger = keys.generate(workdir / "stranger")
    assert coverage.coverage(committed, pinned(stranger)).signed == 0
    unpinned = coverage.coverage(committed)
    assert (unpinned.signed, unpinned.pinned) == (2, False) and "only against keys found in the store" in (
        unpinned.summary()
    )
    # signing a checkpoint with a pinned key covers the pending entry
    with committed.write(cps.CheckpointKey.load(keypair.private_path)):
        committed.audit("note", "x", {})
    assert coverage.coverage(committed, pinned(keypair)).pending == []


def test_a_version_signature_covers_the_entries_before_its_head(store, keypair, workdir):
    """A store made before checkpoints: its versions' signed heads still count as signed heads."""
    pq.write_table(digits_table(60), workdir / "d.parquet")
    for tag in ("v1", "v2"):
        versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), tag, keypair.private_path, stages=[])
    store.db.execute("delete from checkpoints")  # as if written before this change
    cov = coverage.coverage(store, pinned(keypair))
    assert cov.by == "version v2" and cov.signed == 2  # its head was taken before its own commit entry
    assert [(e["action"], e["subject"]) for e in cov.pending] == [("commit", "v2")]


def test_verify_log_checks_consistency_and_refuses_a_rewritten_prefix(committed, keypair):
    with committed.write(cps.CheckpointKey.load(keypair.private_path)):
        committed.audit("note", "x", {})
    report = coverage.verify_log(committed, pinned(keypair))
    assert [c["size"] for c in report["checkpoints"]] == [2, 4] and report["pending"] == []
    Draft202012Validator(json.loads((SCHEMAS / "audit-verify.schema.json").read_text())).validate(report)
    # rewrite entry 2's detail and re-chain everything after it: the chain is whole again, the checkpoints are not
    rechain(committed, 2, detail='{"keyid":"forged"}')
    audit.verify_chain(committed.db)
    with pytest.raises(VerificationError, match="first 2 entries are not the ones checkpoint .* signed"):
        coverage.verify_log(committed, pinned(keypair))


def test_a_checkpoint_kept_outside_the_store_catches_a_truncated_log(committed, keypair, workdir):
    kept = workdir / "kept.json"
    cp = cps.checkpoint_now(committed, cps.CheckpointKey.load(keypair.private_path))
    kept.write_bytes(committed.objects.get(cp.object))
    # the attacker drops the last entry, and every checkpoint that covered it
    committed.db.execute("delete from audit where seq = 3")
    committed.db.execute("delete from checkpoints where size = 3")
    coverage.verify_log(committed, pinned(keypair))  # consistent with itself
    trusted = pinned(keypair)
    with pytest.raises(VerificationError, match="covers 3 entries but the log has 2"):
        coverage.verify_log(committed, trusted, [cps.checkpoint_from_file(str(kept), trusted)])


def test_a_malformed_or_foreign_checkpoint_file_is_refused(committed, keypair, workdir):
    bad = workdir / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad.json: envelope is not JSON"):
        cps.checkpoint_from_file(str(bad), pinned(keypair))
    with pytest.raises(InputError, match=r"missing.json: cannot read checkpoint"):
        cps.checkpoint_from_file(str(workdir / "missing.json"), pinned(keypair))
    # a signed statement of another kind (a version) is not a checkpoint
    v1 = committed.version("v1")
    other = workdir / "v1.json"
    other.write_bytes(committed.objects.get(v1["envelope_object"]))
    with pytest.raises(InputError, match="not an audit checkpoint"):
        cps.checkpoint_from_file(str(other), pinned(keypair))


def rechain(store, seq: int, detail: str) -> None:
    """What an attacker with write access to prov.db does: edit one entry, recompute every hash after it."""
    rows = audit.entries(store.db)
    prev = rows[seq - 2]["hash"] if seq > 1 else audit.GENESIS
    for e in rows[seq - 1 :]:
        e = dict(e, prev_hash=prev, detail=detail if e["seq"] == seq else e["detail"])
        h = audit.hashlib.sha256(audit.entry_bytes(e)).hexdigest()
        store.db.execute(
            "update audit set detail = ?, prev_hash = ?, hash = ? where seq = ?", [e["detail"], prev, h, e["seq"]]
        )
        prev = h


def test_a_checkpoint_that_leaves_version_entries_pending_signs_them_and_vouches_for_none(committed, keypair):
    """A revocation's checkpoint (``left_pending``): the seqs are in its signed predicate (schema-valid), every other
    entry it covers is signed, the commit entry it names is pending; without the list the predicate is the four
    fields prov always signed (a verifier reading an older store reads the same bytes)."""
    private = keys.load_private(keypair.private_path)
    with committed.write():
        cp = cps.sign_checkpoint(committed, private, "maintainer", left_pending=[2])
    assert cp is not None and cp.left_pending == (2,) and cp.size == 3
    stmt = signing.verify(json.loads(committed.objects.get(cp.object)), pinned(keypair)).statement
    Draft202012Validator(json.loads((SCHEMAS / "audit-checkpoint.schema.json").read_text())).validate(stmt)
    assert stmt["predicate"]["pendingVersionEntries"] == [2]
    (older,) = [r for r in cps.checkpoint_rows(committed.db) if r["object"] != cp.object]
    older_stmt = signing.verify(json.loads(committed.objects.get(older["object"])), pinned(keypair)).statement
    assert sorted(older_stmt["predicate"]) == ["headHash", "rootHash", "timestamp", "treeSize"]
    cov = coverage.coverage(committed, pinned(keypair))
    assert cov.signed == 3 and cov.covers(3) and cov.covers(1)  # covered by the checkpoint v1's commit signed
    assert cov.covers(2)  # v1's own commit checkpoint vouches for its entry; the new one adds nothing
    committed.db.execute("delete from checkpoints where object = ?", [older["object"]])
    cov = coverage.coverage(committed, pinned(keypair))
    assert (cov.signed, cov.covers(2), cov.covers(3)) == (3, False, True)
    assert [(e["seq"], e["action"]) for e in cov.pending] == [(2, "commit")]


@pytest.mark.parametrize("left", [[0], [4], ["2"], "2", [True]])
def test_a_checkpoint_naming_entries_it_does_not_cover_as_left_pending_is_malformed(committed, keypair, left):
    private = keys.load_private(keypair.private_path)
    rows, hashes = cps.leaves(committed.db)
    root = merkle.merkle_root(hashes)
    predicate = {
        "treeSize": 3,
        "rootHash": root.hex(),
        "headHash": rows[-1]["hash"],
        "timestamp": "2026-12-04T00:00:00Z",
    }
    predicate["pendingVersionEntries"] = left
    env = signing.sign(signing.statement(cps.SUBJECT, root, cps.CHECKPOINT_TYPE, predicate), private)
    with pytest.raises(InputError, match="pendingVersionEntries must list entries it covers"):
        cps.parse_checkpoint(signing.canonical_json(env), "cp.json", pinned(keypair))
