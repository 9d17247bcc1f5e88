"""``prov log`` warns under a release exactly when ``prov show`` does (review 24a, items 1 and 2).

``log`` keeps its start-up cheap by judging a release's lineage only when something may have taken a registered
batch's standing away. Before, that pre-check read a few writable rows and audit actions (a revocation, a retirement,
a ``trust`` row's end of validity) while the judgment ``show`` runs reads the signed trust statements under the pins:
a ``.prov/`` writer who rewrote a pending ``trust.retire`` entry as a ``trust.sign`` naming the same signed, shortened
statement, and cleared the row's ``valid_until``, left ``show`` warning and ``log`` silent; and a batch whose key the
pins never vouched for (a new root without the vendor's key), with nothing revoked, was warned about by ``show`` only.
The pre-check now reads what the judgment reads: each signed batch's key against the keys the pins trust now.

Replayed in the trust world (``support.build_trust_world``: v2, released against v1, holds the vendor's 600 signed
records), with real keys, roots and the store edited with sqlite3.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from provenance import keys
from provenance.store import audit
from support import plant_pending_entry, succeeded

PINNED = ("--signer", "maintainer.pub")


def release_warnings(prov, *pins: str) -> tuple[str | None, str | None]:
    """The warning under v2's one release in ``prov show v2 --json`` and in ``prov log --json`` (None: none), after
    checking the release verifies in both and the text of each carries the same line."""
    shown = json.loads(succeeded(prov, "show", "v2", "--json", *pins).stdout)["attestations"]
    logged = json.loads(succeeded(prov, "log", "--json", *pins).stdout)["versions"]
    [item] = next(v for v in logged if v["tag"] == "v2")["attestations"]
    assert [a["verified"] for a in shown] == [True] and item["verified"], (shown, item)
    for command in (("show", "v2"), ("log",)):
        text = succeeded(prov, *command, *pins).stdout
        warned = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("warning: ")]
        assert warned == ([shown[0]["warning"]] if shown[0]["warning"] else []), (command, text)
    return shown[0]["warning"], item["warning"]


def rechain_from(db_path: Path, seq: int, action: str) -> None:
    """As a ``.prov/`` writer with sqlite3: give audit entry ``seq`` the action ``action`` and recompute the hash
    chain from it on (the chain hash needs no key; sound only for entries no signed head covers)."""
    with sqlite3.connect(db_path) as db:
        db.execute("update audit set action = ? where seq = ?", [action, seq])
        (prev,) = db.execute("select prev_hash from audit where seq = ?", [seq]).fetchone()
        rows = db.execute(
            "select seq, ts, action, subject, detail from audit where seq >= ? order by seq", [seq]
        ).fetchall()
        for n, ts, act, subject, detail in rows:
            h = audit._entry_hash(n, ts, act, subject, detail, prev)
            db.execute("update audit set prev_hash = ?, hash = ? where seq = ?", [prev, h, n])
            prev = h


def test_a_retirement_rewritten_as_a_trust_sign_entry_is_warned_about_in_log_as_in_show(prov, template_trust, workdir):
    """Item 1: the maintainer retires the vendor's key back to 2020 (its batch loses attestation); the entry is
    pending. A ``.prov/`` writer rewrites it as ``trust.sign`` (the same signed, shortened statement, which the
    judgment still honours) and clears the row's end of validity: every row and action the old pre-check read now
    says nothing changed."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    succeeded(prov, "trust", "retire", "vendor", "--key-id", vendor[:16], "--at", "2020-01-01T00:00:00+00:00",
              "--yes", "--key", "maintainer.key", *PINNED)  # fmt: skip
    shown, logged = release_warnings(prov, *PINNED)
    assert shown is not None and "outside that key's validity window" in shown and logged == shown

    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:
        (seq,) = db.execute("select seq from audit where action = 'trust.retire'").fetchone()
        db.execute("update trust set valid_until = null where keyid = ?", [vendor])
    rechain_from(db_path, seq, "trust.sign")
    assert succeeded(prov, "audit", "verify", *PINNED)  # a chain-valid log: nothing a signature covers was changed
    shown, logged = release_warnings(prov, *PINNED)
    assert shown is not None and "outside that key's validity window" in shown
    assert logged == shown  # was None: the pre-check saw no retirement, no revocation, no row's end


