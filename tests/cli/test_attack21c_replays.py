"""Attack review 21c: replays of what breaks in the lead's fixes after attack review 21a (lead21d), in the trust
world (``support.build_trust_world``), with real keys, Parquet files and sqlite3; see
/work/notes/report-attack21c.md.

Finding A21c-1 (medium): a ``.prov/`` writer sets ``keys.revoked_at`` on the maintainer's commit key, which no
``key.revoke`` entry ever revoked. ``prov keys list`` marks it ``row says revoked, log does not: revoke it again
(prov keys revoke ID --yes)``, and ``prov keys revoke ID`` skips its refusal naming the versions the key signed
(``cli/keys.py``: ``not row["revoked_at"]``): the honest maintainer signs a permanent, logged revocation of a good key
(every version it signed fails ``integrity.verify_signatures`` for good) where resetting the planted row would have
undone the writer's edit. The writer cannot revoke a key in the log; the mark and the skipped refusal do it for him.

Finding A21c-2 (low): A21a-4 made ``prov trust list`` show the reason the log's ``trust.revoke`` entry holds, but
``prov add``'s refusal of a batch a revoked key signs (``trust.source_signatures._explain``) still gives the ``trust``
row's time and reason (``revocations.revoked_source_keys`` reads the row first), in prov's own words: ``which was
revoked at 2099-01-01T00:00:00+00:00 (routine rotation, no compromise)``, after a ``.prov/`` writer edited the row of
a key revoked "laptop stolen" (``prov audit verify`` passes). The lists themselves (``trust list``, ``keys list``,
text and ``--json``) show the log's reason beside the row's time: a revocation made today reads "revoked 2099-01-01".

Finding A21c-3 (low-medium, older than lead21d): ``prov keys revoke`` finds its key with ``keyid like PREFIX%``
(``maintainer_keys.resolve_key``). A ``.prov/`` writer (the thief of the maintainer's key, on a CI runner that writes
``.prov/``) copies the key's ``keys`` row under the id with one more character; every prefix, the whole 64-character
id too, then "matches 2 keys; give more characters", so the stolen key cannot be revoked in the store (exit 2). An
exact id should win over a longer one.
"""

from __future__ import annotations

import json
import sqlite3

from support import new_records, store_fingerprint, succeeded, words

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")


def test_a21c_1_a_planted_revoked_row_makes_keys_revoke_skip_its_refusal(prov, template_trust, workdir):
    """A21c-1: the .prov/ writer marks the maintainer's key revoked in its row only; keys revoke, as the list's mark
    says to run it (here even without --yes), revokes the key for good without naming the versions it signed."""
    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:
        [(keyid, name)] = db.execute("select keyid, name from keys")
        assert not list(db.execute("select 1 from audit where action = 'key.revoke'"))
        db.execute("update keys set revoked_at = '2026-11-30T09:00:00+00:00' where keyid = ?", [keyid])
    listed = words(succeeded(prov, "keys", "list").stdout)
    # the mark says both readings: a log rolled back (revoke again) or a row edited (restore .prov/)
    assert (
        f"row says revoked, log does not: if you revoked it, the log was rolled back: revoke it again (prov keys "
        f"revoke {keyid[:16]} --yes, which cannot be undone); if you did not, the row was edited: restore .prov/"
        in listed
    ), listed
    before = store_fingerprint(workdir / ".prov")
    r = prov("keys", "revoke", keyid[:16], "--reason", "written back as keys list says", *PINNED)
    said = words(r.output)
    assert r.exit_code == 2 and "pass --yes to revoke it" in said, (
        f"keys revoke of a key no log entry revoked, which signed v1-v3q, went through without --yes (exit "
        f"{r.exit_code}): {said}"
    )
    assert store_fingerprint(workdir / ".prov") == before


