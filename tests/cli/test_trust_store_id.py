"""A trust entry signed for another store grants nothing here (attack review 16c, C16-2), replayed for real.

The same maintainer keeps two projects. In the other one "vendor" is, legitimately, the attacker's key:
``prov trust add vendor attacker.pub --key maintainer.key`` there. A ``.prov/`` writer of this store
copies that signed statement object into ``.prov/objects/`` and appends one ``trust.add`` audit entry
naming it (optionally with the ``trust``/``trust_statements`` rows). Before store ids the statement named
no store: under ``--signer maintainer.pub`` ``prov trust list`` counted the key, ``prov add`` accepted a
batch the attacker signed as vendor's, ``prov audit verify`` passed (the entry only pending) and ``prov
trust retire`` re-signed the attacker's key for this store. Now every trust statement and version names
its store's id (``provenance.store.identity``), and ``prov check`` counts a statement only when it names
the id the base version signed, up to the candidate's signed audit head (``provenance.trust.scope``).

Stores made before ids (``tests/data/legacy-store``, built by the code of that time: ``build.py``) keep
working, and an id-less statement appended after the first version that signs an id is refused.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.store import Store
from provenance.trust import statements
from support import new_records, one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")
LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy-store" / "world"


def _ok(prov, *args: str):
    r = prov(*args)
    assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"
    return r


def _words(r) -> str:
    """The command's whole output with rich's line wrapping undone."""
    return " ".join((r.stdout + r.stderr).split())


def _meta_id(folder: Path) -> str | None:
    row = sqlite3.connect(folder / ".prov" / "prov.db").execute("select value from meta where key = 'store_id'")
    found = row.fetchone()
    return found[0] if found else None


def _set_meta_id(folder: Path, value: str) -> None:
    db = sqlite3.connect(folder / ".prov" / "prov.db")
    db.execute("insert or replace into meta (key, value) values ('store_id', ?)", [value])
    db.commit()
    db.close()


def _other_project_statement(prov, workdir: Path, tmp_path_factory, monkeypatch) -> tuple[bytes, dict, str]:
    """In another project of the same maintainer: ``prov trust add vendor attacker.pub --key maintainer.key``.
    Returns the signed statement's bytes, the audit entry's detail, and that store's id."""
    other = tmp_path_factory.mktemp("other_project")
    monkeypatch.chdir(other)
    _ok(prov, "init")
    _ok(prov, "trust", "add", "vendor", str(workdir / "attacker.pub"), "--key", str(workdir / "maintainer.key"))
    db = sqlite3.connect(other / ".prov" / "prov.db")
    [detail] = db.execute("select detail from audit where action = 'trust.add'").fetchone()
    fields = json.loads(detail)
    blob = next((other / ".prov" / "objects").glob(f"{fields['statement']}.*")).read_bytes()
    other_id = _meta_id(other)
    monkeypatch.chdir(workdir)
    assert other_id and other_id != _meta_id(workdir)
    return blob, fields, other_id


def _plant(workdir: Path, blob: bytes, detail: dict, rows: bool) -> int:
    """The ``.prov/`` writer's edit: the statement object, one appended ``trust.add`` entry (and the rows)."""
    store = Store.open(workdir)
    try:
        with store.write():
            assert store.put_object(blob, "json") == detail["statement"]
            if rows:
                pem = (workdir / "attacker.pub").read_text()
                store.db.table("trust").insert(
                    {"source": "vendor", "keyid": detail["keyid"], "name": "attacker", "public_pem": pem}
                    | {"added_at": detail["added_at"], "valid_from": None, "valid_until": None}
                )
                statements.create_table(store)
                store.db.table(statements.TABLE).insert(
                    {"source": "vendor", "keyid": detail["keyid"], "object": detail["statement"]}
                    | {"signer": detail["signer"], "added_at": detail["added_at"]}
                )
            store.audit("trust.add", "vendor", detail)
        return store.audit_head()[0]
    finally:
        store.close()


