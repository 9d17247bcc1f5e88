"""Attack review 24b of session 24 (branch copies24): the base's within-pseudo-batch clumping counted from its
signed manifest object at check time (``provenance/profiles/base_clumping.py``), replayed on real stores.

Findings (strict xfails until fixed; both pass now: 24b-1 by the lead's f47b3cb, the copies rule counting only for a
delta with at least min_copies copies; 24b-2 by fix24b, a row number is ASCII digits only, ``names.is_row_number``):

- 24b-1 (cost): the copies rule counts the base's clumping on every check, even one whose candidate adds no copy
  at all (``gate/copies.py`` ``MaxCopiesRate.check`` calls ``base_clumping`` before it knows there are copies;
  the detectors count only for a delta with copies). Measured at 1 M base rows, an image tree: 7 s with ASCII
  paths, 50 s with one non-ASCII directory name (``file_order``'s Python fallback), paid by every ``prov check``
  against that base, where the bench and reference.md say 0.25-3 s.
- 24b-2 (low): a manifest locator that ``str.isdigit`` reads as digits but ``int`` does not (``"x#²"``) crashes
  the count (``profiles.batches.file_order``: ``int('²')``), so a check against a base whose manifest a commit
  key signed with such a locator is exit 3 (an internal error), not exit 1 naming the manifest; main never ranked
  a base's locators at check time.

Held (plain tests): a versions row re-pointed at another version's signed manifest (whoever writes ``.prov/``) is
exit 1, never counted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.profiles import base_clumping
from support import commit_table, digits_table, resign_version


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def base_and_new() -> tuple[pa.Table, pa.Table]:
    """(base, candidate): 1,200 digits with 30 held twice, then the same rows and 200 new digits (no copy added)."""
    t = digits_table()
    base = t.take([r for i in range(1200) for r in ([i, i - 20] if i % 40 == 39 else [i])])
    return base, pa.concat_tables([base, t.take(list(range(1200, 1400)))])


def test_a_check_adding_no_copy_counts_no_base_clumping(prov, workdir, store, keypair, monkeypatch):
    base, cand = base_and_new()
    commit_table(prov, keypair, "base", base)
    commit_table(prov, keypair, "cand", cand)
    counted: list[str] = []
    real = base_clumping.version_clumping

    def recorded(store, tag):  # the real count, recorded: which versions a check counts
        counted.append(tag)
        return real(store, tag)

    monkeypatch.setattr(base_clumping, "version_clumping", recorded)
    r = prov("check", "cand", "--base", "base", "--format", "json")
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert rules["copies.max_copies_rate"]["status"] == "pass", rules["copies.max_copies_rate"]
    assert rules["copies.max_copies_rate"]["reason"].startswith("0 exact copies"), rules["copies.max_copies_rate"]
    # nothing in this check needs the base's clumping (no copy to judge; the detectors count only for a delta
    # with copies): its manifest should not be ranked and counted (at 1 M rows of an image tree, 7 s with ASCII
    # paths, 50 s with a non-ASCII directory name, paid by every check)
    assert counted == [], counted


def resign_manifest(workdir, keypair, tag: str, locator: str | bytes) -> str:
    """As a holder of the commit key: ``tag``'s manifest object with its first row's locator set to ``locator``
    (digests, labels, sources as prov wrote them: the Merkle root is unchanged; bytes are written as they are,
    UTF-8 or not, in the string column), stored as an object, signed in a new statement and put in the versions
    row with sqlite3. Returns the new object's id."""
    objects = workdir / ".prov" / "objects"
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    [old] = db.execute("select manifest_object from versions where tag = ?", [tag]).fetchone()
    table = pq.read_table(objects / f"{old}.parquet")
    locators = table.column("locator").to_pylist()
    raw = [locator if isinstance(locator, bytes) else locator.encode()] + [x.encode() for x in locators[1:]]
    i = table.schema.get_field_index("locator")
    table = table.set_column(i, table.schema.field(i), pa.array(raw, pa.binary()).view(table.schema.field(i).type))
    path = workdir / "manifest.parquet"
    pq.write_table(table, path)
    data = path.read_bytes()
    oid = hashlib.sha256(data).hexdigest()
    (objects / f"{oid}.parquet").write_bytes(data)
    with db:
        db.execute("update versions set manifest_object = ? where tag = ?", [oid, tag])
    db.close()

    def change(predicate: dict) -> None:
        predicate["manifest"]["sha256"] = oid

    resign_version(workdir, tag, keypair.private_path, change)
    # the version's commit entry in the audit log names its manifest object: edited, and the log re-chained after
    # it (nothing signed covers the entry yet: no later version, no checkpoint)
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    with db:
        [first] = db.execute("select seq from audit where detail like ? order by seq", [f"%{old}%"]).fetchone()
        rows = db.execute("select seq, ts, action, subject, detail from audit where seq >= ? order by seq", [first])
        [prev] = db.execute("select hash from audit where seq = ?", [first - 1]).fetchone()
        for seq, ts, action, subject, detail in rows.fetchall():
            detail = detail.replace(old, oid)
            body = json.dumps([seq, ts, action, subject, detail, prev], separators=(",", ":"), ensure_ascii=False)
            h = hashlib.sha256(body.encode()).hexdigest()
            db.execute("update audit set detail = ?, prev_hash = ?, hash = ? where seq = ?", [detail, prev, h, seq])
            prev = h
        db.execute("delete from checkpoints")  # the commit's checkpoint covered the entry: signed again below
    db.close()
    return oid


