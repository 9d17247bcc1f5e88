"""Attack review 24d: replays against lead24's f47b3cb (copies rule counts the base's clumping only for a delta with
at least ``min_copies`` copies), 0584e91 (records re-keyed by columns the data adds: commit with ``--metadata``) and
10f5dd5 (``prov audit verify --checkpoint F``: the entries a kept state a pinned key signed covers are signed).

In the trust world (``support.build_trust_world``), real keys, real stores edited by sqlite3, real processes. A test
marked ``xfail(strict=True)`` is a finding (it passes once fixed); the others pin an attack that held.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

PINNED = ("--signer", "maintainer.pub")


def _run(prov, *args: str, code: int = 0):
    r = prov(*args)
    assert r.exit_code == code, f"prov {' '.join(args)}: exit {r.exit_code}: {r.output}"
    return r


def _entries() -> int:
    with sqlite3.connect(".prov/prov.db") as db:
        return db.execute("select count(*) from audit").fetchone()[0]


def _resign_checkpoint(src: str, dst: str, key: str, **changes: object) -> None:
    """A checkpoint file ``src`` with its predicate fields ``changes`` replaced, signed again by private key ``key``
    (what the holder of that key can write)."""
    from provenance import keys, signing

    env = json.loads(Path(src).read_text())
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"].update(changes)
    Path(dst).write_bytes(signing.canonical_json(signing.sign(stmt, keys.load_private(key))))


def _unsigned_batch(prov, name: str = "scraped") -> None:
    """An entry no checkpoint covers yet: an unsigned batch registered."""
    import pyarrow.parquet as pq

    from support import digits_table

    pq.write_table(digits_table(30), f"{name}.parquet")
    _run(prov, "add", f"{name}.parquet", "--source", name, "--unsigned")


M_PIN = ("--signer", "m.pub")


def _vendor_base(prov, batch) -> None:
    """The vendor signs ``batch`` (vendor.parquet); maintainer ``m`` trusts it, registers it and commits it as v1."""
    import pyarrow.parquet as pq

    pq.write_table(batch, "vendor.parquet")
    for args in (
        ("keys", "generate", "vendor"),
        ("keys", "generate", "m"),
        ("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("trust", "add", "vendor", "vendor.pub", "--key", "m.key", *M_PIN),
        ("add", "vendor.parquet", "--source", "vendor", *M_PIN),
        ("commit", "vendor.parquet", "--tag", "v1", "--key", "m.key", *M_PIN),
    ):
        _run(prov, *args)


# --- 10f5dd5: a kept log state counted as a signature ------------------------------------------------------------


def test_held_a_kept_state_by_a_key_nobody_pinned_covers_nothing(prov, template_trust, workdir):
    """The attacker's own key signs a state of this very log: refused (exit 1), as before; nothing called signed."""
    _unsigned_batch(prov)
    _run(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "honest.cp", *PINNED)
    _resign_checkpoint("honest.cp", "forged.cp", "attacker.key")
    r = _run(prov, "audit", "verify", "--checkpoint", "forged.cp", *PINNED, "--json", code=1)
    assert "forged.cp" in r.output and "\n" not in r.output.strip(), r.output


def test_held_a_kept_state_by_a_key_the_store_revokes_covers_nothing(prov, template_trust, workdir):
    """A key the verifier pins that this store revokes (a signed revocation: the key was stolen) may still have
    its kept file checked (A14-4), but what the thief signs with it after the revocation is not signed: the
    entries after the store's own last checkpoint stay pending."""
    _run(prov, "keys", "generate", "maintainer2")
    two = ("--signer", "maintainer.pub", "--signer", "maintainer2.pub")
    _run(prov, "audit", "checkpoint", "--key", "maintainer2.key", *two)  # registers maintainer2 in the store
    keyid = json.loads(_run(prov, "keys", "list", "--json").stdout)
    ids = [k["keyid"] for k in (keyid if isinstance(keyid, list) else keyid["keys"]) if k.get("name") == "maintainer2"]
    assert ids, keyid
    _run(prov, "keys", "revoke", ids[0], "--checkpoint-key", "maintainer.key", *two)
    _unsigned_batch(prov)  # the thief's entry, after the revocation
    _run(prov, "audit", "checkpoint", "--key", "maintainer2.key", "--out", "thief.cp", *two, code=2)  # refused
    # the thief signs the file anyway, outside prov: the maintainer's own --out file re-signed with the stolen key
    _run(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "honest.cp", *two)
    _resign_checkpoint("honest.cp", "thief.cp", "maintainer2.key")
    before = json.loads(_run(prov, "audit", "verify", *two, "--json").stdout)
    assert [e["action"] for e in before["pending"]] == ["batch.add"], before
    r = prov("audit", "verify", "--checkpoint", "thief.cp", *two, "--json")
    if r.exit_code == 0:
        doc = json.loads(r.stdout)
        assert doc["pending"] == before["pending"] and doc["signed"] == before["signed"], doc
        assert not (doc["signed_by"] or "").startswith("kept log state"), doc
    else:
        assert r.exit_code == 1 and "thief.cp" in r.output, r.output