@pytest.mark.parametrize("rows", [False, True], ids=["log-only", "with-rows"])
def test_a_trust_entry_signed_for_another_store_is_refused_everywhere(
    prov, template_trust, workdir, tmp_path_factory, monkeypatch, rows
):
    attacker = keys.key_id(keys.load_public("attacker.pub"))
    blob, detail, other_id = _other_project_statement(prov, workdir, tmp_path_factory, monkeypatch)
    seq = _plant(workdir, blob, detail, rows)
    entry = f"audit entry {seq} (trust.add of 'vendor')"

    # trust list: not counted (was "counted"), and the entry is named
    r = _ok(prov, "trust", "list", *PINNED)
    assert f"WARNING: {entry}: the signed trust entry of key {attacker[:16]} was signed for another store" in _words(r)
    listed = {k["keyid"]: k for k in json.loads(_ok(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]}
    assert attacker not in listed or listed[attacker]["counted"] is False, listed.get(attacker)

    # audit verify and fsck fail on it (audit verify passed: the entry was only pending)
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 1 and entry in one_line(r) and "another store" in one_line(r), r.output
    r = prov("fsck", *PINNED)
    assert r.exit_code != 0 and entry in _words(r), r.output

    # a batch the attacker signs as vendor's is refused, naming the entry (was exit 0 "signed by key a368…")
    new_records("evil.parquet")
    _ok(prov, "sign", "evil.parquet", "--source", "vendor", "--key", "attacker.key")
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "evil.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code == 1 and entry in _words(r) and "another store" in _words(r), r.output

    # retire does not re-sign it for this store, pinned or not (was exit 0: a fresh maintainer statement)
    for pins in (PINNED, ()):
        r = prov(
            "trust", "retire", "vendor", "--key-id", attacker[:16], "--key", "maintainer.key",
            "--checkpoint-key", "maintainer.key", *pins,
        )  # fmt: skip
        if pins:  # the pinned view does not count the key at all
            assert r.exit_code == 2 and "no key with that id is trusted for vendor" in _words(r), r.output
        else:
            assert r.exit_code == 1 and entry in _words(r) and "only a trust entry of this store" in _words(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def _evil_records() -> None:
    """``evil.parquet``: 40 records no version or batch holds, near the vendor's (one pixel moved), not the
    quarantined crowd's (``support.new_records``' are, and a quarantine rule would block them anyway)."""
    rows = pq.read_table("vendor-batch.parquet").slice(0, 40)
    pixels = [v + 7 for v in rows.column("px20").to_pylist()]
    rows = rows.set_column(rows.schema.get_field_index("px20"), "px20", pa.array(pixels, pa.int64()))
    pq.write_table(rows, "evil.parquet")


def _v4_with_evil(prov) -> None:
    """v4: v2's records and the attacker's 40, committed by the maintainer on v2."""
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("evil.parquet")]), "v4.parquet")
    _ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)


@pytest.mark.parametrize("hint", ["restored", "left"])
def test_check_blocks_a_version_whose_source_key_came_from_another_store(
    prov, template_trust, workdir, tmp_path_factory, monkeypatch, hint
):
    """The ``.prov/`` writer also sets ``prov.db``'s store id (a hint) to the other store's, so ``prov add`` takes
    the batch; the maintainer then commits v4 with it. The gate reads the id from base v2's signed statement:
    the entry is refused by name ("restored"), or v4 signs the other id and the chain is refused ("left")."""
    own_id = _meta_id(workdir)
    blob, detail, other_id = _other_project_statement(prov, workdir, tmp_path_factory, monkeypatch)
    seq = _plant(workdir, blob, detail, rows=False)
    _evil_records()
    _ok(prov, "sign", "evil.parquet", "--source", "vendor", "--key", "attacker.key")
    _set_meta_id(workdir, other_id)
    _ok(prov, "add", "evil.parquet", "--source", "vendor", *PINNED)  # prov.db's id is only a hint
    if hint == "restored":
        _set_meta_id(workdir, own_id)
    _v4_with_evil(prov)
    r = prov("check", "v4", "--base", "v2", "--policy", "policy.toml", "--format", "json", *PINNED)
    assert r.exit_code == 1, r.output  # was 0: the attacker's 40 records attested as the vendor's
    said = _blocked_reason(r)
    if hint == "restored":
        assert f"audit entry {seq} (trust.add of 'vendor')" in said and "signed for another store" in said, said
    else:
        assert f"version v4 signs store id {other_id[:16]}" in said, said


def _blocked_reason(r) -> str:
    """The reason of the check's blocking ``integrity.verify_signatures`` rule (``prov check --json``)."""
    rules = {rule["rule"]: rule for rule in json.loads(r.stdout)["rules"]}
    rule = rules["integrity.verify_signatures"]
    assert rule["status"] == "block", rule
    return str(rule["reason"])


