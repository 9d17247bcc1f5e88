"""Attack review 22c: replays of what still goes wrong after the fixes for attack review 22a. Each test fails on the
code it attacks and passes once the finding is fixed."""

from __future__ import annotations

import json
import sqlite3

from provenance import keys
from support import diff_both_ways, jsonl_versions, new_records, succeeded

PINNED = ("--signer", "maintainer.pub")


def test_an_honest_json_lines_store_with_thirteen_timestamps_in_one_struct_verifies(prov, workdir):
    """content_types.names_read_back (before the fix) enumerated every seconds/milliseconds combination of the millisecond time types
    of one content column and refuses more than 12 of them. A JSON Lines source whose records hold one struct with 13
    timestamps (JSON reads them as timestamp[s]) commits, then verify, fsck and diff --detect call its delta object
    bad (exit 1, "holds 13 millisecond time types, more than the 12 prov matches against a signed type"), while the
    merge path scores it. The signed type name is known, so no enumeration (and no limit) is needed."""
    meta = [{f"t{j}": f"2020-01-{1 + j:02d} 00:00:{i % 60:02d}" for j in range(13)} for i in range(330)]
    rows = [{"x": i * 0.37 % 5, "meta": meta[i], "label": "ab"[i % 2]} for i in range(330)]
    jsonl_versions(prov, rows)
    r = prov("verify", "v2", "--no-data", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    r = prov("fsck", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    delta, merged = diff_both_ways(
        prov, "v1", "v2", "--detect", "--no-save", "--format", "json", "--signer", "alice.pub"
    )
    assert merged.exit_code == 0, merged.output
    assert (delta.exit_code, delta.stdout) == (0, merged.stdout), delta.output


def test_a_revocation_entry_planted_at_seq_zero_does_not_stop_trust_revoke(prov, template_trust, workdir):
    """logged_revocations.signed_revocation calls an entry signed when its ``seq`` is at most signed_through's, and
    signed_through is 0 when nothing is covered. A ``.prov/`` writer holding the vendor's stolen key inserts a
    ``trust.revoke`` row of it at ``seq`` 0 (sqlite3 takes any integer key; no key signs the chain): the log no
    longer starts intact, so nothing is covered, 0 <= 0, and ``prov trust revoke --checkpoint-key`` refuses "that key
    is already revoked" (exit 2), writing no entry and no checkpoint. He deletes the row (the log is whole and
    covered again) and a batch signed with the stolen key is added as trusted: attack review 22a's finding 3 again."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    new_records("more.parquet")
    succeeded(prov, "sign", "more.parquet", "--source", "vendor", "--key", "vendor.key", "--out", "more.prov.json")
    detail = json.dumps({"keyid": vendor, "reason": "r", "revoked_at": "2026-01-01T00:00:00+00:00"})
    with sqlite3.connect(db_path) as db:
        db.execute(
            "insert into audit (seq, ts, action, subject, detail, prev_hash, hash) values (0, ?, ?, ?, ?, ?, ?)",
            ["2026-01-01T00:00:00.000000+00:00", "trust.revoke", "vendor", detail, "0" * 64, "1" * 64],
        )
    revoke = prov("trust", "revoke", "vendor", "--key-id", vendor, "--reason", "laptop stolen", "--yes",
        "--checkpoint-key", "maintainer.key", "--out", "kept.json", *PINNED)  # fmt: skip
    with sqlite3.connect(db_path) as db:
        db.execute("delete from audit where seq = 0")  # the writer takes his row back
    assert revoke.exit_code in (0, 1), revoke.output  # revoked, or refused as a broken log; never "already revoked"
    assert "already revoked" not in revoke.output, revoke.output
    r = prov("add", "more.parquet", "--source", "vendor", "--envelope", "more.prov.json", *PINNED)
    assert r.exit_code != 0, r.output


def test_a_key_revoke_entry_planted_at_seq_zero_does_not_stop_keys_revoke(prov, template_trust, workdir):
    """The same for maintainer keys (maintainer_keys.key_to_revoke): a ``.prov/`` writer holding the stolen key
    ``other`` inserts a ``key.revoke`` row of it at ``seq`` 0; ``prov keys revoke --checkpoint-key`` refuses "already
    revoked" and writes nothing; he deletes the row and the key is not revoked in the store."""
    from provenance.store import Store
    from provenance.trust.revocations import revoked_maintainer_keys

    succeeded(prov, "keys", "generate", "other")
    succeeded(prov, "keys", "register", "other.pub", "--name", "other")
    other = keys.key_id(keys.load_public("other.pub"))
    db_path = workdir / ".prov" / "prov.db"
    detail = json.dumps({"name": "other", "revoked_at": "2026-01-01T00:00:00+00:00"})
    with sqlite3.connect(db_path) as db:
        db.execute(
            "insert into audit (seq, ts, action, subject, detail, prev_hash, hash) values (0, ?, ?, ?, ?, ?, ?)",
            ["2026-01-01T00:00:00.000000+00:00", "key.revoke", other, detail, "0" * 64, "1" * 64],
        )
    revoke = prov("keys", "revoke", other[:16], "--reason", "stolen", "--checkpoint-key", "maintainer.key",
        "--out", "kept.json", *PINNED)  # fmt: skip
    with sqlite3.connect(db_path) as db:
        db.execute("delete from audit where seq = 0")  # the writer takes his row back
    assert "already revoked" not in revoke.output, revoke.output
    assert other in revoked_maintainer_keys(Store(workdir / ".prov")), revoke.output
