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

Stores made before ids (``tests/data/legacy-store``, built by the code of that time: ``build.py``; the ``legacy`` fixture) keep
working, and an id-less statement appended after the first version that signs an id is refused.
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

from provenance import keys
from provenance.store import Store
from provenance.store.audit import entry_bytes
from provenance.trust import statements
from support import new_records, one_line, plant_attestation, store_fingerprint, succeeded

PINNED = ("--signer", "maintainer.pub")


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
    succeeded(prov, "init")
    succeeded(prov, "trust", "add", "vendor", str(workdir / "attacker.pub"), "--key", str(workdir / "maintainer.key"))
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
    r = succeeded(prov, "trust", "list", *PINNED)
    assert f"WARNING: {entry}: the signed trust entry of key {attacker[:16]} was signed for another store" in _words(r)
    listed = {k["keyid"]: k for k in json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]}
    assert attacker not in listed or listed[attacker]["counted"] is False, listed.get(attacker)

    # audit verify and fsck fail on it (audit verify passed: the entry was only pending)
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 1 and entry in one_line(r) and "another store" in one_line(r), r.output
    r = prov("fsck", *PINNED)
    assert r.exit_code != 0 and entry in _words(r), r.output

    # a batch the attacker signs as vendor's is refused, naming the entry (was exit 0 "signed by key a368…")
    new_records("evil.parquet")
    succeeded(prov, "sign", "evil.parquet", "--source", "vendor", "--key", "attacker.key")
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
    succeeded(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)


