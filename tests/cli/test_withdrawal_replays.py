"""`prov withdraw` attacked once more, replayed for real, and how `prov sources` / `prov show` mark withdrawals.

The attacker writes the maintainer's working tree and ``.prov/`` (sqlite3, the library's own
audit append) and holds the vendor's or their own key, never the maintainer's. Each replay starts
from review 5 finding 1's shape: a new signed vendor delivery edited and re-declared as an
unsigned crowd batch, which blocks until a withdrawal the gate relies on accounts for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from jsonschema import Draft202012Validator

from provenance import keys, signing
from support import check_rules, nudged, ok, second_vendor_delivery

PINNED = ("--signer", "maintainer.pub")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
RULE = "lineage.unattributed_beside_signed"


def _rule(prov) -> dict:
    return check_rules(prov, "v4", "v3", "--policy", "policy.toml", *PINNED)[RULE]


def _edited_delivery(prov) -> str:
    """The vendor's new batch, every row edited and declared as crowd2, committed as v4 (blocks); its batch id."""
    batch = second_vendor_delivery(prov)
    pq.write_table(nudged(pq.read_table("vendor2.parquet"), flips=2), "edited.parquet")
    ok(prov, "add", "edited.parquet", "--source", "crowd2", "--unsigned", *PINNED)
    pq.write_table(pa.concat_tables([pq.read_table("v3.parquet"), pq.read_table("edited.parquet")]), "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    assert _rule(prov)["status"] == "block"
    return batch


def _plant(envelope_bytes: bytes, batch: str) -> None:
    """A `.prov/` writer copies a withdrawal envelope into the store and appends a correctly chained
    `batch.withdraw` entry naming ``batch`` (the store's own write path, as anyone with the folder can)."""
    from provenance.store import Store

    store = Store.open()
    try:
        with store.write():
            oid = store.put_object(envelope_bytes, "json")
            store.audit("batch.withdraw", batch, {"object": oid, "keyid": "0" * 64, "reason": "planted"})
    finally:
        store.close()


def _statement(batch: str, keyid: str) -> dict:
    """The withdrawal statement `prov withdraw` would sign in this store now, for a hand-made envelope."""
    from provenance.lineage.withdraw import withdrawal_statement
    from provenance.store import Store

    store = Store.open()
    try:
        return withdrawal_statement(store, batch, "held back", keyid)
    finally:
        store.close()


def _withdrawal_object(folder: str) -> bytes:
    from provenance.store import Store

    store = Store.open(folder)
    try:
        row = store.db.execute("select detail from audit where action = 'batch.withdraw' order by seq desc").fetchone()
        return store.objects.get(json.loads(row[0])["object"], "withdrawal")
    finally:
        store.close()


def _plant_row(fork: Path) -> None:
    """A `.prov/` writer with sqlite3: copies the fork's newest `batch.withdraw` entry and its object into
    this store's `.prov/`, appended at this log's tip with the chain recomputed (so `audit verify` passes)."""
    from provenance.store.audit import entry_bytes

    with contextlib.closing(sqlite3.connect(fork / ".prov" / "prov.db")) as src:
        ts, action, subject, detail = src.execute(
            "select ts, action, subject, detail from audit where action = 'batch.withdraw' order by seq desc"
        ).fetchone()
    oid = json.loads(detail)["object"]
    shutil.copy2(fork / ".prov" / "objects" / f"{oid}.json", Path(".prov") / "objects" / f"{oid}.json")
    with contextlib.closing(sqlite3.connect(Path(".prov") / "prov.db")) as db, db:
        seq, prev = db.execute("select seq, hash from audit order by seq desc limit 1").fetchone()
        entry = {"seq": seq + 1, "ts": ts, "action": action, "subject": subject, "detail": detail, "prev_hash": prev}
        digest = hashlib.sha256(entry_bytes(entry)).hexdigest()
        db.execute("insert into audit values (?, ?, ?, ?, ?, ?, ?)", [*entry.values(), digest])


def _copy_of_this_store(workdir: Path) -> Path:
    """`cp -r` of this project's store, plus the maintainer's keys: another checkout or a branch."""
    fork = workdir / "fork"
    fork.mkdir()
    subprocess.run(["cp", "-r", ".prov", str(fork / ".prov")], check=True)
    for name in ("maintainer.key", "maintainer.pub", "attacker.pub"):
        shutil.copy2(name, fork / name)
    return fork


def _prov_in(prov, monkeypatch, folder: Path, *args: str) -> None:
    """``prov ARGS`` run in another folder (a second store of the same maintainer); must succeed."""
    with monkeypatch.context() as m:
        m.chdir(folder)
        ok(prov, *args)


def test_a_withdrawal_made_in_another_store_is_not_relied_on(prov, template_trust, workdir, monkeypatch):
    """The maintainer also keeps another project, which registered the same vendor delivery (same batch id,
    same root) and withdrew it there. A `.prov/` writer copies that genuine withdrawal into this store with a
    chained entry, and the maintainer's next checkpoint covers it: the withdrawal names the other store's
    registration of the batch, so the gate still blocks and `prov sources` says why it is not relied on."""
    batch = _edited_delivery(prov)
    other = workdir / "other"
    other.mkdir()
    for name in ("maintainer.key", "maintainer.pub", "vendor.pub", "vendor2.parquet", "vendor2.parquet.prov.json"):
        shutil.copy2(name, other / name)
    for args in (
        ("init",),
        ("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key"),
        ("add", "vendor2.parquet", "--source", "vendor", *PINNED),
        ("withdraw", batch, "--reason", "not for this project", "--key", "maintainer.key", *PINNED),
    ):
        _prov_in(prov, monkeypatch, other, *args)
    _plant(_withdrawal_object(str(other)), batch)
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key")  # the maintainer signs the log, unaware
    rule = _rule(prov)
    assert (
        rule["status"] == "block" and f"batch {batch} of vendor: 40 of its 40 signed records missing" in rule["reason"]
    )
    assert f"the withdrawal of {batch} is not relied on: it was signed for another registration" in rule["reason"]
    sources = json.loads(ok(prov, "sources", "--json", *PINNED))
    (judged,) = sources["withdrawals"]
    assert judged["status"] == "not relied on" and "another registration" in judged["why"]
    assert {s["source"]: s["withdrawn_batches"] for s in sources["sources"]}["vendor"] == 0


def test_a_withdrawal_entry_planted_after_the_last_checkpoint_is_not_relied_on(
    prov, template_trust, workdir, monkeypatch
):
    """A copy of this very store (a branch, a colleague's checkout) where the maintainer withdrew the batch:
    its withdrawal names this store's registration, but a `.prov/` writer plants it here after the last
    trusted signature. A pending entry is relied on by nothing: the gate blocks and says it is pending."""
    batch = _edited_delivery(prov)
    fork = workdir / "fork"
    fork.mkdir()
    shutil.copytree(".prov", fork / ".prov")
    for name in ("maintainer.key", "maintainer.pub"):
        shutil.copy2(name, fork / name)
    _prov_in(prov, monkeypatch, fork, "withdraw", batch, "--reason", "held back", "--key", "maintainer.key", *PINNED)
    _plant(_withdrawal_object(str(fork)), batch)
    rule = _rule(prov)
    assert rule["status"] == "block", rule
    assert f"the withdrawal of {batch} is not relied on: its audit entry is pending" in rule["reason"]
    out = ok(prov, "show", "v4", *PINNED)
    assert f"withdrawal of batch {batch} not relied on: its audit entry is pending" in out


def test_a_withdrawal_signed_by_the_source_key_is_not_relied_on(prov, template_trust, workdir):
    """The vendor (or whoever stole its key) signs a withdrawal of its own edited delivery, bound to this
    store's registration, and plants it; the maintainer's checkpoint covers the entry. Only a key of the
    commit role the verifier pins may withdraw: `prov withdraw --key vendor.key` is exit 2, and the planted
    one is not relied on."""
    batch = _edited_delivery(prov)
    r = prov("withdraw", batch, "--reason", "ours", "--key", "vendor.key", *PINNED)
    assert r.exit_code == 2 and "not among the keys you pinned" in r.stderr and r.stderr.count("\n") == 1
    vendor = keys.load_private("vendor.key")
    stmt = _statement(batch, keys.key_id(vendor.public_key()))
    Draft202012Validator(json.loads((SCHEMAS / "batch-withdrawal.schema.json").read_text())).validate(stmt)
    _plant(signing.canonical_json(signing.sign(stmt, vendor)), batch)
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key")
    rule = _rule(prov)
    assert rule["status"] == "block" and "does not verify under the commit role" in rule["reason"], rule


def test_sources_and_show_mark_a_withdrawn_batch(prov, template_trust, workdir):
    """The maintainer's withdrawal, verified under the pins as the gate does: `prov sources` and `prov show`
    list it as withdrawn with its signed reason and key id (text and JSON, which validate), and the gate
    passes."""
    batch = _edited_delivery(prov)
    withdrawal = json.loads(
        ok(prov, "withdraw", batch, "--reason", "held back by the vendor", "--key", "maintainer.key", "--json", *PINNED)
    )
    assert _rule(prov)["status"] == "pass"
    sources = json.loads(ok(prov, "sources", "--json", *PINNED))
    Draft202012Validator(json.loads((SCHEMAS / "sources.schema.json").read_text())).validate(sources)
    (judged,) = sources["withdrawals"]
    assert (judged["batch"], judged["status"], judged["reason"], judged["keyid"], judged["why"]) == (
        batch,
        "withdrawn",
        "held back by the vendor",
        withdrawal["keyid"],
        None,
    )
    assert {s["source"]: s["withdrawn_batches"] for s in sources["sources"]} == {"crowd": 0, "crowd2": 0, "vendor": 1}
    line = f"withdrawn: batch {batch} (held back by the vendor), signed by key {withdrawal['keyid'][:16]}"
    assert line in ok(prov, "sources", *PINNED)
    show = json.loads(ok(prov, "show", "v4", "--json", *PINNED))
    Draft202012Validator(json.loads((SCHEMAS / "show.schema.json").read_text())).validate(show)
    assert [w["status"] for w in show["withdrawals"]] == ["withdrawn"]
    assert line in ok(prov, "show", "v4", *PINNED)


def test_a_withdrawal_made_in_a_copy_whose_log_diverged_is_not_relied_on(prov, template_trust, workdir, monkeypatch):
    """Two copies of this store (`cp -r`) diverge by one entry each (a key registered under another name), so
    their logs have the same length. The maintainer withdraws the batch in the copy; a `.prov/` writer plants
    that entry here with sqlite3, chained onto this log's tip, and the maintainer's next commit signs the log
    over it. The withdrawal names the copy's log head, not the entry it follows here: the gate still blocks,
    and `prov sources` says why."""
    batch = _edited_delivery(prov)
    fork = _copy_of_this_store(workdir)
    ok(prov, "keys", "register", "attacker.pub", "--name", "reviewer")
    _prov_in(prov, monkeypatch, fork, "keys", "register", "attacker.pub", "--name", "colleague")
    _prov_in(prov, monkeypatch, fork, "withdraw", batch, "--reason", "held back", "--key", "maintainer.key", *PINNED)
    _plant_row(fork)
    ok(prov, "audit", "verify", *PINNED)  # the chain holds: nothing but the binding tells the entry apart
    ok(prov, "commit", "v4.parquet", "--tag", "v5", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v5", "v3", "--policy", "policy.toml", *PINNED)[RULE]
    assert rule["status"] == "block", rule
    assert f"the withdrawal of {batch} is not relied on: it was signed on another audit log" in rule["reason"]
    (judged,) = json.loads(ok(prov, "sources", "--json", *PINNED))["withdrawals"]
    assert judged["status"] == "not relied on" and "signed on another audit log" in judged["why"]
    fsck = prov("fsck")  # the store is whole; fsck warns about the withdrawal it holds and cannot rely on
    assert (
        fsck.exit_code == 0 and f"the withdrawal of batch '{batch}' is not relied on: it was signed on" in fsck.stdout
    )


def test_a_withdrawal_replayed_from_a_copy_that_has_not_diverged_counts(prov, template_trust, workdir, monkeypatch):
    """What remains (README, Known gaps): a copy whose log is this one's, withdrawn there and planted here
    right after the same head, is the maintainer's own decision on this very log, and counts once signed."""
    batch = _edited_delivery(prov)
    fork = _copy_of_this_store(workdir)
    _prov_in(prov, monkeypatch, fork, "withdraw", batch, "--reason", "held back", "--key", "maintainer.key", *PINNED)
    _plant_row(fork)
    assert _rule(prov)["status"] == "block"  # pending until the maintainer signs the log
    ok(prov, "commit", "v4.parquet", "--tag", "v5", "--parent", "v3", "--key", "maintainer.key", *PINNED)
    assert check_rules(prov, "v5", "v3", "--policy", "policy.toml", *PINNED)[RULE]["status"] == "pass"


def test_a_withdrawal_without_a_log_head_must_be_signed_again(prov, template_trust, workdir):
    """A withdrawal signed by the maintainer before withdrawals named the log head (no ``logHead``), under a
    checkpoint: not relied on, and the message says to sign it again; `prov withdraw` then does, and passes."""
    batch = _edited_delivery(prov)
    maintainer = keys.load_private("maintainer.key")
    stmt = _statement(batch, keys.key_id(maintainer.public_key()))
    del stmt["predicate"]["logHead"]
    _plant(signing.canonical_json(signing.sign(stmt, maintainer)), batch)
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key")
    rule = _rule(prov)
    assert rule["status"] == "block" and "sign it again with prov withdraw" in rule["reason"], rule
    ok(prov, "withdraw", batch, "--reason", "held back", "--key", "maintainer.key", *PINNED)
    assert _rule(prov)["status"] == "pass"
