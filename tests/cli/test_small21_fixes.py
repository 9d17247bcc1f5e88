"""Open items of attack review 20b and newcomer review 20 (session small21), replayed for real in the trust
world (``support.build_trust_world``: the vendor's records signed with ``vendor.key``, committed in v1..v3
under ``--signer maintainer.pub``)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import clock, keys
from provenance.cli._trust import revocation_keeper
from provenance.errors import InputError, VerificationError
from provenance.kept_log import KeptLog
from provenance.store import Store, checkpoints
from provenance.store.checkpoints import CheckpointKey
from provenance.trust import rowless
from provenance.trust.maintainer_keys import revoke_key
from provenance.trust.pins import Pins
from provenance.versions import register_key
from support import (
    one_line,
    payload,
    roll_back_log,
    second_vendor_delivery,
    store_fingerprint,
    succeeded,
    validate_output,
)

PINNED = ("--signer", "maintainer.pub")


def _at(monkeypatch, t: dt.datetime) -> None:
    """The clock reads ``t`` (to the microsecond; ``now_iso`` truncates to the asked precision as the real one)."""
    monkeypatch.setattr(clock, "now", lambda: t)
    monkeypatch.setattr(clock, "now_iso", lambda timespec="seconds": clock.iso(t, timespec))


def test_a20b_2_a_version_signed_later_in_the_second_of_a_retirement_does_not_date_a_batch_before_it(
    prov, template_trust, workdir, monkeypatch
):
    """A20b-2: a version's signed createdAt is whole seconds (T for a version signed at T.9) and a retirement
    ends a window to the microsecond (T.5). A batch of the retired key registered after the end (here by a
    .prov/ writer whose clock says earlier), first covered by a version committed at T.9, was dated T.0 by that
    version, before the end, and stayed attested for good. A whole-second signed time now counts as the end of
    its second."""
    old = keys.key_id(keys.load_public("vendor.pub"))
    second = clock.now() + dt.timedelta(days=1)  # T, after everything the world holds
    end = clock.iso(second + dt.timedelta(microseconds=500000), "microseconds")  # T.5
    succeeded(prov, "trust", "retire", "vendor", "--key-id", old[:16], "--at", end, "--key", "maintainer.key", *PINNED)
    with monkeypatch.context() as m:  # the writer's clock, a second before T: the key still looks valid to `add`
        _at(m, second - dt.timedelta(seconds=1))
        batch = second_vendor_delivery(prov)
    v4 = pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("vendor2.parquet")])
    pq.write_table(v4, "v4.parquet")
    with monkeypatch.context() as m:  # the maintainer commits at T.9: createdAt says T
        _at(m, second + dt.timedelta(microseconds=900000))
        succeeded(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    info = json.loads(succeeded(prov, "sources", "--version", "v4", "--json", *PINNED).stdout)
    vendor = next(s for s in info["sources"] if s["source"] == "vendor")
    assert [b["batch"] for b in vendor["not_trusted"]] == [batch], vendor  # was: [] (40 more records attested)
    assert "validity window closed before a maintainer's signature shows the batch registered" in json.dumps(vendor)


def test_a20b_3_trust_add_keeps_the_fraction_of_a_second_it_was_given(prov, template_trust, workdir):
    """A20b-3: `trust add --valid-from 2026-12-03T13:00:00.900Z` stored 13:00:00, so the window began up to a
    second earlier than asked (and --valid-until ended up to a second earlier). The fraction is kept, in the row
    and in the signed entry, as `trust retire --at` keeps it."""
    succeeded(prov, "keys", "generate", "vendor-2027")
    start, end = "2026-12-03T13:00:00.900Z", "2999-01-01T00:00:00.250000+00:00"
    args = ("--valid-from", start, "--valid-until", end, "--key", "maintainer.key", *PINNED)
    succeeded(prov, "trust", "add", "vendor", "vendor-2027.pub", *args)
    kid = keys.key_id(keys.load_public("vendor-2027.pub"))
    listed = {k["keyid"]: k for k in json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]}
    # was: 2026-12-03T13:00:00+00:00 and 2999-01-01T00:00:00+00:00
    assert (listed[kid]["valid_from"], listed[kid]["valid_until"]) == ("2026-12-03T13:00:00.900000+00:00", end)
    db = sqlite3.connect(".prov/prov.db")
    [oid] = db.execute("select object from trust_statements where keyid = ?", [kid]).fetchone()
    db.close()
    store = Store.open(workdir)
    try:
        predicate = payload(json.loads(store.objects.get(oid, "trust entry")))["predicate"]
    finally:
        store.close()
    assert (predicate["validFrom"], predicate["validUntil"]) == ("2026-12-03T13:00:00.900000+00:00", end)


# --- item 3: --checkpoint PREV on trust revoke, keys register, keys revoke, audit checkpoint ---------------------


def _kept_commands() -> dict[str, tuple[str, ...]]:
    """Each command given the kept state, on a store where it would otherwise succeed."""
    other = keys.key_id(keys.load_public("other.pub"))
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    return {
        "trust revoke": ("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "stolen", "--yes"),
        "keys register": ("keys", "register", "third.pub", "--name", "third"),
        "keys revoke": ("keys", "revoke", other[:16], "--reason", "left"),
        "audit checkpoint": ("audit", "checkpoint", "--key", "maintainer.key"),
        "audit checkpoint --out": ("audit", "checkpoint", "--key", "maintainer.key", "--out", "state.cp"),
    }


def _two_more_keys(prov) -> None:
    """``other.pub`` registered, ``third.pub`` not; the vendor's next key trusted (``vendor-2027.pub``)."""
    for name in ("other", "third", "vendor-2027"):
        succeeded(prov, "keys", "generate", name)
    succeeded(prov, "keys", "register", "other.pub", "--name", "other")
    succeeded(prov, "trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)


def _revoke_kept_then_roll_back(prov, folder: Path) -> None:
    """The vendor's next key revoked, the log state after it kept in ``revoked.cp``; the .prov/ writer's
    sqlite3 then rolls the revocation back."""
    db = folder / ".prov" / "prov.db"
    shutil.copy2(db, folder / "before-revoke.db")
    new = keys.key_id(keys.load_public("vendor-2027.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", new[:16], "--reason", "stolen", "--checkpoint-key",
             "maintainer.key", "--out", "revoked.cp", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    roll_back_log(db, folder / "before-revoke.db")


def test_item3_each_write_refuses_a_log_that_lost_the_kept_state(prov, template_trust, workdir):
    """A .prov/ writer rolls back a revocation whose log state was kept (revoked.cp); each command given
    --checkpoint revoked.cp refuses (exit 1, naming it, nothing written). Before, none took --checkpoint."""
    _two_more_keys(prov)
    _revoke_kept_then_roll_back(prov, workdir)
    before = store_fingerprint(workdir / ".prov")
    for name, args in _kept_commands().items():
        r = prov(*args, *PINNED, "--checkpoint", "revoked.cp")
        assert r.exit_code == 1, f"{name} wrote onto the cut log: {r.output}"  # was 2: no such option
        said = one_line(r)
        assert "revoked.cp" in said and ("nothing was written" in said or "no log state was kept" in said), said
        assert store_fingerprint(workdir / ".prov") == before, f"{name} changed the store"
    assert not Path("state.cp").exists()


def test_item3_each_write_says_it_extends_a_kept_state_the_log_holds(prov, template_trust, workdir):
    _two_more_keys(prov)
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *PINNED)
    for name, args in _kept_commands().items():
        r = prov(*args, *PINNED, "--checkpoint", "kept.cp")
        assert r.exit_code == 0, f"{name}: {r.output}"
        assert "the audit log extends kept.cp (" in " ".join(r.stdout.split()), f"{name}: {r.output}"
    assert Path("state.cp").exists()


def _library_writes() -> dict[str, Callable[[Store, KeptLog], object]]:
    other = keys.key_id(keys.load_public("other.pub"))
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    signer = CheckpointKey.load("maintainer.key")
    return {
        "revocation": lambda s, k: rowless.revoke(s, "vendor", vendor[:16], "stolen", None, None, k),
        "key registration": lambda s, k: register_key(s, "third.pub", "third", k),
        "key revocation": lambda s, k: revoke_key(s, other[:16], "left", None, None, k),
        "checkpoint": lambda s, k: checkpoints.checkpoint_now(s, signer, k),
    }


@pytest.mark.parametrize("what", ["revocation", "key registration", "key revocation", "checkpoint"])
def test_item3_the_kept_state_is_checked_again_inside_the_write(prov, template_trust, workdir, what):
    """Cut after the early check (the lock free): the write itself refuses and leaves the store as the cut left it."""
    _two_more_keys(prov)
    db = workdir / ".prov" / "prov.db"
    shutil.copy2(db, workdir / "before-revoke.db")
    new = keys.key_id(keys.load_public("vendor-2027.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", new[:16], "--reason", "stolen", "--checkpoint-key",
             "maintainer.key", "--out", "revoked.cp", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    store = Store.open(workdir, pins=Pins.load("maintainer.pub"))
    try:
        kept = KeptLog.held(store, ["revoked.cp"], what)  # the log holds it now
        roll_back_log(db, workdir / "before-revoke.db")
        before = store_fingerprint(workdir / ".prov")
        with pytest.raises(VerificationError, match=f"while this {what} was being prepared, so nothing was written"):
            _library_writes()[what](store, kept)
        assert store_fingerprint(workdir / ".prov") == before
    finally:
        store.close()


# --- items 4 and 5: revocations listed from the audit log, with the reason -----------------------------------------


def _erase_log_since(db_path: Path, seq: int) -> None:
    """The .prov/ writer's sqlite3: every audit entry and checkpoint after ``seq`` deleted, the rows left as they are
    (still saying revoked): the log stays consistent with itself."""
    db = sqlite3.connect(db_path)
    db.execute("delete from audit where seq > ?", [seq])
    db.execute("delete from checkpoints where size > ?", [seq])
    db.commit()
    db.close()


def _words(r) -> str:
    return " ".join(r.stdout.split())


def test_items_4_5_lists_read_revocations_from_the_log_and_show_the_reason(prov, template_trust, workdir):
    """Item 4: `keys revoke --reason R` records R in its audit entry, and `keys list` shows it (it was recorded
    and shown nowhere). Item 5: after a revocation whose log state could not be kept, the advice was to check that
    `prov trust list` (or `keys list`) still shows it revoked, but both read the rows: a .prov/ writer who rolled
    the log back and left the rows revoked passed that check, and `prov audit checkpoint --out` then kept a log
    without the revocation. The lists now read the revocation from the log and mark the row that says revoked
    alone."""
    succeeded(prov, "keys", "generate", "other")
    succeeded(prov, "keys", "register", "other.pub", "--name", "other")
    other = keys.key_id(keys.load_public("other.pub"))
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        [(before,)] = db.execute("select max(seq) from audit").fetchall()
    succeeded(prov, "keys", "revoke", other[:16], "--reason", "left the project")
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "key stolen", "--yes", *PINNED)

    listed = {k["keyid"]: k for k in json.loads(succeeded(prov, "keys", "list", "--json").stdout)["keys"]}
    validate_output("keys-list", {"keys": list(listed.values())})
    assert (listed[other]["reason"], listed[other]["revoked_in_log"]) == ("left the project", True)
    assert 'reason "left the project")' in _words(succeeded(prov, "keys", "list"))
    shown = {k["keyid"]: k for k in json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]}
    assert (shown[vendor]["status"], shown[vendor]["revoked_in_log"]) == ("revoked", True)
    assert 'reason "key stolen"' in _words(succeeded(prov, "trust", "list", *PINNED))
    assert "row says revoked" not in succeeded(prov, "trust", "list", *PINNED).stdout

    _erase_log_since(workdir / ".prov" / "prov.db", before)  # both revocations' entries gone, their rows kept
    r = succeeded(prov, "keys", "list")
    line = next(x for x in r.stdout.splitlines() if x.startswith(other[:16]))
    assert "revoked" in line and "row says revoked, log does not" in line, line  # was: revoked, nothing said
    listed = {k["keyid"]: k for k in json.loads(succeeded(prov, "keys", "list", "--json").stdout)["keys"]}
    assert (listed[other]["revoked_at"] is not None, listed[other]["revoked_in_log"]) == (True, False)
    r = succeeded(prov, "trust", "list", *PINNED)
    line = next(x for x in r.stdout.splitlines() if vendor[:16] in x)
    assert "row says revoked, log does not" in line, line
    doc = json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)
    validate_output("trust-list", doc)
    assert [k["revoked_in_log"] for k in doc["keys"] if k["keyid"] == vendor] == [False]


def test_item5_the_advice_after_a_keep_failure_names_the_check_that_reads_the_log(prov, template_trust, workdir):
    """Keeping fails once the revocation committed (a file appeared at --out meanwhile): the advice names the list
    and what it marks; on a log rolled back with the rows kept revoked, that list then says so (it passed before)."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        [(before,)] = db.execute("select max(seq) from audit").fetchall()
    Path("kept.cp").write_text("someone else's file\n")
    store = Store.open(pins=Pins.load(["maintainer.pub"]))
    signer = CheckpointKey.load("maintainer.key")
    try:
        with pytest.raises(InputError) as caught:
            keep = revocation_keeper(signer, Path("kept.cp"), "the keys of source 'vendor'", "prov trust list")
            rowless.revoke(store, "vendor", None, "key stolen", signer, keep)
    finally:
        store.close()
    said = str(caught.value)
    assert "check that prov trust list still shows it revoked, read from the audit log" in said, said
    assert "marked 'row says revoked, log does not'" in said, said
    _erase_log_since(workdir / ".prov" / "prov.db", before)
    assert "row says revoked, log does not" in succeeded(prov, "trust", "list", *PINNED).stdout


# --- item 6: the way on when the newest version does not verify ---------------------------------------------------


def test_item6_after_a_wrong_pin_or_a_revocation_the_hint_names_a_step_that_works(prov, template_trust, workdir):
    """`prov commit` onto a newest version that does not verify under the pins said "name a version yourself
    (--parent VERSION)". After a wrong pin or a `keys revoke` of the key that signed every version, no version
    verifies, and `--parent` failed the same way ("the parent does not verify"). The hint now says so and names
    what works; when another version verifies, it names it, and `--parent` with it works."""
    succeeded(prov, "keys", "generate", "other")
    commit = ("commit", "v3.parquet", "--tag", "w1", "--key", "other.key")
    # a wrong pin: no version verifies under other.pub alone
    r = prov(*commit, "--signer", "other.pub")
    said = " ".join(r.stderr.split())
    assert (
        r.exit_code == 1
        and "no version here verifies under your pins, so naming one (--parent VERSION) fails too" in said
    )
    assert "name a version yourself" not in said, said  # was: the hint that fails the same way
    assert "pin it (--signer KEY.pub or PROV_SIGNERS" in said, said
    # the step it names works: pin the maintainer key that signed them (and the key that signs the new one)
    both = ("--signer", "maintainer.pub", "--signer", "other.pub")
    succeeded(prov, *commit, *both)  # w1, signed by other.key, on v3q
    # the key that signed w1 revoked: w1 no longer verifies, older versions do, and are named
    succeeded(prov, "keys", "revoke", keys.key_id(keys.load_public("other.pub"))[:16], "--yes", "--reason", "stolen")
    succeeded(prov, "keys", "generate", "third")
    again = ("commit", "v3.parquet", "--tag", "w2", "--key", "third.key", *both, "--signer", "third.pub")
    r = prov(*again)
    said = " ".join(r.stderr.split())
    assert r.exit_code == 1 and "name a version yourself (--parent VERSION; v2, v3, v3q verify under your pins)" in said
    # w1's entry is under no head of a key these pins trust (other.key's checkpoint no longer counts): the commit's
    # checkpoint would sign it, so it is refused (attack review 26e, A26e-5) until the maintainer signs the log
    r = prov(*again, "--parent", "v3q")
    assert r.exit_code == 1 and "version w1's commit entry" in r.stderr and "prov audit checkpoint" in r.stderr
    succeeded(prov, "audit", "checkpoint", "--key", "third.key", *both, "--signer", "third.pub")
    r = succeeded(prov, *again, "--parent", "v3q")  # the step named works
    assert "w1 does not verify under your pins: it cannot be built on" in " ".join(r.stderr.split()), r.stderr
    # a revocation of the key that signed every other version: none verifies; the hint says what works instead
    maintainer = keys.key_id(keys.load_public("maintainer.pub"))
    succeeded(prov, "keys", "revoke", maintainer[:16], "--yes", "--reason", "stolen")
    succeeded(prov, "keys", "revoke", keys.key_id(keys.load_public("third.pub"))[:16], "--yes", "--reason", "stolen")
    succeeded(prov, "keys", "generate", "fourth")
    last = ("commit", "v3.parquet", "--tag", "w3", "--key", "fourth.key", *both, "--signer", "fourth.pub")
    r = prov(*last, "--parent", "v1")
    assert r.exit_code == 1 and "the parent does not verify" in r.stderr  # what the old hint led to
    r = prov(*last)
    said = " ".join(r.stderr.split())
    assert r.exit_code == 1 and "fails too" in said and "into a new store (prov init in a fresh checkout" in said


def test_a21a_3_a_row_only_maintainer_revocation_is_revoked_again_and_logged(prov, template_trust, workdir):
    """Attack review 21a, A21a-3, for maintainer keys: the .prov/ writer deletes a `keys revoke` entry with sqlite3
    and leaves the row revoked; `keys list` says to revoke it again, and `keys revoke` does (it refused, "already
    revoked", reading the row), writing the revocation back into the log, where a log state kept next holds it."""
    succeeded(prov, "keys", "generate", "other")
    succeeded(prov, "keys", "register", "other.pub", "--name", "other")
    other = keys.key_id(keys.load_public("other.pub"))
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        [(before,)] = db.execute("select max(seq) from audit").fetchall()
    succeeded(prov, "keys", "revoke", other[:16], "--reason", "left the project")
    _erase_log_since(workdir / ".prov" / "prov.db", before)
    line = next(x for x in succeeded(prov, "keys", "list").stdout.splitlines() if x.startswith(other[:16]))
    assert (
        f"row says revoked, log does not: if you revoked it, the log was rolled back: revoke it again (prov keys "
        f"revoke {other[:16]} --yes" in line
    ), line
    succeeded(prov, "keys", "revoke", other[:16], "--reason", "left the project", "--checkpoint-key", "maintainer.key",
        "--out", "kept.json", *PINNED)  # fmt: skip
    listed = {k["keyid"]: k for k in json.loads(succeeded(prov, "keys", "list", "--json").stdout)["keys"]}
    assert (listed[other]["revoked_in_log"], listed[other]["reason"]) == (True, "left the project")
    again = prov("keys", "revoke", other[:16], *PINNED)
    # once logged under a checkpoint a pinned key signed, once is enough (a pending entry: attack review 22a, 3)
    assert again.exit_code == 2 and "already revoked" in again.stderr, again.output