def test_held_a_log_that_no_longer_holds_the_kept_state_is_broken_not_signed(prov, template_trust, workdir):
    """F signed the log with the unsigned batch's entry; a .prov/ writer deletes that entry: exit 1 naming F."""
    _unsigned_batch(prov)
    _run(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *PINNED)
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from audit where seq = (select max(seq) from audit)")
    r = _run(prov, "audit", "verify", "--checkpoint", "kept.cp", *PINNED, "--json", code=1)
    assert "kept.cp" in r.output and "\n" not in r.output.strip(), r.output


def test_held_store_keys_say_the_kept_state_decides_nothing(prov, template_trust, workdir):
    """Nothing pinned, --store-keys: a key a .prov/ writer registers signs F; F covers the entries only as the
    store's own keys do, and the report says it is no trust decision (pinned false, NOT a trust decision)."""
    _unsigned_batch(prov)
    _run(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "honest.cp", *PINNED)
    _resign_checkpoint("honest.cp", "planted.cp", "attacker.key")
    # the attacker's key is not in the store: refused
    _run(prov, "audit", "verify", "--checkpoint", "planted.cp", "--store-keys", code=1)
    doc = json.loads(_run(prov, "audit", "verify", "--checkpoint", "honest.cp", "--store-keys", "--json").stdout)
    assert doc["pinned"] is False, doc
    text = _run(prov, "audit", "verify", "--checkpoint", "honest.cp", "--store-keys").stdout
    assert "NOT a trust decision" in text, text


def test_held_under_a_root_chain_a_kept_state_by_a_rotated_out_or_root_key_covers_nothing(
    prov, template_trust, workdir
):
    """--root chain: root 1 gives waive to ``old``, root 2 to ``new`` (maintainer commits in both). A kept state
    signed by the rotated-out ``old`` key (known: checked) or by the root key itself (pinned, no maintainer role)
    is checked against the log but covers none of it: the unsigned batch's entry stays pending."""
    for name in ("rootk", "old", "new"):
        _run(prov, "keys", "generate", name)
    for version, waiver in ((1, "old.pub"), (2, "new.pub")):
        out = f"root{version}.json"
        _run(prov, "root", "new", out, "--root-key", "rootk.pub", "--commit", "maintainer.pub", "--attest",
             "maintainer.pub", "--waive", waiver, "--source", "vendor=vendor.pub", "--version", str(version))  # fmt: skip
        _run(prov, "root", "sign", out, "--key", "rootk.key")
    under = ("--signer", "rootk.pub", "--root", "root1.json", "--root", "root2.json")
    _unsigned_batch(prov)
    _run(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "honest.cp", *PINNED)
    before = json.loads(_run(prov, "audit", "verify", *under, "--json").stdout)
    assert [e["action"] for e in before["pending"]] == ["batch.add"], before
    for key in ("old.key", "rootk.key"):
        _resign_checkpoint("honest.cp", "kept.cp", key)
        doc = json.loads(_run(prov, "audit", "verify", "--checkpoint", "kept.cp", *under, "--json").stdout)
        assert doc["pending"] == before["pending"] and doc["signed"] == before["signed"], (key, doc)
        assert not (doc["signed_by"] or "").startswith("kept log state"), (key, doc)
    # the maintainer's own kept state, under the same chain, covers it
    doc = json.loads(_run(prov, "audit", "verify", "--checkpoint", "honest.cp", *under, "--json").stdout)
    assert doc["pending"] == [] and doc["signed_by"].startswith("kept log state honest.cp"), doc


