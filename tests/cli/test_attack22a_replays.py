"""Attack review 22a: replays of what a ``.prov/`` writer or a commit-key holder can still do to this session's
changes. Each test fails on the code it attacks and passes once the finding is fixed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from provenance import keys
from support import (
    attest_against_v2,
    commit_older_and_newer,
    diff_both_ways,
    jsonl_versions,
    new_records,
    one_line,
    plant_pending_entry,
    release_of,
    releases_out_of_commit_order,
    succeeded,
)

PINNED = ("--signer", "maintainer.pub")
STATE = ("--release-state", "job-state.json", "--no-data", *PINNED)


def store_dump() -> list[str]:
    """Every row of the store's database, to show a refusal left it as it was."""
    with sqlite3.connect(".prov/prov.db") as db:
        return list(db.iterdump())


def test_an_unreadable_ordinal_lifts_an_older_release_above_a_newer_one(prov, template_trust, workdir):
    """Finding 1: a ``.prov/`` writer breaks the newer version's row (its recorded key id) so its commit ordinal
    cannot be read; next_release then counts its release, and the older version released after it gets 7 over
    the newer one's 6: a training job that accepted the newer release accepts the rollback."""
    commit_older_and_newer(prov)
    r = attest_against_v2(prov, "newer")
    assert r.exit_code == 0, r.output
    assert release_of("newer.attestation.json") == 6
    r = prov("verify", "newer", "--attestation", "newer.attestation.json", *STATE)
    assert r.exit_code == 0, r.output

    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("update versions set keyid = ? where tag = 'newer'", ["0" * 64])
    before = store_dump()
    r = attest_against_v2(prov, "older")
    assert r.exit_code == 1, r.output
    assert "release 6 of newer is kept in the store but newer's statement does not verify under your pins" in one_line(
        r
    ), r.output
    assert "pin the key that signed newer again (--signer OLD.pub, or PROV_SIGNERS), or restore .prov/" in one_line(r)
    assert not Path("older.attestation.json").exists()
    assert store_dump() == before  # refused before the check wrote its findings or audit entries


def test_releases_made_out_of_order_before_the_fix_still_lift_an_older_version_above_a_newer(
    prov, template_trust, workdir, monkeypatch
):
    """Finding 2: the filter compares commit ordinals, but a kept release of an earlier-committed version can be
    above a later-committed version's release (prov before this session gave "one more than every kept release":
    c5 9, c6 8 over c7's 7). Then, with today's prov and the maintainer alone, y (committed last) is released as
    10, c8 first released after it also gets 10 (counting c5's 9), and c9, committed after c8 but before y and
    released after c8, counts c8's 10 and gets 11: a job that accepted y accepts c9, an older version."""
    releases_out_of_commit_order(prov, monkeypatch)
    r = attest_against_v2(prov, "y")
    assert r.exit_code == 0, r.output
    assert release_of("y.attestation.json") == 10
    r = prov("verify", "y", "--attestation", "y.attestation.json", *STATE)
    assert r.exit_code == 0, r.output
    before = store_dump()
    for tag in ("c8", "c9"):  # would be 10 (one more than c5's 9): not below y's 10
        r = attest_against_v2(prov, tag)
        assert r.exit_code == 1, r.output
        assert f"{tag} would be release 10, not below release 10 of y, a version committed after it" in one_line(r)
        assert f"commit {tag}'s data again as a new version" in one_line(r), r.output
        assert not Path(f"{tag}.attestation.json").exists()
    assert store_dump() == before
    assert (attest_against_v2(prov, "y").exit_code, release_of("y.attestation.json")) == (0, 10)  # y keeps its number