@pytest.mark.parametrize("locator", ["x#²", b"a\xff#1"], ids=["unicode-digit", "not-utf8"])
def test_a_signed_manifest_with_a_locator_no_commit_writes_is_no_internal_error(prov, workdir, store, keypair, locator):
    # also bytes that are no UTF-8 (Parquet does not check a string column's): file_order's Python keys could not
    # decode them (exit 3 until fix24b ranked every locator in Arrow, as bytes)
    base, _ = base_and_new()
    t = digits_table()
    commit_table(prov, keypair, "base", base)
    oid = resign_manifest(workdir, keypair, "base", locator)
    r = prov("audit", "checkpoint", "--key", keypair.private_path)  # the stolen key signs the re-chained log
    assert r.exit_code == 0, r.output
    # the candidate adds copies, so both the copies rule and the detectors count the base's clumping
    commit_table(prov, keypair, "cand", pa.concat_tables([base, t.take(list(range(1200, 1400)) + [5] * 12)]))
    r = prov("verify", "base")
    assert r.exit_code == 0, r.output  # locators are not compared with the data: the re-signed base verifies
    r = prov("check", "cand", "--base", "base", "--format", "json")
    # a locator no prov commit writes, signed by the commit key: judged (exit 0/1) or refused naming the manifest
    # (exit 1), never an internal error
    assert r.exit_code in (0, 1), (r.exit_code, r.output[-1500:])
    assert r.exit_code == 0 or oid[:16] in r.output or json.loads(r.stdout)["decision"] == "blocked"


def test_a_versions_row_re_pointed_at_another_signed_manifest_is_never_counted(prov, workdir, store, keypair):
    # whoever writes .prov/ points the base's row at the candidate's manifest (signed, intact, more rows): the
    # count reads the manifest the base's verified statement names or refuses, exit 1 naming the version
    base, cand = base_and_new()
    commit_table(prov, keypair, "base", base)
    commit_table(prov, keypair, "cand", pa.concat_tables([cand, base.slice(0, 40)]))
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    with db:
        db.execute(
            "update versions set manifest_object = (select manifest_object from versions where tag = 'cand') "
            "where tag = 'base'"
        )
    db.close()
    r = prov("check", "cand", "--base", "base", "--format", "json")
    assert r.exit_code == 1, r.output[-800:]
    assert "version base: signed manifest digest differs from the version record" in r.output, r.output[-800:]
    base_clumping._COUNTED.clear()
    from provenance.errors import VerificationError
    from provenance.profiles.base_clumping import version_clumping
    from provenance.store.store import Store

    with pytest.raises(VerificationError, match="signed manifest digest differs"):
        version_clumping(Store(workdir / ".prov"), "base")
