"""Attack review 24a: replays against review24a (log's pre-check reads what the judgment reads, ``prov keys list``
marks pending ``key.revoke`` entries under pins, ``prov trust retire --at PAST`` judges and names the batches it
takes attestation from).

Replayed in the trust world (``support.build_trust_world``: v2, released against v1, holds the vendor's 600 signed
records), with real keys and the store edited with sqlite3 as a ``.prov/`` writer can.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from provenance import keys
from provenance.store import audit
from support import one_line, plant_pending_entry, second_vendor_delivery, store_fingerprint, succeeded, words

PINNED = ("--signer", "maintainer.pub")


def _rechain(db_path: Path, seq: int, subject: str) -> None:
    """As a ``.prov/`` writer: give audit entry ``seq`` another subject and recompute the hash chain from it on
    (needs no key; sound for entries no signed head covers)."""
    with sqlite3.connect(db_path) as db:
        db.execute("update audit set subject = ? where seq = ?", [subject, seq])
        (prev,) = db.execute("select prev_hash from audit where seq = ?", [seq]).fetchone()
        rows = db.execute("select seq, ts, action, subject, detail from audit where seq >= ? order by seq", [seq])
        for n, ts, act, subj, detail in rows.fetchall():
            h = audit._entry_hash(n, ts, act, subj, detail, prev)
            db.execute("update audit set prev_hash = ?, hash = ? where seq = ?", [prev, h, n])
            prev = h


def _vendor_attestation(prov, tag: str) -> tuple[int, list[str]]:
    info = json.loads(succeeded(prov, "sources", "--version", tag, "--json", *PINNED).stdout)
    vendor = next(s for s in info["sources"] if s["source"] == "vendor")
    return vendor["attested"], [x["batch"] for x in vendor["not_trusted"]]


def test_a_planted_pending_retirement_does_not_hide_the_batches_a_backdated_retirement_takes(
    prov, template_trust, workdir
):
    """Finding A24a-1: ``lost_by_window_end`` asked whether a batch attests now under the key as ``Pins.source_keys``
    gives it, which applies pending ``trust.retire`` entries. A ``.prov/`` writer planted one ending the window before
    the vendor's batch: the maintainer's ``retire --at 2020-01-01`` then named no batch, wanted no ``--yes``, said what
    the key signed stays attested, and once the writer took the plant back the signed retirement had taken the batch.
    Every batch the shorter window excludes is now named, whatever pending entries say."""
    n_vendor = template_trust.facts["n_vendor"]
    old = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    [batch] = [b for (b,) in sqlite3.connect(db_path).execute("select batch from batches where signed")]
    # a .prov/ writer plants an unsigned retirement ending the key's window before the batch was registered
    plant_pending_entry(db_path, "trust.retire", "vendor", {"keyid": old, "valid_until": "2020-06-01T00:00:00+00:00"})
    with sqlite3.connect(db_path) as db:
        (planted,) = db.execute("select max(seq) from audit").fetchone()

    # the maintainer retires the key back to 2020-01-01, a time before the batch: that takes its attestation
    retire = ("trust", "retire", "vendor", "--key-id", old[:16], "--at", "2020-01-01T00:00:00Z",
              "--key", "maintainer.key", *PINNED)  # fmt: skip
    before = store_fingerprint(workdir / ".prov")
    r = prov(*retire)
    assert r.exit_code == 2 and "signed 1 registered batch(es)" in one_line(r), r.output  # was 0, "stays attested"
    assert batch in one_line(r) and "pass --yes" in one_line(r)
    assert store_fingerprint(workdir / ".prov") == before
    r = succeeded(prov, *retire, "--yes")
    assert f"before 1 registered batch(es) it signed: {batch}" in words(r.stdout), r.stdout
    # the writer takes the plant back (it was never signed): what is left is the maintainer's signed retirement,
    # which took what it said it took
    _rechain(db_path, planted, "no-such-source")
    assert _vendor_attestation(prov, "v2") == (0, [batch])
    assert n_vendor > 0


def test_a_batch_row_marked_unsigned_does_not_hide_an_undated_batch_from_a_retirement_now(
    prov, template_trust, workdir
):
    """Finding A24a-2: ``retire`` with no ``--at`` asked about batches no maintainer's signature dates yet from the
    ``batches`` rows; a ``.prov/`` writer marked the vendor's new batch's row unsigned, the retirement went through,
    and once the row was put back the next commit dated the batch after the end: it lost its attestation, nobody
    asked. The question now reads the hash-chained ``batch.add`` entries."""
    old = keys.key_id(keys.load_public("vendor.pub"))
    batch = second_vendor_delivery(prov)  # 40 records signed with the old key, registered, no signature dates it
    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:  # a .prov/ writer: the row, not the log, says it is unsigned
        db.execute("update batches set signed = 0 where batch = ?", [batch])
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 2 and f"no maintainer's signature dates yet ({batch})" in one_line(r), r.output  # was 0
    assert store_fingerprint(workdir / ".prov") == before


def test_keys_list_does_not_advise_revoking_a_good_key_for_a_planted_pending_entry(prov, template_trust, workdir):
    """Finding A24a-3: ``keys list`` marked a planted pending ``key.revoke`` entry of the maintainer's own key and
    said "revoke it again", and nothing else: a key its holder never revoked, whose revocation voids every version it
    signed. It now asks first, as the row-only mark does, in the same words as ``trust list``."""
    maintainer = keys.key_id(keys.load_public("maintainer.pub"))
    detail = {"name": "maintainer", "reason": "planted", "revoked_at": "2026-01-01T00:00:00+00:00"}
    plant_pending_entry(workdir / ".prov" / "prov.db", "key.revoke", maintainer, detail)
    out = succeeded(prov, "keys", "list", *PINNED).stdout
    [line] = [words(x) for x in out.splitlines() if x.startswith(maintainer[:16])]
    assert (
        f"log entry pending, no checkpoint you pin covers it: if you revoked it, no checkpoint covers it yet: revoke "
        f"it again (prov keys revoke {maintainer[:16]} --reason R --checkpoint-key K); if you did not, the entry was "
        "appended by whoever can write .prov/: restore .prov/ from a copy you trust" in line
    ), line  # was "...covers it: revoke it again (prov keys revoke ...)" and nothing else


def test_log_warns_as_show_under_a_root_when_a_pending_revocation_is_planted(prov, template_trust, workdir):
    """Held: under a root (not ``--signer``), which gives the vendor its old key, a ``trust.revoke`` entry a ``.prov/``
    writer appends (revocations count wherever found) makes ``show`` warn under v2's release, and ``log`` says the
    same line: the pre-check reads the root's keys with the store's revocations applied, as the judgment does."""
    succeeded(prov, "keys", "generate", "rootk")
    succeeded(prov, "root", "new", "root.json", "--root-key", "rootk.pub", "--commit", "maintainer.pub",
              "--attest", "maintainer.pub", "--source", "vendor=vendor.pub")  # fmt: skip
    succeeded(prov, "root", "sign", "root.json", "--key", "rootk.key")
    by_root = ("--root", "root.json", "--signer", "rootk.pub")

    def warnings() -> tuple[str | None, str | None]:
        [shown] = json.loads(succeeded(prov, "show", "v2", "--json", *by_root).stdout)["attestations"]
        logged = json.loads(succeeded(prov, "log", "--json", *by_root).stdout)["versions"]
        [item] = next(v for v in logged if v["tag"] == "v2")["attestations"]
        assert shown["verified"] and item["verified"], (shown, item)
        return shown["warning"], item["warning"]

    assert warnings() == (None, None)
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    detail = {"keyid": vendor, "reason": "planted", "revoked_at": "2026-01-01T00:00:00+00:00"}
    plant_pending_entry(workdir / ".prov" / "prov.db", "trust.revoke", "vendor", detail)
    shown, logged = warnings()
    assert shown is not None and "which was revoked" in shown and logged == shown