def test_signing_writes_refuse_a_store_id_the_signed_history_contradicts(
    prov, template_trust, workdir, tmp_path_factory, monkeypatch
):
    """Attack review 17b: the ``.prov/`` writer also sets ``prov.db``'s store id to the other project's, so ``prov
    add`` takes the batch and the maintainer's next commit, trust entry or retirement signs that id (then the
    copied entry counts here). The id of record (v1's signed statement, the first commit entry of the log)
    wins: ``add`` refuses the batch, every signing write refuses naming prov.db and both ids, nothing is
    written, and ``prov fsck --repair`` writes the id of record back."""
    own_id = _meta_id(workdir)
    blob, detail, other_id = _other_project_statement(prov, workdir, tmp_path_factory, monkeypatch)
    seq = _plant(workdir, blob, detail, rows=False)
    _evil_records()
    succeeded(prov, "sign", "evil.parquet", "--source", "vendor", "--key", "attacker.key")
    succeeded(prov, "keys", "generate", "vendor-2027")
    _set_meta_id(workdir, other_id)
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "evil.parquet", "--source", "vendor", *PINNED)  # was exit 0: prov.db's id decided
    assert r.exit_code == 1 and f"audit entry {seq} (trust.add of 'vendor')" in _words(r), r.output
    assert "another store" in _words(r) and "version v1's signed statement" in _words(r), r.output
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    writes = [
        ("commit", "v2.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key"),
        ("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key"),
        ("trust", "retire", "vendor", "--key-id", vendor[:16], "--key", "maintainer.key", "--yes"),
    ]
    for args in writes:
        r = prov(*args, *PINNED)
        said = one_line(r)
        assert r.exit_code == 1, (args, r.output)
        assert "prov.db" in said and other_id in said and own_id in said, (args, said)
        assert "version v1's signed statement" in said, said
    assert store_fingerprint(workdir / ".prov") == before

    r = prov("fsck", *PINNED)
    assert r.exit_code == 1 and f"meta store_id is {other_id}" in _words(r), r.output
    r = prov("fsck", "--repair", *PINNED)  # the planted entry stays an error: only the id is written back
    assert r.exit_code == 1 and f"meta store_id restored to {own_id}" in _words(r), r.output
    assert _meta_id(workdir) == own_id
    succeeded(prov, "commit", "v2.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)


@pytest.mark.parametrize("damage", ["deleted", "garbled"])
def test_fsck_repair_restores_a_damaged_store_id_from_signed_history(prov, template_trust, workdir, damage):
    """A missing or damaged ``meta.store_id`` stopped every signing write, and ``fsck --repair`` did not mend it."""
    own_id = _meta_id(workdir)
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    if damage == "deleted":
        db.execute("delete from meta where key = 'store_id'")
    else:
        db.execute("update meta set value = 'not-an-id' where key = 'store_id'")
    db.commit()
    db.close()
    r = prov("commit", "v2.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 3 and "prov fsck --repair" in one_line(r) and own_id in one_line(r), r.output
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1 and "meta store_id" in _words(r) and own_id in _words(r), r.output
    for pins in ((), PINNED):  # nothing pinned: the id of record under the store's keys is the same one
        r = succeeded(prov, "fsck", "--repair", *pins)
        assert _meta_id(workdir) == own_id
        if not pins:
            assert f"meta store_id restored to {own_id}" in _words(r), r.output
    succeeded(prov, "commit", "v2.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)


def _blocked_reason(r) -> str:
    """The reason of the check's blocking ``integrity.verify_signatures`` rule (``prov check --json``)."""
    rules = {rule["rule"]: rule for rule in json.loads(r.stdout)["rules"]}
    rule = rules["integrity.verify_signatures"]
    assert rule["status"] == "block", rule
    return str(rule["reason"])


def test_honest_entries_and_versions_name_this_store_and_still_pass(prov, template_trust, workdir):
    own_id = _meta_id(workdir)
    assert own_id is not None  # prov init made it
    succeeded(prov, "keys", "generate", "vendor-2027")
    succeeded(prov, "trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    new = keys.key_id(keys.load_public("vendor-2027.pub"))
    succeeded(prov, "trust", "retire", "vendor", "--key-id", new[:16], "--key", "maintainer.key", *PINNED)
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
    succeeded(prov, "check", "v2", "--base", "v1", "--policy", "policy.toml", *PINNED)
    succeeded(prov, "audit", "verify", *PINNED)
    succeeded(prov, "fsck", *PINNED)


def _payload(envelope: bytes) -> bytes:
    return base64.b64decode(json.loads(envelope)["payload"])


def _plant_id_less(folder: Path) -> int:
    """A ``.prov/`` writer appends the id-less statement the maintainer signed in another old project (vendor =
    the attacker there) with one ``trust.add`` entry; returns its seq."""
    blob = (folder / "attacker-statement.json").read_bytes()
    attacker = keys.key_id(keys.load_public("attacker.pub"))
    store = Store.open(folder)
    try:
        with store.write():
            oid = store.put_object(blob, "json")
            detail = {"keyid": attacker, "valid_from": None, "valid_until": None, "name": "attacker"}
            store.audit("trust.add", "vendor", detail | {"added_at": "2026-01-01T00:00:00Z", "statement": oid})
        return store.audit_head()[0]
    finally:
        store.close()


def test_a_store_made_before_ids_keeps_working_and_refuses_a_late_id_less_entry(prov, legacy):
    assert _meta_id(legacy) is None  # built by the old code: no id, statements and versions name none
    succeeded(prov, "check", "v2", "--base", "v1", *PINNED)
    listed = {k["keyid"]: k for k in json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]}
    assert listed[keys.key_id(keys.load_public("vendor.pub"))]["counted"] is True
    succeeded(prov, "fsck", *PINNED)

    # the first commit by today's code gives the store its id and signs it, saying it signs over the id-less
    # vendor entry; that entry, logged before v3's signed head, still counts
    r = succeeded(prov, "commit", "v2.parquet", "--tag", "v3", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert "Note: v3 is the first version to sign this store's id, and it signs over 1 trust entry" in r.stderr
    assert _meta_id(legacy) is not None
    succeeded(prov, "check", "v3", "--base", "v2", *PINNED)
    r = succeeded(prov, "commit", "v2.parquet", "--tag", "v3b", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    assert "first version to sign" not in r.stderr

    # a .prov/ writer appends an id-less statement: it sits after v3's signed head, so nothing counts it (was:
    # prov add took the batch, prov.db's view counting id-less entries anywhere)
    seq = _plant_id_less(legacy)
    entry = f"audit entry {seq} (trust.add of 'vendor')"
    _evil_records()
    succeeded(prov, "sign", "evil.parquet", "--source", "vendor", "--key", "attacker.key")
    r = prov("add", "evil.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code == 1 and entry in _words(r), r.output
    assert "names no store and was logged after version v3 first signed a store id" in _words(r), r.output
    assert entry in _words(succeeded(prov, "trust", "list", *PINNED))
    r = prov("fsck", *PINNED)
    assert r.exit_code == 1 and entry in _words(r), r.output
    r = prov("fsck")  # nothing pinned: a warning only, the entry named
    assert entry in _words(r) and "names no store" in _words(r), r.output
    # v3 was committed before the entry: its check is unchanged
    succeeded(prov, "check", "v3", "--base", "v2", *PINNED)


def test_fsck_and_the_first_id_signing_commit_name_id_less_entries_logged_before_it(prov, legacy):
    """Before any version signs an id, an id-less entry appended after the last version's signed head would be
    signed over by the next commit: fsck warns of it, and that commit says how many it signs over."""
    seq = _plant_id_less(legacy)
    for pins in (PINNED, ()):  # pinned, fsck also says its trust rows are missing (the plant wrote none)
        r = prov("fsck", *pins)
        assert f"warning: [trust] audit entry {seq} (trust.add of 'vendor')" in _words(r), r.output
        assert "names no store and was logged after version v2's signed audit head" in _words(r), r.output
        assert "the next commit will sign over it" in _words(r), r.output
    r = succeeded(prov, "commit", "v2.parquet", "--tag", "v3", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    assert "signs over 2 trust entries that name no store" in r.stderr and "prov trust list" in r.stderr, r.stderr
    r = succeeded(
        prov, "commit", "v2.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", "--json", *PINNED
    )
    assert json.loads(r.stdout)["id_less_trust_entries"] == 0


def test_check_takes_the_id_of_record_not_one_a_parent_chain_from_before_ids_brings(prov, legacy):
    """Attack review 17b: v3, the first commit by today's code, signs the store's id, by a second maintainer's key.
    A ``.prov/`` writer then sets ``prov.db``'s id to another project's, and the first maintainer, whose pins do not
    cover the second's key (so her commit cannot see the id of record), commits v4 with ``--parent v2``: v4 signs
    the other id. Checked against v2 (no id), the gate took v4's own id as the chain's; it now takes the id of
    record in the log up to v4's signed head."""
    succeeded(prov, "keys", "generate", "second")
    both = (*PINNED, "--signer", "second.pub")
    succeeded(prov, "commit", "v2.parquet", "--tag", "v3", "--parent", "v2", "--key", "second.key", *both)
    own_id = _meta_id(legacy)
    other_id = "ab" * 16
    _set_meta_id(legacy, other_id)
    # v3's entry is under no checkpoint her pins trust, so her commit would sign it unvouched: refused (attack
    # review 26e, A26e-5) until she signs the log as it is
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", *PINNED)
    succeeded(prov, "commit", "v2.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    r = prov("check", "v4", "--base", "v2", "--format", "json", *both)
    assert r.exit_code == 1, r.output  # was 0: v4's own id was the chain's
    said = _blocked_reason(r)
    assert f"version v4 signs store id {other_id[:16]}" in said and f"names {own_id[:16]}" in said, said
    assert "version v3's signed statement" in said, said
    succeeded(prov, "check", "v3", "--base", "v2", *both)


def test_a_pinned_store_id_decides_the_gate_and_the_signing_writes(prov, legacy, tmp_path_factory, monkeypatch):
    """Pinned outside ``.prov/`` (``--store-id``, ``PROV_STORE_ID``), the store id closes the window before the
    first id-signing commit: a ``.prov/`` writer's id in ``prov.db`` is refused, and the gate expects the pinned
    id of every version that names one."""
    other = tmp_path_factory.mktemp("other")
    monkeypatch.chdir(other)
    other_id = json.loads(succeeded(prov, "init", "--json").stdout)["store_id"]
    monkeypatch.chdir(legacy)
    mine = "cd" * 16  # the id its maintainer chose to pin for this store made before ids
    _set_meta_id(legacy, other_id)  # the .prov/ writer, before the store's first commit by today's code
    before = store_fingerprint(legacy / ".prov")
    v3 = ("commit", "v2.parquet", "--tag", "v3", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    r = prov(*v3, "--store-id", mine)
    assert r.exit_code == 1 and other_id in one_line(r) and mine in one_line(r) and "prov.db" in one_line(r)
    assert "the store id you pinned (--store-id)" in one_line(r), r.output
    assert store_fingerprint(legacy / ".prov") == before

    db = sqlite3.connect(legacy / ".prov" / "prov.db")
    db.execute("delete from meta where key = 'store_id'")  # as the old code left it: the pinned id is written
    db.commit()
    db.close()
    monkeypatch.setenv("PROV_STORE_ID", mine)
    succeeded(prov, *v3)
    assert _meta_id(legacy) == mine
    succeeded(prov, "check", "v3", "--base", "v2", *PINNED)
    r = prov("check", "v3", "--base", "v2", "--format", "json", "--store-id", other_id, *PINNED)  # the flag wins
    assert r.exit_code == 1, r.output
    said = _blocked_reason(r)
    # the base v2, from before ids, is read first: it counts only as this store's history before its id of record
    assert f"version v2: signs no store id, and this store's id of record, {mine[:16]}" in said, said
    assert f"is not the store id you pinned ({other_id[:16]}, --store-id)" in said, said
    r = prov("verify", "v3", "--no-data", "--store-id", other_id, *PINNED)
    assert r.exit_code == 1 and f"not the store id you pinned ({other_id[:16]}, --store-id)" in one_line(r), r.output
    succeeded(prov, "verify", "v3", "--no-data", *PINNED)  # PROV_STORE_ID is still this store's

    monkeypatch.setenv("PROV_STORE_ID", "v3")
    r = prov("check", "v3", "--base", "v2", *PINNED)
    assert r.exit_code == 2 and "PROV_STORE_ID 'v3': not a store id" in one_line(r), r.output


def test_a_root_file_pins_the_store_id(prov, template_trust, workdir):
    """``prov root new --store-id`` signs the id into the root: a check under it expects that id of every version
    (a root naming another project's id blocks), and a ``--store-id`` that contradicts the root is refused."""
    from jsonschema import Draft202012Validator

    schemas = Path(__file__).resolve().parents[2] / "schemas"

    def valid(name: str, doc: object) -> None:
        Draft202012Validator(json.loads((schemas / f"{name}.schema.json").read_text())).validate(doc)

    own_id, other_id = _meta_id(workdir), "ef" * 16
    assert own_id is not None
    for out, sid in (("root.json", own_id), ("wrong-root.json", other_id)):
        args = ("--root-key", "maintainer.pub", "--commit", "maintainer.pub", "--attest", "maintainer.pub")
        r = succeeded(prov, "root", "new", out, *args, "--source", "vendor=vendor.pub", "--store-id", sid, "--json")
        valid("root-new", json.loads(r.stdout))
        succeeded(prov, "root", "sign", out, "--key", "maintainer.key")
    shown = json.loads(succeeded(prov, "root", "show", "root.json", *PINNED, "--json").stdout)
    valid("root-show", shown)
    assert shown["store"] == own_id
    under = (*PINNED, "--root", "root.json")
    succeeded(prov, "check", "v2", "--base", "v1", "--policy", "policy.toml", *under)
    listed = json.loads(succeeded(prov, "trust", "list", "--json", *under).stdout)
    valid("trust-list", listed)
    assert listed["trust"]["store_id"] == own_id
    r = prov(
        "check",
        "v2",
        "--base",
        "v1",
        "--policy",
        "policy.toml",
        "--format",
        "json",
        *PINNED,
        "--root",
        "wrong-root.json",
    )
    assert r.exit_code == 1, r.output
    assert f"not the store id you pinned ({other_id[:16]}, root file wrong-root.json)" in _blocked_reason(r)
    r = prov("check", "v2", "--base", "v1", *under, "--store-id", other_id)
    assert r.exit_code == 2 and f"differs from the one root.json pins ({own_id})" in one_line(r), r.output
    r = prov("root", "new", "bad.json", "--root-key", "maintainer.pub", "--store-id", "v1")
    assert r.exit_code == 2 and "store must be a store id" in one_line(r), r.output


def test_a_release_attestation_names_the_store_id_and_verify_checks_it_against_the_pin(prov, template_trust, workdir):
    """The attestation carries the id the version signed; ``prov verify --attestation`` under a pinned id refuses
    a release of another store (exit 1), and passes under this store's."""
    import base64

    from jsonschema import Draft202012Validator

    own_id = _meta_id(workdir)
    env = json.loads(Path("v2.attestation.json").read_text())
    facts = json.loads(base64.b64decode(env["payload"]))
    schema = Path(__file__).resolve().parents[2] / "schemas" / "release-attestation.schema.json"
    Draft202012Validator(json.loads(schema.read_text())).validate(facts)
    assert facts["predicate"]["https://prov.dev/release/v1"]["store"] == own_id
    succeeded(prov, "verify", "v2", "--attestation", "v2.attestation.json", "--no-data", "--store-id", own_id, *PINNED)
    r = prov("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", "--store-id", "ab" * 16, *PINNED)
    assert r.exit_code == 1 and f"not the store id you pinned ({'ab' * 8}, --store-id)" in one_line(r), r.output


def test_a_rewritten_log_leaves_the_id_the_versions_sign_in_force(prov, template_trust, workdir):
    """A ``.prov/`` writer rewrites the audit log (one entry's time changed, the chain rehashed) so that no
    version's signed head is in it: no commit entry makes an id of record. The id the versions sign still
    decides, so a ``prov.db`` naming another project's id is refused, not signed."""
    from provenance.store.audit import entry_bytes

    own_id, other_id = _meta_id(workdir), "ab" * 16
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    db.row_factory = sqlite3.Row
    prev = "0" * 64
    for row in db.execute("select * from audit order by seq").fetchall():
        entry = dict(row) | {"prev_hash": prev}
        if entry["seq"] == 1:
            entry["ts"] = "2001-01-01T00:00:00Z"
        prev = hashlib.sha256(entry_bytes(entry)).hexdigest()
        db.execute(
            "update audit set ts = ?, prev_hash = ?, hash = ? where seq = ?",
            [entry["ts"], entry["prev_hash"], prev, entry["seq"]],
        )
    db.commit()
    db.close()
    _set_meta_id(workdir, other_id)
    succeeded(prov, "keys", "generate", "vendor-2027")
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    said = one_line(r)
    assert r.exit_code == 1 and other_id in said and own_id in said and "prov audit verify" in said, r.output
    assert store_fingerprint(workdir / ".prov") == before


# --- attack review 19 of the id of record (fix18a), replayed for real; each failed on main at 78fee97 ---------
#
# - F19-1: a ``.prov/`` writer copies the first entries of another project's audit log (same maintainer key)
#   to the head of this store's log and re-chains the rest: that project's first version becomes "the earliest
#   commit entry signed at its place". Now every version the store holds must sign the id of record (and, with
#   a record, have its signed audit head in the log), else signing writes refuse saying the log and the
#   versions disagree, and ``prov fsck --repair`` writes no id while they do.
# - F19-2: ``prov verify V --attestation A`` (keys pinned, no store id) refuses a release attestation naming
#   another store than the one ``V`` signs; ``prov show``/``log`` do not mark such a planted one released.
# - F19-3: when no version verifies under today's pins (the maintainer who made them revoked by an unsigned
#   ``keys`` row while a second is pinned, or a root that rotates ``commit``), the id of record is read under
#   every commit key the pins vouch for, store revocations not applied; when none verifies even so, signing
#   writes refuse and say to pin the id. ``prov.db``'s row never decides again.
# - F19-4: with the audit log broken before the id of record, ``trust.scope.hint_scope`` fails closed (no
#   entry naming a store counts unless pinned, and none naming no store), never falls back to ``prov.db``'s row.


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
    succeeded(prov, "init")
    for args in steps:
        succeeded(prov, *args)
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
    succeeded(prov, "keys", "generate", "vendor-2027")

    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    said = one_line(r)
    assert r.exit_code == 1 and "the audit log and the versions disagree on the store id" in said, r.output
    assert own_id in said and other_id in said and "version b0's signed statement" in said, r.output
    assert store_fingerprint(workdir / ".prov") == before

    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 1 and "disagree on the store id" in _words(r), r.output
    assert _meta_id(workdir) == own_id, f"fsck --repair wrote another project's id {other_id}: {r.output}"
    r = prov("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    assert r.exit_code != 0 or _last_trust_entry_store(workdir) != other_id, r.output
    # the row set to the other project's id as well changes nothing: the versions here contradict the record
    _set_meta_id(workdir, other_id)
    r = prov("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 1 and "disagree on the store id" in one_line(r), r.output
    r = prov("commit", "v2.parquet", "--tag", "v9", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 1 and "disagree on the store id" in one_line(r), r.output
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 1 and _meta_id(workdir) == other_id, r.output  # reported, not "repaired" either way
    # whoever pins the id is not misled at all: the record contradicts the pin
    r = prov("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", "--store-id", own_id, *PINNED)
    assert r.exit_code == 1 and "its audit log was rewritten" in one_line(r), r.output


def test_f19_1_in_a_store_made_before_ids_the_lost_signed_heads_refuse_the_planted_record(
    prov, legacy, tmp_path_factory, monkeypatch
):
    """F19-1 where the versions name no id (a store made before ids): nothing contradicts the planted record's
    id, but re-chaining the log lost every version's signed audit head, so the record is not taken: signing
    writes refuse, and ``fsck --repair`` does not write the other project's id into the (missing) row."""
    other = _other_project(
        prov,
        legacy,
        tmp_path_factory,
        monkeypatch,
        ("maintainer.key", "maintainer.pub", "v1.parquet"),
        [("commit", "v1.parquet", "--tag", "b0", "--key", "maintainer.key", *PINNED)],
    )
    other_id = _meta_id(other)
    assert _meta_id(legacy) is None and other_id
    _plant_log_prefix(legacy, other, upto=2)
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 1 and "signed audit head is not in the audit log" in _words(r), r.output
    assert _meta_id(legacy) is None, r.output
    _set_meta_id(legacy, str(other_id))
    succeeded(prov, "keys", "generate", "vendor-2027")
    before = store_fingerprint(legacy / ".prov")
    r = prov("trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 1 and "version v1's signed audit head is not in the audit log" in one_line(r), r.output
    assert store_fingerprint(legacy / ".prov") == before


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
    succeeded(prov, "verify", "v2", "--attestation", "v2.attestation.json", "--no-data", *PINNED)  # this store's: ok
    r = prov("verify", "v2", "--attestation", str(other / "v2.attestation.json"), "--no-data", *PINNED)
    assert r.exit_code == 1, f"another store's release attestation accepted: {r.output}"
    said = one_line(r)
    assert "another store's release" in said and str(_meta_id(other))[:16] in said, r.output

    # planted in this store's attestations (object and row), it marks nothing released (prov show, prov log)
    # and does not move the release counter (a fresh --attest of v2 here keeps its own)
    planted = plant_attestation(other, workdir, "v2")
    (kept,) = json.loads(succeeded(prov, "show", "v2", "--json", *PINNED).stdout)["attestations"]
    assert kept["attestation"] == planted["object"] and kept["verified"] is False, kept
    assert "another store's release" in kept["problem"], kept
    log = _words(succeeded(prov, "log", *PINNED))
    assert "released: release" not in log and "not relied on:" in log and "another store's release" in log, log


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
        succeeded(prov, "keys", "generate", "bob")
        under, new_key = (*PINNED, "--signer", "bob.pub"), "bob"
        db = sqlite3.connect(workdir / ".prov" / "prov.db")
        db.execute("update keys set revoked_at = '2026-01-01T00:00:00+00:00' where name = 'maintainer'")
        db.commit()
        db.close()
    else:
        for name in ("rootk", "new2"):
            succeeded(prov, "keys", "generate", name)
        for version, committer in ((1, "maintainer.pub"), (2, "new2.pub")):
            out = f"root{version}.json"
            succeeded(prov, "root", "new", out, "--root-key", "rootk.pub", "--commit", committer, "--attest", committer,
                "--source", "vendor=vendor.pub", "--version", str(version))  # fmt: skip
            succeeded(prov, "root", "sign", out, "--key", "rootk.key")
        under, new_key = ("--signer", "rootk.pub", "--root", "root1.json", "--root", "root2.json"), "new2"
    _set_meta_id(workdir, other_id)
    r = prov("trust", "add", "vendor", f"{new_key}.pub", "--key", f"{new_key}.key", *under)
    assert r.exit_code != 0 or _last_trust_entry_store(workdir) == own_id, (
        f"trust entry signed for {_last_trust_entry_store(workdir)}: {r.output}"
    )
    # the id of record is read under every commit key the pins vouch for, revoked in the store or rotated
    # out: it names this store, so the refusal names both ids, fsck --repair writes this one back, and the
    # write then signs it
    said = one_line(r)
    assert r.exit_code == 1 and own_id in said and other_id in said, r.output
    r = prov("fsck", "--repair", *under)  # fails all the same: the versions do not verify under today's pins
    assert f"meta store_id restored to {own_id}" in _words(r) and _meta_id(workdir) == own_id, r.output
    succeeded(prov, "trust", "add", "vendor", f"{new_key}.pub", "--key", f"{new_key}.key", *under)
    assert _last_trust_entry_store(workdir) == own_id


def test_f19_3_versions_none_of_which_verifies_under_any_vouched_key_leave_signing_writes_to_a_pinned_id(
    prov, template_trust, workdir
):
    """F19-3's refusal: pinned only to a key that never made a version (nor any root vouching for one), no key
    the pins vouch for verifies any version here, so the id they sign cannot be told: a signing write refuses,
    saying to pin the id, and is not told by ``prov.db``'s row; with the id pinned, it signs that id."""
    own_id = _meta_id(workdir)
    succeeded(prov, "keys", "generate", "bob")
    _set_meta_id(workdir, "ab" * 16)
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "add", "vendor", "bob.pub", "--key", "bob.key", "--signer", "bob.pub")
    said = one_line(r)
    assert r.exit_code == 1 and "none verifies under a key your pins vouch for" in said, r.output
    assert "--store-id" in said, r.output
    assert store_fingerprint(workdir / ".prov") == before
    _set_meta_id(workdir, str(own_id))
    succeeded(
        prov, "trust", "add", "vendor", "bob.pub", "--key", "bob.key", "--signer", "bob.pub", "--store-id", str(own_id)
    )
    assert _last_trust_entry_store(workdir) == own_id


def test_f19_4_a_broken_log_does_not_hand_the_trust_scope_back_to_the_row(
    prov, template_trust, workdir, tmp_path_factory, monkeypatch
):
    """F19-4 (low): 17b's replay (another project's ``trust add vendor attacker.pub``, its statement and one
    ``trust.add`` entry planted here, the row set to that project's id), plus one edit: audit entry 1's time.
    ``identity.of_record`` then raises, and ``hint_scope`` falls back to the row, so ``prov add`` takes a
    batch the attacker signed as vendor's and ``trust list`` counts the attacker's key (17b's test has ``add``
    refuse it). ``commit`` and the gate refuse the broken log, so this misleads rather than releases."""
    own_id = str(_meta_id(workdir))
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
    succeeded(prov, "sign", "evil.parquet", "--source", "vendor", "--key", "attacker.key")
    r = prov("add", "evil.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code != 0, f"a batch signed by a key only another project trusts was added: {r.output}"
    # trust list counts neither the planted entry nor this store's own: the scope is unknown, and it says why
    listed = json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]
    assert listed and not any(k["counted"] for k in listed), listed
    assert "cannot be read from its signed history" in _words(succeeded(prov, "trust", "list", *PINNED))
    # a pinned id decides the scope: this store's own entry counts again, the planted one does not
    own = [
        k for k in json.loads(succeeded(prov, "trust", "list", "--json", "--store-id", own_id, *PINNED).stdout)["keys"]
    ]
    counted = {k["keyid"] for k in own if k["counted"]}
    assert counted == {keys.key_id(keys.load_public("vendor.pub"))}, own