def test_a21c_2_prov_add_shows_the_rows_revocation_reason_not_the_logged_one(prov, template_trust, workdir):
    """A21c-2: the maintainer revokes the vendor's key "laptop stolen"; the .prov/ writer rewrites the row's reason
    (and time). prov add, refusing a batch the revoked key signs, gives the row's words as prov's own."""
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", "--checkpoint-key", "maintainer.key",
        *PINNED)  # fmt: skip
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute(
            "update trust set revoked_reason = ?, revoked_at = '2099-01-01T00:00:00+00:00' where source = 'vendor'",
            ["routine rotation, no compromise"],
        )
    succeeded(prov, "audit", "verify", *PINNED)  # the row is no part of the hash chain

    new_records("more.parquet")
    succeeded(prov, "sign", "more.parquet", "--source", "vendor", "--key", "vendor.key", "--out", "more.prov.json")
    r = prov("add", "more.parquet", "--source", "vendor", "--envelope", "more.prov.json", *PINNED)
    assert r.exit_code == 1, r.output
    assert "laptop stolen" in r.output, f"prov add gives the row's reason, not the logged one: {r.output}"


def test_a21c_3_a_planted_key_row_extending_the_id_blocks_revoking_the_stolen_maintainer_key(
    prov, template_trust, workdir
):
    """A21c-3: the thief, who also writes .prov/, copies the maintainer key's row under the key id with one more
    character; keys revoke by prefix matches both rows, so even the whole 64-character id is "several keys, give
    more characters" and the stolen key cannot be revoked in the store."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        columns = [c[1] for c in db.execute("pragma table_info(keys)")]
        [row] = [dict(zip(columns, r)) for r in db.execute("select * from keys")]
        keyid = row["keyid"]
        row["keyid"] = keyid + "0"
        db.execute(
            f"insert into keys ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
            [row[c] for c in columns],
        )
    r = prov("keys", "revoke", keyid, "--reason", "laptop stolen", "--yes", *PINNED)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        logged = [s for (s,) in db.execute("select subject from audit where action = 'key.revoke'")]
    assert r.exit_code == 0 and logged == [keyid], (
        f"the stolen key, named by its whole id, could not be revoked (exit {r.exit_code}): {words(r.output)}"
    )


def test_a21c_2_the_lists_show_the_rows_revocation_time_beside_the_logged_reason(prov, template_trust, workdir):
    """A21c-2, the lists: trust list and keys list take the revocation's reason from the log (A21a-4) but its time from
    the row, which the .prov/ writer moved to 2099; the time the log's entry holds is the one to show."""
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINNED)
    [key] = [k for k in json.loads(succeeded(prov, "keys", "list", "--json").stdout)["keys"]]
    succeeded(prov, "keys", "revoke", key["keyid"][:16], "--reason", "laptop stolen", "--yes", *PINNED)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        logged = {s: json.loads(d)["revoked_at"] for s, d in db.execute("select subject, detail from audit where "
                                                                        "action in ('trust.revoke', 'key.revoke')")}  # fmt: skip
        db.execute("update trust set revoked_at = '2099-01-01T00:00:00+00:00' where source = 'vendor'")
        db.execute("update keys set revoked_at = '2099-01-01T00:00:00+00:00'")
    [vendor] = json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]
    [maintainer] = json.loads(succeeded(prov, "keys", "list", "--json").stdout)["keys"]
    shown = {"vendor": vendor["revoked_at"], "maintainer": maintainer["revoked_at"]}
    assert shown == {"vendor": logged["vendor"], "maintainer": logged[key["keyid"]]}, (
        f"the lists show the row's revocation time, not the log's {logged}: {shown}"
    )


def test_a21c_3_a_planted_trust_row_extending_the_id_blocks_revoking_one_source_key(prov, template_trust, workdir):
    """A21c-3, source keys: the same copied row in ``trust`` makes ``trust revoke vendor --key-id`` with the whole id
    "matches 2 keys of vendor; give more characters"; only revoking every key of the source is left, which also
    revokes a new key the source signs its genuine records with."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        columns = [c[1] for c in db.execute("pragma table_info(trust)")]
        [row] = [dict(zip(columns, r)) for r in db.execute("select * from trust where source = 'vendor'")]
        keyid = row["keyid"]
        row["keyid"] = keyid + "0"
        db.execute(
            f"insert into trust ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
            [row[c] for c in columns],
        )
    r = prov("trust", "revoke", "vendor", "--key-id", keyid, "--reason", "laptop stolen", "--yes", *PINNED)
    assert r.exit_code == 0, f"the vendor's key, named by its whole id, could not be revoked: {words(r.output)}"
