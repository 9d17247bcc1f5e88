"""Attack review 19 of fix18a (the store id of record from signed history), replayed for real.

Each test is an attack that still works on the change as merged (main at 45f339b) and asserts what a user
relies on; each fails until its finding is fixed (report: /work/notes/report-attack19.md).

- F19-1: a ``.prov/`` writer copies the first entries of another project's audit log (same maintainer key)
  to the head of this store's log and re-chains the rest: that project's first version is now "the earliest
  commit entry signed at its place", so its id is this store's id of record. ``prov fsck --repair`` (which
  the refused ``trust add`` points at) overwrites the right ``meta`` row with the other project's id, and the
  maintainer's next trust entry is signed for the other project: C16-2's cross-project replay is open again.
- F19-2: ``prov verify V --attestation A`` with keys pinned but no store id accepts a release attestation of
  another store, although ``A`` names another id than the one ``V`` signs (and the id of record).
- F19-3: when no version verifies under the pins (the one maintainer who made them revoked by an unsigned
  ``keys`` row while a second is pinned, or a root that rotates ``commit``), the store has no id of record and
  ``prov trust add`` signs whatever id ``prov.db``'s row holds.
- F19-4: with the audit log broken before the id of record (one timestamp edited), ``trust.scope.hint_scope``
  falls back to ``prov.db``'s row: a trust entry signed for another project counts again for ``prov add`` and
  ``prov trust list`` (17b's replay, plus one edit).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.store import Store
from provenance.store.audit import entry_bytes
from support import one_line

PINNED = ("--signer", "maintainer.pub")


def _ok(prov, *args: str):
    r = prov(*args)
    assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"
    return r


def _meta_id(folder: Path) -> str | None:
    db = sqlite3.connect(folder / ".prov" / "prov.db")
    found = db.execute("select value from meta where key = 'store_id'").fetchone()
    db.close()
    return found[0] if found else None


def _set_meta_id(folder: Path, value: str) -> None:
    db = sqlite3.connect(folder / ".prov" / "prov.db")
    db.execute("insert or replace into meta (key, value) values ('store_id', ?)", [value])
    db.commit()
    db.close()


def _last_trust_entry_store(folder: Path) -> str | None:
    """The ``store`` the newest logged trust entry's signed statement names."""
    db = sqlite3.connect(folder / ".prov" / "prov.db")
    (detail,) = db.execute("select detail from audit where action = 'trust.add' order by seq desc limit 1").fetchone()
    db.close()
    oid = json.loads(detail)["statement"]
    envelope = json.loads(next((folder / ".prov" / "objects").glob(f"{oid}.*")).read_text())
    return json.loads(base64.b64decode(envelope["payload"]))["predicate"].get("store")


def _other_project(prov, workdir: Path, tmp_path_factory, monkeypatch, files: tuple[str, ...], steps) -> Path:
    """Another project of the same maintainer: ``files`` copied from this one, then ``steps`` (prov argument
    tuples) run there. Returns its folder; the current folder is this project's again."""
    other = tmp_path_factory.mktemp("other_project")
    for name in files:
        shutil.copy(workdir / name, other / name)
    monkeypatch.chdir(other)
    _ok(prov, "init")
    for args in steps:
        _ok(prov, *args)
    monkeypatch.chdir(workdir)
    return other


def _plant_log_prefix(victim: Path, other: Path, upto: int) -> None:
    """The ``.prov/`` writer's edit (sqlite3 only): ``other``'s audit entries 1..``upto`` copied verbatim (their
    hashes unchanged) to the head of ``victim``'s log with the version envelopes they name, and ``victim``'s own
    entries renumbered after them and re-chained (SHA-256 of each entry; no key needed)."""
    vdb, odb = sqlite3.connect(victim / ".prov" / "prov.db"), sqlite3.connect(other / ".prov" / "prov.db")
    vdb.row_factory = odb.row_factory = sqlite3.Row
    prefix = [dict(r) for r in odb.execute("select * from audit where seq <= ? order by seq", [upto])]
    own = [dict(r) for r in vdb.execute("select * from audit order by seq")]
    odb.close()
    for entry in prefix:
        if entry["action"] == "commit":
            oid = json.loads(entry["detail"])["envelope"]
            for blob in (other / ".prov" / "objects").glob(f"{oid}.*"):
                shutil.copy(blob, victim / ".prov" / "objects" / blob.name)
    log, prev = list(prefix), prefix[-1]["hash"]
    for entry in own:
        entry = entry | {"seq": entry["seq"] + upto, "prev_hash": prev}
        entry["hash"] = prev = hashlib.sha256(entry_bytes(entry)).hexdigest()
        log.append(entry)
    vdb.execute("delete from audit")
    vdb.executemany("insert into audit values (:seq, :ts, :action, :subject, :detail, :prev_hash, :hash)", log)
    vdb.execute("update versions set audit_seq = audit_seq + ?", [upto])
    vdb.commit()
    vdb.close()


