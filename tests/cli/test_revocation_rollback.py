"""A `.prov/` writer rolls back a source-key revocation by truncating the audit log and its checkpoint.

Attack review 5, finding 3: after `prov trust revoke vendor --checkpoint-key maintainer.key`, whoever
holds the stolen vendor key and can write `.prov/` deletes the revocation's audit entries and its
checkpoint and restores the `trust` rows (sqlite3): the store is consistent again, the revoked key's
new batch is attested, and the gate passes. A release carries the audit log's state (an RFC 9162
tree head), so a release signed after the revocation catches the rollback: `prov check --attest`
(an attestation kept in the store), `prov audit verify --checkpoint ATTESTATION` (one kept outside)
and a training job's `--release-state` (an RFC 9162 consistency proof from the newest log state it
accepted).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from jsonschema import Draft202012Validator

from support import payload, roll_back_log

PINNED = ("--signer", "maintainer.pub")
POLICY = ("--policy", "policy.toml")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def ok(prov, *args):
    r = prov(*args)
    assert r.exit_code == 0, (args, r.output)
    return r


def forget_attestations(workdir: Path, snapshot: Path) -> None:
    """The attacker's next step: delete the rows of the attestations made since the snapshot."""
    db, old = sqlite3.connect(workdir / ".prov" / "prov.db"), sqlite3.connect(snapshot)
    kept = [r[0] for r in old.execute("select object from attestations")]
    db.execute(f"delete from attestations where object not in ({','.join('?' * len(kept))})", kept)
    db.commit()
    db.close()
    old.close()


def _new_records(base: pa.Table, n: int) -> pa.Table:
    """``n`` records in no version: each the pixel-wise mean (rounded down) of two base records of one class."""
    import pyarrow.compute as pc

    labels = base.column("label").to_pylist()
    pairs, seen = [], {}
    for i, label in enumerate(labels):
        if label in seen and len(pairs) < n:
            pairs.append((seen.pop(label), i))
        else:
            seen[label] = i
    first, second = base.take([a for a, _ in pairs]), base.take([b for _, b in pairs])
    columns = {
        name: pc.divide(pc.add(first.column(name), second.column(name)), 2) if name != "label" else first.column(name)
        for name in base.column_names
    }
    return pa.table(columns)


