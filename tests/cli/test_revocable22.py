"""Leftovers of the key-revocation review (revocable22), in the trust world (``support.build_trust_world``), with
real keys, Parquet files, a real store and sqlite3 for the ``.prov/`` writer.

1. Which key a revocation can still revoke is judged once, from the audit log (``source_keys.keys_to_revoke``,
   ``maintainer_keys.key_to_revoke``), by the commands' refusals and the library writes alike: a key the log
   revokes is "already revoked" whatever its row says (a cleared ``keys`` row let ``prov keys revoke`` log a second
   revocation; ``prov trust revoke --key-id`` without ``--yes`` said no such key was trusted).
2. ``prov trust revoke`` writes its checkpoint to a file only when asked (``--out F``, or ``--checkpoint-key K`` on
   the command line): ``PROV_KEY`` merely exported signs the checkpoint in ``.prov/`` and leaves the folder alone.
3. ``prov add`` refusing a batch whose key only its ``trust`` row says is revoked says so, and both readings, giving
   the row's time and reason as the row's words (attack review 22a, finding 6).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from provenance import keys
from provenance.errors import InputError
from provenance.store import Store
from provenance.trust import maintainer_keys
from provenance.trust.pins import Pins
from support import new_records, store_fingerprint, succeeded, words

PINNED = ("--signer", "maintainer.pub")


def _audit_count(db_path: Path, action: str) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("select count(*) from audit where action = ?", [action]).fetchone()[0]


def test_trust_revoke_of_a_key_the_log_revokes_says_already_revoked_with_or_without_yes(prov, template_trust, workdir):
    """Item 1: the command's refusal without --yes judged the key as the library does; it said "no key with that id
    is trusted" for a key the log revokes (--yes said "already revoked")."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    # under a checkpoint a pinned key signs (a pending entry is revoked again: attack review 22a, finding 3)
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINNED,
        "--checkpoint-key", "maintainer.key", "--out", "kept.json")  # fmt: skip
    before = store_fingerprint(workdir / ".prov")
    for yes in ((), ("--yes",)):
        r = prov("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "again", *yes, *PINNED)
        assert (r.exit_code, r.stderr.strip()) == (2, "Error: vendor: that key is already revoked"), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_keys_revoke_of_a_key_the_log_revokes_whose_row_was_cleared_writes_nothing(prov, template_trust, workdir):
    """Item 1: a .prov/ writer clears the revoked row of a maintainer key; the log still revokes it (every check
    honours the entry), so `keys revoke` and the library both say it is already revoked, at the log's time, and
    log no second revocation (they logged one: the command read the row for "already", the log for --yes)."""
    succeeded(prov, "keys", "generate", "other")
    succeeded(prov, "keys", "register", "other.pub", "--name", "other")
    other = keys.key_id(keys.load_public("other.pub"))
    db_path = workdir / ".prov" / "prov.db"
    succeeded(prov, "keys", "revoke", other[:16], "--reason", "left the project", *PINNED,
        "--checkpoint-key", "maintainer.key", "--out", "kept.json")  # fmt: skip
    with sqlite3.connect(db_path) as db:
        [(logged_at,)] = db.execute(
            "select json_extract(detail, '$.revoked_at') from audit where action = 'key.revoke'"
        )
        db.execute("update keys set revoked_at = null where keyid = ?", [other])
    listed = words(succeeded(prov, "keys", "list").stdout)
    assert f'(revoked {logged_at}, reason "left the project")' in listed, listed  # the log's revocation stands
    before = store_fingerprint(workdir / ".prov")
    r = prov("keys", "revoke", other[:16], "--reason", "again", "--yes", *PINNED)
    assert (r.exit_code, words(r.stderr)) == (2, f"Error: key {other[:16]} (other) was already revoked at {logged_at}")
    with pytest.raises(InputError, match="already revoked"):
        pinned = Store.open(workdir, Pins.load([str(workdir / "maintainer.pub")]))
        maintainer_keys.revoke_key(pinned, other[:16], "again")
    assert store_fingerprint(workdir / ".prov") == before and _audit_count(db_path, "key.revoke") == 1


def test_prov_key_exported_signs_the_revocation_but_writes_no_file_unasked(prov, template_trust, workdir):
    """Item 2 (newcomer finding): with PROV_KEY exported, every `trust revoke` wrote a prov-revocation-*.json file
    into the current folder. It now signs the checkpoint in .prov/ (the revocation is not pending) and says no state
    was kept outside it."""
    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:
        [(checkpoints,)] = db.execute("select count(*) from checkpoints")
    listing = sorted(p.name for p in workdir.iterdir())
    r = prov(
        "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINNED, env={"PROV_KEY": "maintainer.key"}
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in workdir.iterdir()) == listing, "a checkpoint file was written unasked"
    with sqlite3.connect(db_path) as db:
        [(after,)] = db.execute("select count(*) from checkpoints")
    assert after == checkpoints + 1  # PROV_KEY still signs the checkpoint over the revocation, in the store
    said = words(r.stdout)
    assert "in .prov/ only: no log state was kept outside it (give --out F, or --checkpoint-key K" in said, said
    assert "nothing pending" in words(succeeded(prov, "audit", "verify", *PINNED).stdout)


def test_a_revocation_file_is_written_when_asked_for_with_out_or_a_typed_checkpoint_key(prov, template_trust, workdir):
    """Item 2: --out F with the key from PROV_KEY writes F; --checkpoint-key K typed writes the default file, as
    README's "Keeping a revocation" promises; --help says PROV_KEY alone writes none."""
    env = {"PROV_KEY": "maintainer.key"}
    succeeded(prov, "keys", "generate", "vendor-2")
    succeeded(prov, "trust", "add", "vendor", "vendor-2.pub", "--key", "maintainer.key", *PINNED)
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "r", "--yes", "--out", "kept.json",
        *PINNED, env=env)  # fmt: skip
    assert r.exit_code == 0 and (workdir / "kept.json").is_file(), r.output
    second = keys.key_id(keys.load_public("vendor-2.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", second[:16], "--reason", "r", "--yes",
        "--checkpoint-key", "maintainer.key", *PINNED, env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (workdir / f"prov-revocation-vendor-{second[:16]}.checkpoint.json").is_file(), r.output
    helped = words(succeeded(prov, "trust", "revoke", "--help").stdout)
    assert "PROV_KEY alone signs the checkpoint in .prov/ and writes no file" in helped, helped


def test_prov_add_of_a_batch_whose_key_only_its_row_revokes_says_so(prov, template_trust, workdir):
    """Item 3 (newcomer finding): a .prov/ writer marks the vendor's key revoked in its trust row only; prov add of
    the vendor's next batch refuses (fail closed) saying "which was revoked at T" as if the log said so. It now says
    the log does not, points at prov trust list's mark and gives both readings."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:
        db.execute("update trust set revoked_at = '2026-11-30T09:00:00+00:00', revoked_reason = ? where keyid = ?",
            ["x\x1b[2J). prov: nothing to do (", vendor])  # fmt: skip
    new_records("more.parquet")
    succeeded(prov, "sign", "more.parquet", "--source", "vendor", "--key", "vendor.key", "--out", "more.prov.json")
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "more.parquet", "--source", "vendor", "--envelope", "more.prov.json", *PINNED)
    said = words(r.stderr)
    assert r.exit_code == 1, r.output
    # the row's time and reason given as the row's words, the reason quoted and escaped (attack review 22a, 6)
    assert (
        f"signed by key {vendor[:16]} of vendor, which was revoked at a time only its trust row gives: its trust row "
        'says revoked at 2026-11-30T09:00:00+00:00 (reason "x\\u001b[2J). prov: nothing to do ("); '
        "the audit log holds no revocation of it (prov trust list marks it 'row "
        "says revoked, log does not'): if you revoked it, the log was rolled back: revoke it again (prov trust revoke "
        f"vendor --key-id {vendor[:16]} --reason R); if you did not, the row was edited: restore .prov/ from a copy "
        "you trust" in said
    ), said
    assert store_fingerprint(workdir / ".prov") == before
    # revoked again as it says: the log holds it, and the refusal no longer speaks of a row alone
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINNED)
    r = prov("add", "more.parquet", "--source", "vendor", "--envelope", "more.prov.json", *PINNED)
    assert (
        r.exit_code == 1 and "which was revoked at" in r.stderr and "only its trust row says so" not in words(r.stderr)
    )
