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

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.store import audit
from support import one_line, plant_pending_entry, second_vendor_delivery, succeeded

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


@pytest.mark.xfail(
    strict=True,
    reason="finding A24a-1: lost_by_window_end judges 'attests now' under a pending trust.retire a .prov/ writer "
    "planted, so retire --at PAST takes the vendor batch's attestation with no --yes and says it stays attested",
)
def test_a_planted_pending_retirement_hides_the_batches_a_backdated_retirement_takes(prov, template_trust, workdir):
    n_vendor = template_trust.facts["n_vendor"]
    old = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    [batch] = [b for (b,) in sqlite3.connect(db_path).execute("select batch from batches where signed")]
    # a .prov/ writer plants an unsigned retirement ending the key's window before the batch was registered
    plant_pending_entry(db_path, "trust.retire", "vendor", {"keyid": old, "valid_until": "2020-06-01T00:00:00+00:00"})
    with sqlite3.connect(db_path) as db:
        (planted,) = db.execute("select max(seq) from audit").fetchone()

    # the maintainer retires the key back to 2020-01-01, a time before the batch: that takes its attestation
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], "--at", "2020-01-01T00:00:00Z",
             "--key", "maintainer.key", *PINNED)  # fmt: skip
    outcome = (r.exit_code, r.output)
    # the writer takes the plant back (it was never signed): what is left is the maintainer's signed retirement
    _rechain(db_path, planted, "no-such-source")
    assert _vendor_attestation(prov, "v2") == (0, [batch]), "the signed retirement took the batch"
    assert n_vendor > 0
    # it should have been named and refused without --yes, as with no plant (test_trust_retire)
    assert outcome[0] == 2 and batch in one_line(r), outcome  # was 0: "... stays attested"


@pytest.mark.xfail(
    strict=True,
    reason="finding A24a-2: retire without --at asks about undated batches from the writable batches rows "
    "(_refuse_undated), which review 24a stopped trusting for --at PAST; a row marked unsigned hides the batch",
)
def test_a_batch_row_marked_unsigned_hides_an_undated_batch_from_a_retirement_now(prov, template_trust, workdir):
    old = keys.key_id(keys.load_public("vendor.pub"))
    batch = second_vendor_delivery(prov)  # 40 records signed with the old key, registered, no signature dates it
    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:  # a .prov/ writer: the row, not the log, says it is unsigned
        db.execute("update batches set signed = 0 where batch = ?", [batch])
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], "--key", "maintainer.key", *PINNED)
    outcome = (r.exit_code, r.output)
    if r.exit_code == 0:  # what follows: the row put back, the next commit dates the batch after the end
        with sqlite3.connect(db_path) as db:
            db.execute("update batches set signed = 1 where batch = ?", [batch])
        v4 = pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("vendor2.parquet")])
        pq.write_table(v4, "v4.parquet")
        succeeded(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
        assert batch in _vendor_attestation(prov, "v4")[1]  # it lost its attestation, nobody asked
    assert outcome[0] == 2 and f"no maintainer's signature dates yet ({batch})" in one_line(r), outcome


@pytest.mark.xfail(
    strict=True,
    reason="finding A24a-3: keys list's pending mark tells you to revoke the key again, unconditionally, for the very "
    "entry a .prov/ writer may have planted; for a maintainer key that cannot be undone (ROW_ONLY's text asks first)",
)
def test_keys_list_does_not_advise_revoking_a_good_key_for_a_planted_pending_entry(prov, template_trust, workdir):
    maintainer = keys.key_id(keys.load_public("maintainer.pub"))
    detail = {"name": "maintainer", "reason": "planted", "revoked_at": "2026-01-01T00:00:00+00:00"}
    plant_pending_entry(workdir / ".prov" / "prov.db", "key.revoke", maintainer, detail)
    out = succeeded(prov, "keys", "list", *PINNED).stdout
    [line] = [x for x in out.splitlines() if x.startswith(maintainer[:16])]
    assert "log entry pending" in line, line
    # it says "revoke it again (prov keys revoke <the maintainer's own key> ...)" and nothing else: a key its holder
    # never revoked, whose revocation would void every version it signed. As ROW_ONLY does, it should ask first:
    # if you did not revoke it, the entry was appended by whoever can write .prov/: restore .prov/
    assert "restore .prov/" in line, line


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
