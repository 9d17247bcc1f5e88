"""Replays of attack review 26e's findings on ``prov status``'s ``data_of`` (A26e-4, A26e-5), through the CLI on
real stores. (A26e-1..3, the file identity, are replayed in ``tests/unit/sources/test_file_changed.py``.)

``data_of`` counts a version's commit entry only when a head signed by a trusted key covers it (A26a-3). Both
findings are about that rule and pull opposite ways: a version's own signed ``auditLogHead`` is the head *before*
its commit entry, so counting the entry right after it (A26e-4's fix) also counts a planted entry put back exactly
where a rolled-back version's was (A26a-3's replay: the restored log ends there), and the reviewer's rule for
A26e-5 (only the entry right after its own head) does not exclude that entry either.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3

import pyarrow.parquet as pq
import pytest
from test_attack26a_replays import commit_v1_v2, plant_rolled_back_v3

from provenance import keys
from support import digits_table, ok, one_line, plant_findings, store_fingerprint, validate_output


def _data_of(prov, data, version, pinned) -> list[str]:
    doc = json.loads(ok(prov, "status", data, "--version", version, "--json", *pinned))
    validate_output("status", doc)
    return doc["data_of"]


def test_a26e_4_the_newest_versions_own_entry_counts_under_its_checkpoint_and_not_without_one(prov, workdir):
    """Confirmed only with no trusted checkpoint: every commit signs one over its own entry, so in the normal flow
    ``status V2_DATA --version v1`` names v2; with the checkpoints gone (a ``.prov/`` writer deleted them) v2's
    entry is pending and the hint is left out (fails closed: data_of is a hint, nothing decides on it)."""
    table = digits_table(400)
    pq.write_table(table.slice(0, 340), "v2.parquet")
    pq.write_table(table.slice(0, 300), "train.parquet")
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    pinned = ("--signer", "maintainer.pub")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", *pinned)
    shutil.copy("v2.parquet", "train.parquet")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v2", "--key", "maintainer.key", *pinned)
    assert _data_of(prov, "v2.parquet", "v1", pinned) == ["v2"]
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from checkpoints")
    db.close()
    assert "PENDING" in ok(prov, "audit", "verify", *pinned)
    assert _data_of(prov, "v2.parquet", "v1", pinned) == []


def _commit_clean_v4(prov, *extra: str):
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    return prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", *extra)


def test_held_a26e_5_a_planted_commit_entry_is_refused_by_the_next_commit(prov, workdir):
    """v3 was rolled back; a ``.prov/`` writer put its row and a chain-valid commit entry back (pending). The
    maintainer's next commit would take v3 as its parent and sign a checkpoint over the planted entry, after which
    ``status POISONED --version v2`` named v3 again. Now the commit is refused, exit 1 with one line naming the
    entry and what to do, before any data is read, and ``.prov/`` is byte-for-byte as it was."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.copy("train.parquet", "poisoned.parquet")
    before = store_fingerprint(workdir / ".prov")
    for parent in ((), ("--parent", "v2")):  # naming the honest parent does not help: the checkpoint covers all
        r = _commit_clean_v4(prov, *parent, *pinned)
        assert r.exit_code == 1, r.output
        line = one_line(r)
        assert "version v3's commit entry (audit entry" in line and "is pending" in line, line
        assert "prov audit verify" in line and "restore .prov/" in line and "prov audit checkpoint" in line, line
        assert store_fingerprint(workdir / ".prov") == before
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []
    assert "PENDING" in ok(prov, "audit", "verify", *pinned)

    shutil.rmtree(".prov")  # the way out that needs no decision: restore the copy the maintainer trusts
    shutil.copytree("backup", ".prov")
    out = ok(prov, "commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", *pinned)
    assert "parent v2" in out, out
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []


def test_held_a26e_5_the_planted_entry_is_refused_by_every_write_that_signs_a_checkpoint(prov, workdir):
    """Not only ``prov commit``: any write that signs a checkpoint (here ``prov trust add`` and ``trust retire`` with
    ``--checkpoint-key``) would cover the planted entry the same way; it is refused alike and writes nothing. A revocation is not blocked by
    it: it stands, pending, and the command says why (as over a broken log)."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.copy("train.parquet", "poisoned.parquet")
    ok(prov, "keys", "generate", "vendor")
    signing = ("--key", "maintainer.key", "--checkpoint-key", "maintainer.key", *pinned)
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "add", "vendor", "vendor.pub", *signing)
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []

    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned)  # signs no checkpoint
    keyid = keys.key_id(keys.load_public("vendor.pub"))[:16]
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "retire", "vendor", "--key-id", keyid, "--yes", *signing)  # its checkpoint before the end too
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_a_revocations_checkpoint_does_not_vouch_for_a_planted_commit_entry(prov, workdir):
    """A revocation still signs (revoking a stolen key is never held up), but its checkpoint names the version
    entries no commit key's head vouched for as left pending, in its signed predicate: v3's put-back entry stays
    pending (``status`` does not name v3, the next commit refuses it, ``audit verify`` lists it), the command says
    so on stderr, and a ``.prov/`` writer cannot drop the list (it is signed). Signing the log knowingly
    (``prov audit checkpoint``) still accepts it. Before: the revocation's checkpoint vouched for it, data_of
    named v3."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.copy("train.parquet", "poisoned.parquet")
    ok(prov, "keys", "generate", "vendor")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned)  # signs no checkpoint
    r = prov("trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key",
             "--out", "revocation.cp", *pinned)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "does not vouch for 1 version entry" in r.stderr and "(commit v3)" in r.stderr, r.stderr
    trust = json.loads(ok(prov, "trust", "list", "--json", *pinned))
    assert all(k["revocation_signed"] for k in trust["keys"] if k.get("revoked_at")), trust  # the revocation is signed
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []
    doc = json.loads(ok(prov, "audit", "verify", "--json", *pinned))
    validate_output("audit-verify", doc)
    (revocations,) = [c for c in doc["checkpoints"] if c["left_pending"]]
    v3 = [e for e in doc["pending"] if (e["action"], e["subject"]) == ("commit", "v3")]
    assert v3 and revocations["left_pending"] == [v3[0]["seq"]], (revocations, doc["pending"])
    assert doc["signed"] == revocations["size"], doc["signed"]  # the revocation's entry is signed, v3's not
    kept = json.loads(ok(prov, "audit", "verify", "--checkpoint", "revocation.cp", "--json", *pinned))
    assert kept["signed_by"].startswith("checkpoint") or kept["signed_by"].startswith("kept log state"), kept
    assert v3[0] in kept["pending"], kept["pending"]  # the kept file is the revocation's checkpoint, list and all
    r = _commit_clean_v4(prov, *pinned)
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output

    ok(prov, "audit", "checkpoint", "--key", "maintainer.key", *pinned)  # the maintainer's knowing decision
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == ["v3"]
    assert not json.loads(ok(prov, "audit", "verify", "--json", *pinned))["pending"]


def test_held_a26e_5_signing_the_log_knowingly_accepts_the_pending_entry(prov, workdir):
    """The documented way to accept it: ``prov audit checkpoint --key`` signs the log as it is (the maintainer's
    decision, after ``prov audit verify``), and commits run again. Here the pending entry is the maintainer's own
    v2, whose checkpoints a ``.prov/`` writer deleted (A26e-4's state)."""
    _, pinned = commit_v1_v2(prov)
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from checkpoints")
    db.close()
    r = _commit_clean_v4(prov, *pinned)
    assert r.exit_code == 1 and "version v2's commit entry" in one_line(r), r.output
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key", *pinned)
    out = ok(prov, "commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", *pinned)
    assert "parent v2" in out, out


def test_a_planted_detector_run_covered_by_the_next_commit_is_not_listed_as_signed(prov, template_trust, workdir):
    """The other entries a later honest signature covers, replayed: a ``.prov/`` writer stores an edited copy of the
    newest ``prov diff --detect`` run (every record unflagged) and a chain-valid ``detect`` entry naming it. Pending,
    ``prov findings v2`` lists it as not signed; after the maintainer's next commit (not refused: ``detect`` entries
    are honestly pending) it was listed as signed by that commit's checkpoint (found fixing A26e-5; fixed in session
    34: ``signed_by`` is null for every run, as no key signs one; ``covered_by`` names the head that dates it, and
    ``--recompute`` is what catches it)."""
    pinned = ("--signer", "maintainer.pub")
    ok(prov, "diff", "v1", "v2", "--detect", *pinned)

    def unflag(doc: dict) -> None:
        for finding in doc["findings"]:
            finding["flagged"] = False

    plant_findings(workdir, "v2", unflag)
    listed = json.loads(ok(prov, "findings", "v2", "--json", *pinned))
    assert listed["signed_by"] is None and listed["covered_by"] is None, listed
    ok(prov, "-q", "commit", "v3.parquet", "--tag", "v4", "--key", "maintainer.key", *pinned)
    listed = json.loads(ok(prov, "findings", "v2", "--json", *pinned))
    validate_output("findings", listed)
    assert listed["signed_by"] is None, listed["signed_by"]
    assert listed["covered_by"].startswith("checkpoint"), listed["covered_by"]  # dated by v4's write, no more
    text = ok(prov, "findings", "v2", *pinned)
    assert "Not checked:" in text and "covers the log, not who ran the detectors" in " ".join(text.split()), text
    r = prov("findings", "v2", "--recompute", *pinned)
    assert r.exit_code == 1 and "differs from the detectors re-run" in r.output, r.output


