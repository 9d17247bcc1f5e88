"""Under a pinned store id, a version that signs no store is this store's only as part of its history before ids.

Attack review 19: versions made before store ids sign none, and the same maintainer key is commonly reused
across projects. With an id pinned (``--store-id``, ``PROV_STORE_ID``, a root file's ``store``), ``prov verify``,
``check`` and ``show`` took any such version as this store's, so a ``.prov/`` writer could copy another project's
pre-id version (its rows and objects, and an appended ``commit`` entry) in. Now one counts only when its own
``commit`` entry sits, at the place it signed, in the audit log up to the signed head of the store's id of record
(``identity.id_less_problem``); with no id of record yet it is refused and the message says to make one
id-signing commit. Replayed with two real stores made by prov's code of that time (``tests/data/legacy-store``:
``build.py``, and ``build_other.py`` for the other project) that share ``maintainer.key``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from provenance.store.audit import entry_bytes
from support import one_line, store_fingerprint

OTHER = Path(__file__).resolve().parents[1] / "data" / "legacy-store" / "world" / "other-project" / "prov-store"
PINNED = ("--signer", "maintainer.pub")
MINE = "cd" * 16  # the id this store's maintainer pins for it


def _plant_other_version(folder: Path) -> int:
    """The ``.prov/`` writer copies the other project's version ``o1`` in with sqlite3: its objects, its
    ``versions``, ``profiles`` and ``version_lineage`` rows, and a ``commit`` entry chained onto this log.
    Returns the entry's seq."""
    here = folder / ".prov"
    for obj in (OTHER / "objects").iterdir():
        if not (here / "objects" / obj.name).exists():
            shutil.copy2(obj, here / "objects" / obj.name)
    db = sqlite3.connect(here / "prov.db")
    db.execute("attach database ? as other", [str(OTHER / "prov.db")])
    for table, key in (("versions", "tag"), ("profiles", "version"), ("version_lineage", "tag")):
        cols = ", ".join(f'"{c[1]}"' for c in db.execute(f"pragma other.table_info({table})"))
        db.execute(f"insert into main.{table} ({cols}) select {cols} from other.{table} where {key} = 'o1'")
    [detail] = db.execute("select detail from other.audit where action = 'commit' and subject = 'o1'").fetchone()
    seq, prev = db.execute("select seq, hash from main.audit order by seq desc limit 1").fetchone()
    entry = {"seq": seq + 1, "ts": "2026-12-01T00:00:00.000000+00:00", "action": "commit", "subject": "o1"}
    entry |= {"detail": detail, "prev_hash": prev}
    entry["hash"] = hashlib.sha256(entry_bytes(entry)).hexdigest()
    db.execute("update main.versions set audit_seq = ? where tag = 'o1'", [entry["seq"]])
    db.execute(
        "insert into main.audit (seq, ts, action, subject, detail, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?)",
        [entry[k] for k in ("seq", "ts", "action", "subject", "detail", "prev_hash", "hash")],
    )
    db.commit()
    db.execute("detach database other")
    db.close()
    return int(entry["seq"])


def _first_id_commit(prov) -> None:
    """The store's first commit by today's code, under the pinned id: it signs the id (the id of record)."""
    r = prov(
        "commit", "v2.parquet", "--tag", "v3", "--parent", "v2", "--key", "maintainer.key", "--store-id", MINE, *PINNED
    )
    assert r.exit_code == 0, r.output


def _refused(prov, folder: Path, *args: str) -> str:
    before = store_fingerprint(folder / ".prov")
    r = prov(
        *args, "--store-id", MINE, *PINNED, env={"COLUMNS": "300"}
    )  # a reason read whole, not as wrapped beside others
    assert r.exit_code == 1, f"prov {' '.join(args)}: {r.output}"
    assert store_fingerprint(folder / ".prov") == before
    return " ".join((r.stdout + r.stderr).split())


@pytest.mark.parametrize("planted", ["before", "after"], ids=["planted-before-the-first-id", "planted-after"])
def test_another_projects_pre_id_version_is_refused_under_a_pinned_id(prov, legacy, planted):
    if planted == "before":
        _plant_other_version(legacy)
        # no version signs an id yet: under a pin, a version signing none fails closed, the store's own too
        said = _refused(prov, legacy, "verify", "o1", "--no-data")
        assert "version o1: signs no store id, and no version of this store's audit log signs one yet" in said, said
        assert f"the store id you pinned ({MINE[:16]}, --store-id)" in said and "make one id-signing commit" in said
        said = _refused(prov, legacy, "verify", "v2", "--no-data")
        assert "version v2: signs no store id" in said and "make one id-signing commit" in said, said
        # the planted version's commit entry is pending (no checkpoint by a commit key you pin covers it), so the
        # id-signing commit refuses to sign over it (attack review 26e, A26e-5), store unchanged; signing the log
        # knowingly (prov audit checkpoint) is the way on, and the store id still refuses o1 (below)
        before = store_fingerprint(legacy / ".prov")
        r = prov(
            "commit",
            "v2.parquet",
            "--tag",
            "v3",
            "--parent",
            "v2",
            "--key",
            "maintainer.key",
            "--store-id",
            MINE,
            *PINNED,
        )
        assert r.exit_code == 1 and "version o1's commit entry" in r.output and "is pending" in r.output, r.output
        assert store_fingerprint(legacy / ".prov") == before
        assert prov("audit", "checkpoint", "--key", "maintainer.key", *PINNED).exit_code == 0
        _first_id_commit(prov)  # the way out the message names works (its parent v2 is from before ids)
    else:
        _first_id_commit(prov)
        _plant_other_version(legacy)

    # the other project's version: refused by verify, show and check, each naming it and the pinned id
    for args in (("verify", "o1", "--no-data"), ("show", "o1"), ("check", "o1", "--base", "v2")):
        said = _refused(prov, legacy, *args)
        assert "o1: signs no store id and was not committed here before version v3's signed statement" in said, said
        assert f"the store id you pinned ({MINE[:16]}, --store-id)" in said, said

    # the store's own history from before ids, upgraded in place, still verifies under the pin
    for tag in ("v1", "v2", "v3"):
        r = prov("verify", tag, "--no-data", "--store-id", MINE, *PINNED)
        assert r.exit_code == 0, r.output
    r = prov("check", "v3", "--base", "v2", "--store-id", MINE, *PINNED)
    assert r.exit_code == 0, r.output
    assert prov("show", "v1", "--store-id", MINE, *PINNED).exit_code == 0


def test_under_another_pinned_id_the_stores_own_pre_id_versions_are_refused(prov, legacy):
    """The pin is another project's id: the store's id of record contradicts it, so its pre-id versions are not
    that project's either (exit 1 naming both ids)."""
    _first_id_commit(prov)
    r = prov("verify", "v1", "--no-data", "--store-id", "ab" * 16, *PINNED)
    assert r.exit_code == 1, r.output
    said = one_line(r)
    assert f"version v1: signs no store id, and this store's id of record, {MINE[:16]}" in said, said
    assert f"not the store id you pinned ({'ab' * 8}, --store-id)" in said, said


def test_without_a_pin_pre_id_versions_read_as_before(prov, legacy):
    """Nothing pinned: the store's id is its id of record, and versions signing no store read as before (the
    window README's Known gaps names)."""
    _first_id_commit(prov)
    r = prov("verify", "v1", "--no-data", *PINNED)
    assert r.exit_code == 0, r.output
    assert json.loads(prov("show", "v2", "--json", *PINNED).stdout)["version"] == "v2"