def test_a_rolled_back_revocation_is_caught_by_the_log_state_a_release_signed(prov, template_trust, workdir):
    job = ("--release-state", "job.json", "--no-data", *PINNED)
    ok(prov, "verify", "v2", "--attestation", "v2.attestation.json", *job)
    shutil.copy(workdir / ".prov" / "prov.db", workdir / "before-revoke.db")

    # the maintainer revokes the stolen vendor key, and releases after it: the release signs the log's state
    ok(prov, "trust", "revoke", "vendor", "--reason", "stolen", "--yes", "--checkpoint-key", "maintainer.key")
    ok(prov, "check", "v3q", "--base", "v2", *POLICY, "--attest", "--key", "maintainer.key", *PINNED)
    statement = payload(json.loads(Path("v3q.attestation.json").read_text()))
    Draft202012Validator(json.loads((SCHEMAS / "release-attestation.schema.json").read_text())).validate(statement)
    signed_log = statement["predicate"]["https://prov.dev/release/v1"]["auditLog"]
    assert (
        signed_log["treeSize"] > sqlite3.connect("before-revoke.db").execute("select max(seq) from audit").fetchone()[0]
    )
    # the log the check started from, before its own detector run: what a CI checkout (which keeps none of the
    # check's writes) holds
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    first_own = db.execute("select min(seq) from audit where action = 'detect' and subject = 'v3q'").fetchone()[0]
    assert signed_log["treeSize"] == first_own - 1
    db.close()
    r = ok(prov, "verify", "v3q", "--attestation", "v3q.attestation.json", *job)
    assert f"audit log at {signed_log['treeSize']} entries" in r.stdout
    state = json.loads(Path("job.json").read_text())
    Draft202012Validator(json.loads((SCHEMAS / "release-state.schema.json").read_text())).validate(state)
    assert state["auditLog"] == signed_log

    # the thief rolls the revocation back, registers a batch signed with the revoked key; the maintainer commits
    roll_back_log(workdir / ".prov" / "prov.db", workdir / "before-revoke.db")
    assert "nothing pending" in ok(prov, "audit", "verify", *PINNED).stdout  # consistent with itself
    thief = _new_records(pq.read_table("v1.parquet"), 30)  # not crowd's: v3q quarantined those, and that blocks
    pq.write_table(thief, "thief.parquet")
    ok(prov, "sign", "thief.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "add", "thief.parquet", "--source", "vendor", *PINNED)  # the store forgot the revocation
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), thief]), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert prov("check", "v4", "--base", "v2", *POLICY, *PINNED).exit_code == 0  # the lineage rules cannot tell

    # 1. prov check --attest: the store still holds the release signed after the revocation
    r = prov("check", "v4", "--base", "v2", *POLICY, "--attest", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 1 and not Path("v4.attestation.json").exists()
    assert "Error: attestation " in r.stderr and "of v3q (release" in r.stderr
    assert "the store's audit log is not an extension of the log state it signed" in r.stderr

    # the thief deletes that attestation's row too: the store alone no longer knows, what was kept outside does
    forget_attestations(workdir, workdir / "before-revoke.db")
    ok(prov, "check", "v4", "--base", "v2", *POLICY, "--attest", "--key", "maintainer.key", *PINNED)
    # 2. prov audit verify --checkpoint with the release's attestation kept outside the store (the CI example)
    r = prov("audit", "verify", "--checkpoint", "v3q.attestation.json", *PINNED)
    assert r.exit_code == 1 and "the log lost or changed entries it covered (a rolled-back store" in r.stderr
    # 3. the training job that accepted the release after the revocation
    r = prov("verify", "v4", "--attestation", "v4.attestation.json", *job)
    assert r.exit_code == 1
    assert "no RFC 9162 consistency proof from the audit log of release" in r.stderr
    assert (
        "accepted by this job" in r.stderr and "entries were removed or rewritten between the two releases" in r.stderr
    )
    assert json.loads(Path("job.json").read_text())["version"] == "v3q"  # nothing recorded


def test_check_attest_reports_the_log_as_its_own_closing_checkpoint_left_it(prov, template_trust, workdir):
    """Newcomer review 5: `prov check --attest` said "1 of 14 entries pending" (its own detector run),
    computed before the checkpoint the attestation signs; `prov audit verify` right after said nothing
    was pending. Both now agree."""
    r = ok(prov, "check", "v3q", "--base", "v2", *POLICY, "--attest", "--key", "maintainer.key", *PINNED)
    assert "audit log: all" in r.stdout and "pending" not in r.stdout
    assert "nothing pending" in ok(prov, "audit", "verify", *PINNED).stdout
    doc = json.loads(
        ok(prov, "check", "v3q", "--base", "v2", *POLICY, "--attest", "--key", "maintainer.key", "--attest-out",
           "again.json", "--format", "json", *PINNED).stdout
    )  # fmt: skip
    assert doc["audit"]["pending"] == [] and doc["audit"]["signed"] == doc["audit"]["entries"]


def test_a_job_that_keeps_a_log_state_refuses_an_attestation_without_one(prov, template_trust, workdir):
    """An attestation by an older prov (no auditLog, here re-signed by the maintainer's own key) cannot
    show the log kept its entries: it is refused, unrecorded, and so it is for a job that keeps no state (attack
    review 35l, A35l-1: the attestation's own log state is one the store's log must extend)."""
    from provenance import keys, signing

    job = ("--release-state", "job.json", "--no-data", *PINNED)
    ok(prov, "verify", "v2", "--attestation", "v2.attestation.json", *job)
    statement = payload(json.loads(Path("v2.attestation.json").read_text()))
    del statement["predicate"]["https://prov.dev/release/v1"]["auditLog"]
    env = signing.sign(statement, keys.load_private("maintainer.key"))
    Path("old.json").write_bytes(signing.canonical_json(env))
    before = Path("job.json").read_bytes()
    r = prov("verify", "v2", "--attestation", "old.json", *job)
    assert r.exit_code == 1 and "old.json: carries no audit-log state" in r.stderr
    assert Path("job.json").read_bytes() == before
    r = prov("verify", "v2", "--attestation", "old.json", "--no-data", *PINNED)  # no state kept: refused too (A35l-1)
    assert r.exit_code == 1 and "old.json: carries no audit-log state" in r.stderr, r.output


def test_a_job_refuses_a_release_state_kept_inside_the_store(prov, template_trust, workdir):
    """The job's release state is its guard against a rolled-back log; kept in `.prov/` (or through a link
    there), whoever writes `.prov/` can roll it back with the log (newcomer review 19, H8). Refused before
    anything is read or written (exit 2), naming the file; the store is left as it was."""
    before = (workdir / ".prov" / "prov.db").read_bytes()
    for state in (".prov/job.json", "job-link.json"):
        if state == "job-link.json":
            Path(state).symlink_to(workdir / ".prov" / "job2.json")
        r = prov("verify", "v2", "--attestation", "v2.attestation.json", "--release-state", state, "--no-data", *PINNED)
        assert r.exit_code == 2, r.output
        assert f"--release-state {state}: is inside the store" in r.output
        assert not (workdir / ".prov" / "job.json").exists() and not (workdir / ".prov" / "job2.json").exists()
    assert (workdir / ".prov" / "prov.db").read_bytes() == before
    ok(
        prov,
        "verify",
        "v2",
        "--attestation",
        "v2.attestation.json",
        "--release-state",
        "job.json",
        "--no-data",
        *PINNED,
    )