def test_kept_state_with_an_odd_timestamp_is_not_an_unnamed_input_error(prov, template_trust, workdir):
    """A checkpoint's signed timestamp is only checked to be text (checkpoints.parse_checkpoint). Before 10f5dd5,
    ``audit verify --checkpoint F`` of such a file by a pinned key checked the log (exit 0); now the new signed_by
    line parses it (coverage.verify_log) and the command fails with exit 2, "checkpoint 'last tuesday': not an ISO
    date", naming neither F nor the entry, and ``prov verify --attestation A --checkpoint F`` fails the same way
    (it calls verify_log for the consistency check alone)."""
    _unsigned_batch(prov)
    _run(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "honest.cp", *PINNED)
    _resign_checkpoint("honest.cp", "odd.cp", "maintainer.key", timestamp="last tuesday")
    audit = prov("audit", "verify", "--checkpoint", "odd.cp", *PINNED)
    release = prov(
        "verify", "v2", "--attestation", "v2.attestation.json", "--no-data", "--checkpoint", "odd.cp", *PINNED
    )
    assert audit.exit_code == 0 or "odd.cp" in audit.output, audit.output
    assert release.exit_code != 2 or "odd.cp" in release.output, release.output


# --- f47b3cb: the base's manifest no longer read for a delta with few copies -------------------------------------


def test_held_a_damaged_base_manifest_still_blocks_a_check_of_a_delta_without_copies(prov, template_trust, workdir):
    """Before f47b3cb every check streamed the base's manifest for its clumping (and a damaged one failed there);
    a delta of new records now reads none for the copies rule. A .prov/ writer who flips a byte of the base's
    manifest object is still caught by the check (exit 1), so the change costs nothing in integrity."""
    with sqlite3.connect(".prov/prov.db") as db:
        (oid,) = db.execute("select manifest_object from versions where tag = 'v2'").fetchone()
    path = next(Path(".prov/objects").glob(f"{oid}*"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    r = prov("check", "v3", "--base", "v2", "--policy", "policy.toml", "--no-save", *PINNED, "--format", "json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    integrity = [x for x in report["rules"] if x["rule"].startswith("integrity.") and x["status"] == "block"]
    assert integrity, [(x["rule"], x["status"]) for x in report["rules"]]


# --- 0584e91: records re-keyed by a column the data adds ---------------------------------------------------------


def test_the_step_that_leaves_an_added_column_out_of_the_digest_does_not_hide_it(prov, workdir, store):
    """Whoever writes the data folder adds a column to the vendor's signed records (``label_v2``: a second label a
    training job may read). ``prov check`` blocks, and its To release: step (0584e91) says to commit the data
    again with ``--metadata label_v2``, with no word that the column's values are then signed by no source and
    scored by no detector. Followed, the check passes all its rules and no line of its report names the column:
    60 records ship with values nobody signed, read by nothing. The step should say whose the column must be
    (your pipeline's, else drop it), or the check of such a version should name the columns left out of the digest
    that the base did not leave out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from support import digits_table

    batch = digits_table(60)
    _vendor_base(prov, batch)
    poisoned = batch.append_column("label_v2", pa.array([(i * 7) % 10 for i in range(batch.num_rows)]))
    pq.write_table(poisoned, "train.parquet")
    pin = M_PIN
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *pin)
    blocked = _run(prov, "check", "v2", "--base", "v1", "--no-save", *pin, code=1).output
    said = " ".join(blocked.split())
    step = said[said.index("- the column label_v2") : said.index("and check NEW against v1")]
    assert "--metadata label_v2" in step, step
    _run(
        prov,
        "commit",
        "train.parquet",
        "--tag",
        "v3",
        "--parent",
        "v2",
        "--metadata",
        "label_v2",
        "--key",
        "m.key",
        *pin,
    )
    passed = prov("check", "v3", "--base", "v1", "--no-save", *pin)
    warned = any(w in step for w in ("no source signed", "signed by no source", "unsigned", "your pipeline"))
    assert warned or passed.exit_code != 0 or "label_v2" in passed.output, (step, passed.output)


def test_a_check_of_data_that_adds_a_column_and_retypes_another_names_both_ways(prov, workdir, store):
    """The data adds ``annotator`` and reads ``px00`` as double where the vendor signed int64. ``prov commit``'s
    note names both ways (cast px00 back; --metadata annotator), but the check's reason and To release: name only
    the cast and the base re-commit with --schema (``facts.added_only`` gives [] as soon as one line is not an
    addition): the newcomer who follows either is blocked again by the column no cast removes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from support import digits_table

    batch = digits_table(60)
    _vendor_base(prov, batch)
    data = batch.set_column(0, "px00", batch.column("px00").cast(pa.float64()))
    pq.write_table(data.append_column("annotator", pa.array(["a"] * batch.num_rows)), "train.parquet")
    pin = M_PIN
    note = _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *pin).output
    assert "--metadata annotator" in " ".join(note.split()), note
    said = " ".join(_run(prov, "check", "v2", "--base", "v1", "--no-save", *pin, code=1).output.split())
    step = said[said.index("To release:") : said.index("Policy ")]
    assert "--metadata annotator" in step, step
