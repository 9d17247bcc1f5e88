"""A release number names a version, in commit order (newcomer review 21, finding 15).

Attesting a version again keeps its number, so a training job that accepted a newer release refuses the older
version however often it is attested (refreshed before it expires, or an old CI run repeated). A version
released for the first time after one committed after it used to jump above it instead: the same rollback,
accepted because the older version had not been attested before.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from provenance import keys
from support import (
    attest_against_v2,
    commit_older_and_newer,
    digits_table,
    one_line,
    release_of,
    releases_out_of_commit_order,
    store_fingerprint,
    succeeded,
)

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")
STATE = ("--release-state", "job-state.json", "--no-data", *PINNED)


def attest(prov, tag: str) -> int:
    r = prov("check", tag, "--base", "v2", "--policy", "policy.toml", "--attest", *KEY, "--force", *PINNED)
    assert r.exit_code == 0, r.output
    return release_of(f"{tag}.attestation.json")


def test_an_older_version_released_after_a_newer_one_stays_below_it(prov, template_trust, workdir):
    commit_older_and_newer(prov)
    newer = attest(prov, "newer")
    assert newer == 6  # the store's 6th version (after v1, v2, v3, v3q, older): commit_ordinal
    r = prov("verify", "newer", "--attestation", "newer.attestation.json", *STATE)
    assert r.exit_code == 0, r.output

    older = attest(prov, "older")  # first released now, after the version committed after it
    assert older == 5  # was 7: one more than every kept release, the newer one's too
    r = prov("verify", "older", "--attestation", "older.attestation.json", *STATE)
    assert r.exit_code == 1 and "release 5 (older) is older than release 6 (newer)" in one_line(r), r.output
    # as attesting it again does, and the newer release's own number stays
    assert (attest(prov, "older"), attest(prov, "newer")) == (5, 6)


def release_first(monkeypatch, tag: str) -> list[subprocess.CompletedProcess]:
    """Another CI job's ``prov check TAG --base v2 --attest`` (a real ``prov`` process), run once when this
    process's next attestation write is about to take the store's lock (as its key is made); its result."""
    from provenance.gate import attestation

    checkpoint_key, other_job = attestation.CheckpointKey, []

    def other_job_first(*args, **kwargs):
        if not other_job:
            run = [sys.executable, "-m", "provenance", "check", tag, "--base", "v2", "--policy", "policy.toml"]
            run += ["--attest", "--key", "maintainer.key", "--signer", "maintainer.pub"]
            other_job.append(subprocess.run(run, capture_output=True, text=True))
        return checkpoint_key(*args, **kwargs)

    monkeypatch.setattr(attestation, "CheckpointKey", other_job_first)
    return other_job


def test_a_release_recorded_while_the_check_ran_is_counted_under_the_lock(prov, template_trust, workdir, monkeypatch):
    """Review 23: ``prov check y --attest`` placed y's release, then took the store's lock to record it. A
    ``prov check c8 --attest`` that recorded c8 in between (another CI job) was not counted: y was signed and
    recorded as 10, c8 as 10 too, and a training job that had accepted y accepted c8 (committed before y) as no
    older. The number y signs is now taken under the lock: 11, above c8's 10, so c8 after y is refused.

    The store is one where releases older prov made out of commit order leave c8 room only as 10
    (``releases_out_of_commit_order``); the other job is a real ``prov`` process, run just before y's write
    takes the lock."""
    releases_out_of_commit_order(prov, monkeypatch)
    other_job = release_first(monkeypatch, "c8")
    r = attest_against_v2(prov, "y")
    assert other_job[0].returncode == 0, other_job[0].stderr
    assert r.exit_code == 0, r.output
    assert (release_of("c8.attestation.json"), release_of("y.attestation.json")) == (10, 11)
    with sqlite3.connect(".prov/prov.db") as db:  # the store keeps what y's attestation signs
        kept = {v: o for v, o in db.execute("select version, object from attestations where version in ('c8', 'y')")}
    assert kept["y"] == hashlib.sha256(Path("y.attestation.json").read_bytes()).hexdigest()
    r = prov("verify", "y", "--attestation", "y.attestation.json", *STATE)
    assert r.exit_code == 0, r.output
    r = prov("verify", "c8", "--attestation", "c8.attestation.json", *STATE)
    assert r.exit_code == 1 and "release 10 (c8) is older than release 11 (y)" in one_line(r), r.output


def test_a_release_that_a_concurrent_one_leaves_no_room_for_is_refused_under_the_lock(
    prov, template_trust, workdir, monkeypatch
):
    """The other order: ``prov check c8 --attest`` placed c8 as 10 before its check; y was released as 10 while
    the check ran. Placed again under the lock, c8 has no room below y (as when y was released first): refused,
    exit 1, nothing of c8's release written; y keeps 10."""
    releases_out_of_commit_order(prov, monkeypatch)
    other_job = release_first(monkeypatch, "y")
    r = attest_against_v2(prov, "c8")
    assert other_job[0].returncode == 0, other_job[0].stderr
    assert r.exit_code == 1, r.output
    assert "c8 would be release 10, not below release 10 of y, a version committed after it" in one_line(r)
    assert not Path("c8.attestation.json").exists() and release_of("y.attestation.json") == 10
    with sqlite3.connect(".prov/prov.db") as db:
        assert db.execute("select count(*) from attestations where version = 'c8'").fetchone() == (0,)
        assert db.execute("select count(*) from audit where action = 'attest' and subject = 'c8'").fetchone() == (0,)