def test_an_honest_struct_field_named_like_a_seconds_type_verifies(prov, workdir):
    """Finding 4: stored_type_name rewrites ``timestamp[s`` to ``timestamp[ms`` anywhere in the signed type name,
    a struct's field names too. An honest JSON Lines store whose records hold ``{"meta": {"timestamp[s]": 1}}``
    commits, then verify, fsck and diff --detect call its delta object altered (exit 1, "its content column 'meta'
    is struct<timestamp[s]: int64>, the version signs struct<timestamp[s]: int64>") where the merge path scores."""
    rows = [{"x": i * 0.37 % 5, "meta": {"timestamp[s]": i}, "label": "ab"[i % 2]} for i in range(330)]
    jsonl_versions(prov, rows)
    r = prov("verify", "v2", "--no-data", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    delta, merged = diff_both_ways(
        prov, "v1", "v2", "--detect", "--no-save", "--format", "json", "--signer", "alice.pub"
    )
    assert merged.exit_code == 0, merged.output
    assert (delta.exit_code, delta.stdout) == (0, merged.stdout), delta.output


def _take_back(db_path: Path, h: str) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute("delete from audit where hash = ?", [h])  # the writer takes his entry back


def test_a_planted_pending_revocation_entry_does_not_stop_trust_revoke(prov, template_trust, workdir):
    """Finding 3: keys_to_revoke judged "already revoked" from any ``trust.revoke`` row of the audit table, one no
    checkpoint covers. A ``.prov/`` writer who holds the vendor's stolen key appends one (a well-formed pending
    entry); the maintainer's ``prov trust revoke`` of that key refused "that key is already revoked" (exit 2) and
    wrote nothing; the writer then dropped the pending entry and a batch signed with the stolen key was added as
    trusted. Now only an entry under a checkpoint a pinned key signed counts: the revocation is written again and
    checkpointed, so dropping the planted entry gives nothing back."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    new_records("more.parquet")
    succeeded(prov, "sign", "more.parquet", "--source", "vendor", "--key", "vendor.key", "--out", "more.prov.json")
    detail = {"keyid": vendor, "reason": "r", "revoked_at": "2026-01-01T00:00:00+00:00"}
    h = plant_pending_entry(db_path, "trust.revoke", "vendor", detail)
    # prov trust list says what prov trust revoke will do: the planted entry is pending, the key is revoked again
    line = next(x for x in succeeded(prov, "trust", "list", *PINNED).stdout.splitlines() if vendor[:16] in x)
    assert (
        "log entry pending, no checkpoint you pin covers it: if you revoked it, no checkpoint covers it yet: revoke it "
        f"again (prov trust revoke vendor --key-id {vendor[:16]} --reason R --checkpoint-key K)" in line
    ), line
    revoke = prov("trust", "revoke", "vendor", "--key-id", vendor, "--reason", "laptop stolen", "--yes",
        "--checkpoint-key", "maintainer.key", "--out", "kept.json", *PINNED)  # fmt: skip
    assert revoke.exit_code == 0 and Path("kept.json").is_file(), revoke.output
    # a pinned key's checkpoint now covers the entries: once is enough
    again = prov("trust", "revoke", "vendor", "--key-id", vendor, "--reason", "again", "--yes", *PINNED)
    assert (again.exit_code, again.stderr.strip()) == (2, "Error: vendor: that key is already revoked"), again.output
    listed = json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]
    assert [k["revocation_signed"] for k in listed if k["keyid"] == vendor] == [True], listed
    _take_back(db_path, h)
    r = prov("add", "more.parquet", "--source", "vendor", "--envelope", "more.prov.json", *PINNED)
    assert r.exit_code == 1 and ", which was revoked at " in r.stderr, r.output


def test_a_planted_pending_key_revoke_entry_does_not_stop_keys_revoke(prov, template_trust, workdir):
    """Finding 3's twin for maintainer keys: a ``.prov/`` writer holding the stolen key ``other`` appends a pending
    ``key.revoke`` entry of it; ``prov keys revoke`` revokes it all the same (it refused, "already revoked"), its
    entry checkpointed by a pinned key, so taking the planted entry back leaves the key revoked."""
    from provenance.store import Store
    from provenance.trust.revocations import revoked_maintainer_keys

    succeeded(prov, "keys", "generate", "other")
    succeeded(prov, "keys", "register", "other.pub", "--name", "other")
    other = keys.key_id(keys.load_public("other.pub"))
    db_path = workdir / ".prov" / "prov.db"
    h = plant_pending_entry(db_path, "key.revoke", other, {"name": "other", "revoked_at": "2026-01-01T00:00:00+00:00"})
    with sqlite3.connect(db_path) as db:
        db.execute("update keys set revoked_at = '2026-01-01T00:00:00+00:00' where keyid = ?", [other])
    revoke = prov("keys", "revoke", other[:16], "--reason", "stolen", "--checkpoint-key", "maintainer.key",
        "--out", "kept.json", *PINNED)  # fmt: skip
    assert revoke.exit_code == 0 and Path("kept.json").is_file(), revoke.output
    again = prov("keys", "revoke", other[:16], "--reason", "again", *PINNED)  # now under a pinned checkpoint
    assert again.exit_code == 2 and "already revoked" in again.stderr, again.output
    _take_back(db_path, h)
    with sqlite3.connect(db_path) as db:
        db.execute("update keys set revoked_at = null where keyid = ?", [other])
    assert other in revoked_maintainer_keys(Store(workdir / ".prov"))
    listed = {k["keyid"]: k for k in json.loads(succeeded(prov, "keys", "list", "--json").stdout)["keys"]}
    assert (listed[other]["revoked_in_log"], listed[other]["reason"]) == (True, "stolen")