def test_a_batch_whose_key_a_new_root_leaves_out_is_warned_about_in_log_as_in_show(prov, template_trust, workdir):
    """Item 2: the maintainers publish a root that gives the vendor a new key and not the old one; nothing is
    revoked or retired in the store. The vendor's batch in v2 attests nothing under that root: ``show`` warned under
    v2's release, ``log`` did not (README's Known gaps said so)."""
    for name in ("rootk", "vendor2"):
        succeeded(prov, "keys", "generate", name)
    succeeded(prov, "root", "new", "root.json", "--root-key", "rootk.pub", "--commit", "maintainer.pub",
              "--attest", "maintainer.pub", "--source", "vendor=vendor2.pub")  # fmt: skip
    succeeded(prov, "root", "sign", "root.json", "--key", "rootk.key")
    by_root = ("--root", "root.json", "--signer", "rootk.pub")
    shown, logged = release_warnings(prov, *by_root)
    assert shown is not None and "1 record" not in shown and "600 records of this release" in shown
    assert logged == shown  # was None

    # the root that still gives the vendor its old key: nothing lost, in both
    succeeded(prov, "root", "new", "root-old.json", "--root-key", "rootk.pub", "--commit", "maintainer.pub",
              "--attest", "maintainer.pub", "--source", "vendor=vendor.pub")  # fmt: skip
    succeeded(prov, "root", "sign", "root-old.json", "--key", "rootk.key")
    assert release_warnings(prov, "--root", "root-old.json", "--signer", "rootk.pub") == (None, None)


def _plant_source_revocation(workdir: Path) -> None:
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    detail = {"keyid": vendor, "reason": "planted", "revoked_at": "2026-01-01T00:00:00+00:00"}
    plant_pending_entry(workdir / ".prov" / "prov.db", "trust.revoke", "vendor", detail)


def _row_revocation(workdir: Path) -> None:
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update trust set revoked_at = '2026-01-01T00:00:00+00:00' where keyid = ?", [vendor])


def _delete_vendor_envelope(workdir: Path) -> None:
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        (detail,) = db.execute(
            "select detail from audit where action = 'batch.add' and subject like 'vendor@%'"
        ).fetchone()
    [found] = (workdir / ".prov" / "objects").glob(f"{json.loads(detail)['envelope']}*")
    found.unlink()


def _plant_retirement(workdir: Path) -> None:
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    detail = {"keyid": vendor, "valid_until": "2020-01-01T00:00:00+00:00"}
    plant_pending_entry(workdir / ".prov" / "prov.db", "trust.retire", "vendor", detail)


def _clear_row_window(workdir: Path) -> None:
    """An edit that takes nothing away: the row's window, which no judgment reads under pins, set and cleared."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update trust set valid_until = '2020-01-01T00:00:00+00:00'")


EDITS = {
    "a planted trust.revoke entry": _plant_source_revocation,
    "a trust row that says revoked": _row_revocation,
    "the vendor batch's envelope object deleted": _delete_vendor_envelope,
    "a planted trust.retire entry": _plant_retirement,
    "a trust row's end of validity alone": _clear_row_window,
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_log_warns_exactly_when_show_does_under_a_prov_writers_edits(prov, template_trust, workdir, edit):
    """Item 1, the equivalence the pre-check's docstring states: whatever a ``.prov/`` writer edits among what the
    judgment or the old pre-check read, ``log``'s warning under v2's release is ``show``'s (both None or the same
    line). (A planted revocation of the maintainer's own key voids the versions and releases it signed: no release
    is left to warn under, in either.)"""
    EDITS[edit](workdir)
    shown, logged = release_warnings(prov, *PINNED)
    assert logged == shown, edit