def test_a_root_that_drops_the_key_of_a_released_version_refuses_a_new_release_until_it_is_pinned_again(prov, workdir):
    """Review 23 (fix22a's side effect): maintainers A and B both commit under root v1; v2 (A's, parent v1) is
    released. Root v2 drops A (a maintainer who left). B's v3 (parent v1, so the check of v3 against v1 passes:
    nothing of A's is in its history) cannot be released: v2's statement no longer verifies, so where its kept
    release 2 stands in commit order cannot be told (prov refuses to guess). The refusal is one line, exit 1,
    that names the key and says how to pin it again; the store is left as it was. A root v3 that keeps A in the
    commit role beside B, as it says, releases v3 as 3."""
    pq.write_table(digits_table(170), "d.parquet")
    for tag, rows in (("v1", 150), ("v2", 160), ("v3", 170)):
        pq.write_table(pq.read_table("d.parquet").slice(0, rows), f"{tag}.parquet")
    for name in ("rootk", "maintA", "maintB", "att"):
        succeeded(prov, "keys", "generate", name)
    for version, committers in ((1, ("maintA", "maintB")), (2, ("maintB",)), (3, ("maintA", "maintB"))):
        commit = [arg for name in committers for arg in ("--commit", f"{name}.pub")]
        succeeded(prov, "root", "new", f"root{version}.json", "--root-key", "rootk.pub", *commit,
                  "--waive", "maintB.pub", "--attest", "att.pub", "--version", str(version))  # fmt: skip
        succeeded(prov, "root", "sign", f"root{version}.json", "--key", "rootk.key")
    first, dropped, again = ({"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": chain} for chain in (
        "root1.json", "root1.json:root2.json", "root1.json:root2.json:root3.json"))  # fmt: skip
    release = ("--attest", "--key", "att.key", "--base-unreleased")
    for args in (
        ("init",),
        ("commit", "v1.parquet", "--tag", "v1", "--key", "maintB.key"),
        ("commit", "v2.parquet", "--tag", "v2", "--parent", "v1", "--key", "maintA.key"),
        ("check", "v2", "--base", "v1", *release),
        ("commit", "v3.parquet", "--tag", "v3", "--parent", "v1", "--key", "maintB.key"),
    ):
        r = prov(*args, env=first)
        assert r.exit_code == 0, (args, r.output)
    assert release_of("v2.attestation.json") == 2
    maint_a = keys.key_id(keys.load_public("maintA.pub"))

    before = store_fingerprint(workdir / ".prov")
    r = prov("check", "v3", "--base", "v1", *release, env=dropped)
    assert r.exit_code == 1, r.output
    line = one_line(r)
    assert "release 2 of v2 is kept in the store but v2's statement does not verify under your pins" in line
    assert f"signed by key {maint_a[:16]}, which is not trusted for role commit" in line
    assert "pin the key that signed v2 again (a root that dropped it: sign a newer root that keeps it in the " in line
    assert (
        "commit role beside the new key, prov root new ROOT.json --version N --commit OLD.pub --commit NEW.pub" in line
    )
    assert not Path("v3.attestation.json").exists() and store_fingerprint(workdir / ".prov") == before

    r = prov("check", "v3", "--base", "v1", *release, env=again)
    assert r.exit_code == 0, r.output
    assert release_of("v3.attestation.json") == 3
