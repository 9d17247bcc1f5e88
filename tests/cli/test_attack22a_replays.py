"""Attack review 22a: replays of what a ``.prov/`` writer or a commit-key holder can still do to this session's
changes. Each test fails on the code it attacks and passes once the finding is fixed."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")
STATE = ("--release-state", "job-state.json", "--no-data", *PINNED)


def release_of(path: str) -> int:
    statement = json.loads(base64.b64decode(json.loads(Path(path).read_text())["payload"]))
    return statement["predicate"]["https://prov.dev/release/v1"]["release"]


def attest(prov, tag: str):
    return prov("check", tag, "--base", "v2", "--policy", "policy.toml", "--attest", *KEY, "--force", *PINNED)


def test_an_unreadable_ordinal_lifts_an_older_release_above_a_newer_one(prov, template_trust, workdir):
    """Finding 1: a ``.prov/`` writer breaks the newer version's row (its recorded key id) so its commit ordinal
    cannot be read; next_release then counts its release, and the older version released after it gets 7 over
    the newer one's 6: a training job that accepted the newer release accepts the rollback."""
    t = pq.read_table("v2.parquet")
    pq.write_table(t.slice(0, t.num_rows - 10), "older.parquet")
    pq.write_table(t.slice(0, t.num_rows - 20), "newer.parquet")
    for tag, parent in (("older", "v2"), ("newer", "older")):
        r = prov("commit", f"{tag}.parquet", "--tag", tag, "--parent", parent, *KEY, *PINNED)
        assert r.exit_code == 0, r.output
    r = attest(prov, "newer")
    assert r.exit_code == 0, r.output
    assert release_of("newer.attestation.json") == 6
    r = prov("verify", "newer", "--attestation", "newer.attestation.json", *STATE)
    assert r.exit_code == 0, r.output

    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("update versions set keyid = ? where tag = 'newer'", ["0" * 64])
    r = attest(prov, "older")
    if r.exit_code == 0:
        r = prov("verify", "older", "--attestation", "older.attestation.json", *STATE)
    assert r.exit_code != 0, (release_of("older.attestation.json"), r.output)