def test_f19_1_another_projects_log_prefix_does_not_become_the_id_of_record(
    prov, template_trust, workdir, tmp_path_factory, monkeypatch
):
    """F19-1 (high): the other project began with a commit (``prov init; prov commit``), so its log starts
    ``key.register, commit b0`` and b0 signed the empty log. Planted at the head of this log, b0 is the
    earliest commit entry "signed at that place": ``identity.of_record`` names the other project's id, though
    every version of this store signs this store's id. The refused ``trust add`` says to run ``prov fsck
    --repair``; that writes the other id over the right row (it did not even need changing), and the next
    trust entry the maintainer signs here names the other project, where a ``.prov/`` writer can log it."""
    own_id = _meta_id(workdir)
    other = _other_project(
        prov,
        workdir,
        tmp_path_factory,
        monkeypatch,
        ("maintainer.key", "maintainer.pub", "v1.parquet"),
        [("commit", "v1.parquet", "--tag", "b0", "--key", "maintainer.key", *PINNED)],
    )
    other_id = _meta_id(other)
    assert own_id and other_id and own_id != other_id
    _plant_log_prefix(workdir, other, upto=2)
    _ok(prov, "keys", "generate", "vendor-2027")

    r = prov("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 1 and "prov fsck --repair" in one_line(r), r.output  # holds: nothing signed yet

    r = prov("fsck", "--repair", *PINNED)
    assert _meta_id(workdir) == own_id, f"fsck --repair wrote another project's id {other_id}: {r.output}"
    r = prov("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    assert r.exit_code != 0 or _last_trust_entry_store(workdir) != other_id, r.output


def test_f19_2_verify_refuses_a_release_attestation_of_another_store(
    prov, template_trust, workdir, tmp_path_factory, monkeypatch
):
    """F19-2 (medium): the other project holds the same data (a mirror, a staging store) and released its v2;
    its attestation names its own store id. Here v2 signs this store's id, and so does the id of record, yet
    ``prov verify v2 --attestation`` under the pinned maintainer key (no ``--store-id``) says "release
    attestation ok": a release this store's gate never passed (its trust, lineage and revocations) is
    accepted. Only ``--store-id`` or a root's ``store`` refuses it, though the version's own signed id shows it."""
    files = ("maintainer.key", "maintainer.pub", "vendor.pub", "policy.toml", "v1.parquet", "v2.parquet")
    files += ("vendor-batch.parquet", "vendor-batch.parquet.prov.json")
    other = _other_project(
        prov,
        workdir,
        tmp_path_factory,
        monkeypatch,
        files,
        [
            ("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key"),
            ("add", "vendor-batch.parquet", "--source", "vendor", *PINNED),
            ("commit", "v1.parquet", "--tag", "v1", "--key", "maintainer.key", *PINNED),
            ("commit", "v2.parquet", "--tag", "v2", "--key", "maintainer.key", *PINNED),
            ("check", "v2", "--base", "v1", "--policy", "policy.toml", "--attest", "--key", "maintainer.key", *PINNED),
        ],
    )
    assert _meta_id(other) != _meta_id(workdir)
    _ok(prov, "verify", "v2", "--attestation", "v2.attestation.json", "--no-data", *PINNED)  # this store's: ok
    r = prov("verify", "v2", "--attestation", str(other / "v2.attestation.json"), "--no-data", *PINNED)
    assert r.exit_code == 1, f"another store's release attestation accepted: {r.output}"


@pytest.mark.parametrize("how", ["store-revocation", "root-rotation"])
def test_f19_3_no_version_verifying_under_the_pins_leaves_the_row_to_decide(prov, template_trust, workdir, how):
    """F19-3 (high): when no version verifies under the pins, ``identity.expected`` finds no id of record and
    no signed id at all, and a ``.prov/`` writer's ``meta`` row decides what the next signing write signs.
    ``store-revocation``: two maintainers are pinned (``--signer maintainer.pub --signer bob.pub``) and
    maintainer made every commit; a ``.prov/`` writer alone sets maintainer's ``keys.revoked_at`` (an unsigned
    row the pins honour: "a revocation only removes trust") and the id row; Bob's ``prov trust add`` then
    signs the other project's id, with no warning. ``root-rotation``: root v2 gives ``commit`` to a new key
    only (what the old key signed stops verifying, B13-1), and ``trust add`` under the new root does the same.
    Either way the signed history named this store's id all along (v1..v3q, by a key the pins knew)."""
    own_id, other_id = _meta_id(workdir), "ab" * 16
    if how == "store-revocation":
        _ok(prov, "keys", "generate", "bob")
        under, new_key = (*PINNED, "--signer", "bob.pub"), "bob"
        db = sqlite3.connect(workdir / ".prov" / "prov.db")
        db.execute("update keys set revoked_at = '2026-01-01T00:00:00+00:00' where name = 'maintainer'")
        db.commit()
        db.close()
    else:
        for name in ("rootk", "new2"):
            _ok(prov, "keys", "generate", name)
        for version, committer in ((1, "maintainer.pub"), (2, "new2.pub")):
            out = f"root{version}.json"
            _ok(prov, "root", "new", out, "--root-key", "rootk.pub", "--commit", committer, "--attest", committer,
                "--source", "vendor=vendor.pub", "--version", str(version))  # fmt: skip
            _ok(prov, "root", "sign", out, "--key", "rootk.key")
        under, new_key = ("--signer", "rootk.pub", "--root", "root1.json", "--root", "root2.json"), "new2"
    _set_meta_id(workdir, other_id)
    r = prov("trust", "add", "vendor", f"{new_key}.pub", "--key", f"{new_key}.key", *under)
    assert r.exit_code != 0 or _last_trust_entry_store(workdir) == own_id, (
        f"trust entry signed for {_last_trust_entry_store(workdir)}: {r.output}"
    )


def test_f19_4_a_broken_log_does_not_hand_the_trust_scope_back_to_the_row(
    prov, template_trust, workdir, tmp_path_factory, monkeypatch
):
    """F19-4 (low): 17b's replay (another project's ``trust add vendor attacker.pub``, its statement and one
    ``trust.add`` entry planted here, the row set to that project's id), plus one edit: audit entry 1's time.
    ``identity.of_record`` then raises, and ``hint_scope`` falls back to the row, so ``prov add`` takes a
    batch the attacker signed as vendor's and ``trust list`` counts the attacker's key (17b's test has ``add``
    refuse it). ``commit`` and the gate refuse the broken log, so this misleads rather than releases."""
    other = _other_project(
        prov,
        workdir,
        tmp_path_factory,
        monkeypatch,
        ("maintainer.key", "maintainer.pub", "attacker.pub"),
        [("trust", "add", "vendor", "attacker.pub", "--key", "maintainer.key")],
    )
    odb = sqlite3.connect(other / ".prov" / "prov.db")
    (detail,) = odb.execute("select detail from audit where action = 'trust.add'").fetchone()
    odb.close()
    fields = json.loads(detail)
    store = Store.open(workdir)
    try:
        with store.write():
            blob = next((other / ".prov" / "objects").glob(f"{fields['statement']}.*")).read_bytes()
            assert store.put_object(blob, "json") == fields["statement"]
            store.audit("trust.add", "vendor", fields)
    finally:
        store.close()
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    db.execute("update audit set ts = '2001-01-01T00:00:00Z' where seq = 1")
    db.commit()
    db.close()
    _set_meta_id(workdir, str(_meta_id(other)))
    rows = pq.read_table("vendor-batch.parquet").slice(0, 40)
    pixels = [v + 7 for v in rows.column("px20").to_pylist()]
    pq.write_table(
        rows.set_column(rows.schema.get_field_index("px20"), "px20", pa.array(pixels, pa.int64())), "evil.parquet"
    )
    _ok(prov, "sign", "evil.parquet", "--source", "vendor", "--key", "attacker.key")
    r = prov("add", "evil.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code != 0, f"a batch signed by a key only another project trusts was added: {r.output}"