def test_honest_entries_and_versions_name_this_store_and_still_pass(prov, template_trust, workdir):
    own_id = _meta_id(workdir)
    assert own_id is not None  # prov init made it
    _ok(prov, "keys", "generate", "vendor-2027")
    _ok(prov, "trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    new = keys.key_id(keys.load_public("vendor-2027.pub"))
    _ok(prov, "trust", "retire", "vendor", "--key-id", new[:16], "--key", "maintainer.key", *PINNED)
    db = sqlite3.connect(".prov/prov.db")
    named = [
        json.loads(d)["statement"]
        for (d,) in db.execute("select detail from audit where action in ('trust.add', 'trust.retire') order by seq")
    ]
    store = Store.open(workdir)
    try:
        for oid in named:
            stmt = json.loads(_payload(store.objects.get(oid, "trust entry")))
            assert stmt["predicate"]["store"] == own_id, stmt
        for tag in ("v1", "v2", "v3", "v3q"):
            env = store.objects.get(store.version(tag)["envelope_object"], tag)
            assert json.loads(_payload(env))["predicate"]["store"] == own_id, tag
    finally:
        store.close()
    _ok(prov, "check", "v2", "--base", "v1", "--policy", "policy.toml", *PINNED)
    _ok(prov, "audit", "verify", *PINNED)
    _ok(prov, "fsck", *PINNED)


def _payload(envelope: bytes) -> bytes:
    import base64

    return base64.b64decode(json.loads(envelope)["payload"])


@pytest.fixture
def legacy(workdir) -> Path:
    """The store ``build.py`` made with prov's code from before store ids, copied here."""
    for p in LEGACY.iterdir():
        if p.name != "prov-store":
            shutil.copy2(p, workdir / p.name)
            if p.suffix == ".key":  # git keeps no mode 600: a fresh clone checks the keys out readable by others
                (workdir / p.name).chmod(0o600)
    shutil.copytree(LEGACY / "prov-store", workdir / ".prov")
    return workdir


def test_a_store_made_before_ids_keeps_working_and_refuses_a_late_id_less_entry(prov, legacy):
    assert _meta_id(legacy) is None  # built by the old code: no id, statements and versions name none
    _ok(prov, "check", "v2", "--base", "v1", *PINNED)
    listed = {k["keyid"]: k for k in json.loads(_ok(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]}
    assert listed[keys.key_id(keys.load_public("vendor.pub"))]["counted"] is True
    _ok(prov, "fsck", *PINNED)

    # the first commit by today's code gives the store its id and signs it; the id-less vendor entry, logged
    # before v3's signed head, still counts
    _ok(prov, "commit", "v2.parquet", "--tag", "v3", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert _meta_id(legacy) is not None
    _ok(prov, "check", "v3", "--base", "v2", *PINNED)

    # a .prov/ writer appends the id-less statement the maintainer signed in another old project (vendor =
    # the attacker there): prov add takes the batch (prov.db's view counts id-less entries anywhere)
    blob = (legacy / "attacker-statement.json").read_bytes()
    attacker = keys.key_id(keys.load_public("attacker.pub"))
    store = Store.open(legacy)
    try:
        with store.write():
            oid = store.put_object(blob, "json")
            detail = {"keyid": attacker, "valid_from": None, "valid_until": None, "name": "attacker"}
            store.audit("trust.add", "vendor", detail | {"added_at": "2026-01-01T00:00:00Z", "statement": oid})
        seq = store.audit_head()[0]
    finally:
        store.close()
    _evil_records()
    _ok(prov, "sign", "evil.parquet", "--source", "vendor", "--key", "attacker.key")
    _ok(prov, "add", "evil.parquet", "--source", "vendor", *PINNED)

    # v3 was committed before the entry: its check is unchanged (entries count up to its signed head only)
    _ok(prov, "check", "v3", "--base", "v2", *PINNED)
    # v4 holds the attacker's batch: the entry names no store and sits after v3 first signed an id: refused
    pq.write_table(pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("evil.parquet")]), "v4.parquet")
    _ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    # the detectors are off: this small store's 40 new records are judged on their signatures alone
    Path("trust-only.toml").write_text("[detectors]\nenabled = false\n")
    r = prov("check", "v4", "--base", "v3", "--policy", "trust-only.toml", "--format", "json", *PINNED)
    assert r.exit_code == 1, r.output  # was 0
    said = _blocked_reason(r)
    assert f"audit entry {seq} (trust.add of 'vendor')" in said and "names no store" in said, said
    assert "version v3 first signed a store id" in said, said