def test_the_revocations_list_of_left_pending_entries_cannot_be_dropped_by_a_prov_writer(prov, workdir):
    """The attacker's move against the fix: a ``.prov/`` writer rewrites the revocation's checkpoint without its
    ``pendingVersionEntries`` (a new object, its row pointed at it, the signature kept). The signature no longer
    verifies: the checkpoint vouches for nothing (``audit verify`` names it, exit 1), v3 stays out of
    ``data_of`` and the next commit still refuses v3's entry."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.copy("train.parquet", "poisoned.parquet")
    ok(prov, "keys", "generate", "vendor")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned)
    ok(prov, "trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key",
       *pinned)  # fmt: skip
    objects = workdir / ".prov" / "objects"
    with sqlite3.connect(".prov/prov.db") as db:
        [(oid,)] = db.execute("select object from checkpoints order by size desc, created_at desc limit 1")
        env = json.loads((objects / f"{oid}.json").read_bytes())
        statement = json.loads(base64.b64decode(env["payload"]))
        assert statement["predicate"].pop("pendingVersionEntries")  # the revocation's, as signed
        env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        data = json.dumps(env).encode()
        new = hashlib.sha256(data).hexdigest()
        (objects / f"{new}.json").write_bytes(data)
        db.execute("update checkpoints set object = ? where object = ?", [new, oid])
    db.close()
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []
    r = prov("audit", "verify", *pinned)
    assert r.exit_code == 1 and f"{new}.json: signature by key" in one_line(r) and "does not verify" in one_line(r)
    r = _commit_clean_v4(prov, *pinned)
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output


class _PlantsWhileHashing:
    """The ``.prov/`` writer acting while a commit hashes and runs its stages (no lock taken, sqlite3 on
    ``prov.db``): puts back the rolled-back v3's row and commit entry, after the commit's first refusal passed.
    A commit stage's ``prepare`` runs exactly there, so the race is replayed without timing."""

    name = "plants v3"

    def __init__(self, rows: dict[str, list[dict]]):
        self.rows = rows

    def prepare(self, job):
        with sqlite3.connect(".prov/prov.db") as db:
            for table, put in self.rows.items():
                for r in put:
                    db.execute(
                        f"insert into {table} ({', '.join(r)}) values ({', '.join('?' * len(r))})", [*r.values()]
                    )
        db.close()
        return self

    def record(self, store, tag, predicate) -> None:
        return None


def test_a_version_entry_planted_while_a_commit_hashes_is_refused_under_the_lock(prov, workdir):
    """The race the second refusal (under the lock) is there for: v3's row and entry are put back after ``prov
    commit``'s first refusal passed and before its write. Under the lock the commit's own new version head (signed
    in that write, its commit entry after it) vouched for everything before it, v3's planted entry too, so v4 was
    written with parent v3. Only heads that were there before the write vouch now: refused, v4 not written."""
    from test_attack27c_replays import _rows

    from provenance import versions
    from provenance.errors import VerificationError
    from provenance.sources.interface import DatasetSpec
    from provenance.store import Store
    from provenance.trust.pins import Pins

    plant_rolled_back_v3(prov, workdir)
    planted = _rows({"versions": ("tag = 'v3'", []), "audit": ("action = 'commit' and subject = 'v3'", [])})
    with sqlite3.connect(".prov/prov.db") as db:  # taken out again: the log the commit starts from is clean
        db.execute("delete from versions where tag = 'v3'")
        db.execute("delete from audit where action = 'commit' and subject = 'v3'")
    db.close()
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    store = Store.open(workdir, Pins.load(["maintainer.pub"]))
    try:
        with pytest.raises(VerificationError, match="version v3's commit entry"):
            versions.commit(
                store, DatasetSpec("train.parquet"), "v4", "maintainer.key", stages=[_PlantsWhileHashing(planted)]
            )
    finally:
        store.close()
    with sqlite3.connect(".prov/prov.db") as db:
        assert db.execute("select count(*) from versions where tag = 'v4'").fetchone() == (0,)
    db.close()


def test_a_key_revocations_checkpoint_leaves_the_planted_entry_pending_too(prov, workdir):
    """``prov keys revoke --checkpoint-key`` (a maintainer key's revocation) takes the same path as ``trust revoke``:
    made, signed, v3's put-back entry named on stderr and left pending."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.copy("train.parquet", "poisoned.parquet")
    ok(prov, "keys", "generate", "laptop")
    ok(prov, "keys", "register", "laptop.pub", "--name", "laptop")
    keyid = keys.key_id(keys.load_public("laptop.pub"))
    r = prov("keys", "revoke", keyid[:16], "--reason", "stolen", "--checkpoint-key", "maintainer.key", "--out", "k.cp",
             *pinned)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "does not vouch for 1 version entry" in r.stderr and "(commit v3)" in r.stderr, r.stderr
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []
    r = _commit_clean_v4(prov, *pinned)
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output
