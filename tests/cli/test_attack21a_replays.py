"""Attack review 21a: replays of what breaks in rekey21 (``prov add`` registering a batch again as
``SOURCE@ROOT12.N`` after its key was revoked) and small21 (lists reading revocations from the log), in the trust
world (``support.build_trust_world``), with real keys, Parquet files and sqlite3; see
/work/notes/report-attack21a.md.

Finding A21a-1 (low): ``prov trust revoke`` without ``--yes`` refuses saying the revocation cannot be undone
because "prov add refuses the same records signed again by a new key: the same batch" (its ``--help`` says the
same). Since rekey21 ``prov add`` registers exactly those records again as ``SOURCE@ROOT12.2``, so the refusal a
maintainer reads while deciding to revoke a stolen key describes the old behaviour.

Finding A21a-2 (low): after a batch registered unsigned is signed by its source and registered again, ``prov add``
says ``registered again: B attests nothing under your pins (prov sources says why)``, but ``prov sources`` names
only signed registrations that attest nothing (``standing.untrusted_batches``): the unsigned one is named nowhere.

Finding A21a-3 (low): ``prov trust list`` marks a key ``row says revoked, log does not: restore .prov/ from a copy
you trust and revoke it again`` when a ``.prov/`` writer deleted the revocation's audit entries and left the row.
"Revoke it again" is refused (exit 2, ``every key is already revoked``): ``trust revoke`` reads the row, so a
maintainer with no older copy of ``.prov/`` has no command that writes the revocation back into the log, and every
log state kept from then on (``audit checkpoint --out``) keeps a log without it.

Finding A21a-4 (low): small21 made ``prov trust list`` show a revocation's reason, said to be read from the audit log
(``revoked_in_log``), but the reason it shows is the ``trust`` row's, which a ``.prov/`` writer edits with sqlite3
without breaking the hash chain (``prov audit verify`` passes; only ``prov fsck`` names the mismatch). ``prov keys
list`` shows the ``key.revoke`` entry's reason; ``trust list`` could show the ``trust.revoke`` entry's the same way.

Finding A21a-5 (low-medium): ``batch_ids._NTH`` ends in ``$``, which also matches before a final newline, so a
subject ``SOURCE@ROOT12.2\\n`` parses as the 2nd registration. A ``.prov/`` writer plants a ``batch.add`` entry (and
row) with that subject after the revoked registration; ``prov audit verify`` passes (its predecessor is there) and
the maintainer's next checkpoint covers it. The vendor's genuine ``prov add`` then counts it as ``.2`` and writes
``.3``, and from then on ``prov audit verify``, ``prov commit`` and every lineage reader refuse the log, blaming the
genuine entry: ``entry N registers batch ...3, but no earlier entry registers ...2 ... not written by prov add``.
``\\Z`` (or ``fullmatch``) would parse the planted subject as no registration of the batch.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from provenance import keys
from provenance.store import audit
from support import store_fingerprint, succeeded, words

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")


def test_a21a_1_trust_revokes_refusal_says_prov_add_refuses_what_it_now_registers_again(prov, template_trust, workdir):
    """A21a-1: the refusal without --yes (and --help) says the same records signed by a new key are refused; the
    replay revokes, trusts a new key, and prov add registers them again as vendor@ROOT12.2."""
    r = prov("trust", "revoke", "vendor", "--reason", "laptop stolen", *PINNED)
    assert r.exit_code == 2, r.output
    refusal = words(r.stderr)
    helped = words(succeeded(prov, "trust", "revoke", "--help").stdout)
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", "--checkpoint-key", "maintainer.key",
        *PINNED)  # fmt: skip
    succeeded(prov, "keys", "generate", "vendor-2")
    succeeded(prov, "trust", "add", "vendor", "vendor-2.pub", *KEY, *PINNED)
    succeeded(
        prov, "sign", "vendor-batch.parquet", "--source", "vendor", "--key", "vendor-2.key", "--out", "again.prov.json"
    )
    added = succeeded(
        prov, "add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "again.prov.json", *PINNED
    )
    assert "registered again" in added.stdout, added.output  # what rekey21 does now
    stale = "prov add refuses the same records signed again by a new key"
    assert stale not in refusal, f"trust revoke's refusal describes the old prov add: {refusal}"
    assert stale not in helped, f"trust revoke --help describes the old prov add: {helped}"


def test_a21a_2_prov_add_says_why_an_earlier_registration_attests_nothing(prov, template_trust, workdir):
    """A21a-2: the crowd's batch, registered unsigned, is signed by a key the maintainer now trusts for the crowd
    and registered again; prov add pointed at prov sources for why the unsigned one attests nothing, and prov
    sources (text and --json) never names an unsigned batch. It now says the reasons itself."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        [(first,)] = db.execute("select subject from audit where action = 'batch.add' and subject like 'crowd@%'")
    succeeded(prov, "keys", "generate", "crowd")
    succeeded(prov, "trust", "add", "crowd", "crowd.pub", *KEY, *PINNED)
    succeeded(prov, "sign", "crowd-batch.parquet", "--source", "crowd", "--key", "crowd.key", "--out", "c.prov.json")
    added = succeeded(prov, "add", "crowd-batch.parquet", "--source", "crowd", "--envelope", "c.prov.json", *PINNED)
    said = words(added.stdout)
    assert f"registered again: {first} attests nothing under your pins (unsigned, or signed by a key" in said, said
    assert "prov sources says why" not in said, said


def test_a21a_3_a_row_only_revocation_cannot_be_revoked_again_as_the_mark_says(prov, template_trust, workdir):
    """A21a-3: the .prov/ writer deletes the revocation's audit entries (and the checkpoints after them) with sqlite3
    and leaves the trust row saying revoked; trust list marks it and says to revoke it again; trust revoke refuses,
    so the log cannot be given its revocation back, and a state kept now keeps a log without it."""
    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:
        [(before,)] = db.execute("select max(seq) from audit")
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINNED)
    db = sqlite3.connect(db_path)
    db.execute("delete from audit where seq > ?", [before])
    db.execute("delete from checkpoints where size > ?", [before])
    db.commit()
    db.close()
    listed = succeeded(prov, "trust", "list", *PINNED).stdout
    assert (
        "row says revoked, log does not: if you revoked it, the log was rolled back: revoke it again (prov trust "
        "revoke vendor --key-id" in words(listed)
    )

    r = prov("trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINNED)
    vendor = keys.key_id(keys.load_public(Path("vendor.pub")))
    shown = json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]
    in_log = [k["revoked_in_log"] for k in shown if k["keyid"] == vendor]
    assert r.exit_code == 0 and in_log == [True], (
        f"revoking it again, as the mark says, left the log without the revocation (exit {r.exit_code}: "
        f"{r.output.strip()}; revoked_in_log {in_log})"
    )


def test_a21a_4_trust_list_shows_the_rows_reason_not_the_logged_one(prov, template_trust, workdir):
    """A21a-4: the maintainer revokes the vendor's key "laptop stolen"; the .prov/ writer rewrites the row's reason
    to one that invites trusting the key again. The log (hash-chained, audit verify passes) still says why; trust
    list, marking the revocation as found in the log, shows the writer's words."""
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", "--checkpoint-key", "maintainer.key",
        *PINNED)  # fmt: skip
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update trust set revoked_reason = 'routine rotation, no compromise' where source = 'vendor'")
    succeeded(prov, "audit", "verify", *PINNED)  # the row is no part of the hash chain
    [vendor] = [k for k in json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]]
    assert vendor["revoked_in_log"], vendor
    assert vendor["revoked_reason"] == "laptop stolen", f"trust list shows the row's edited reason: {vendor}"
    assert "laptop stolen" in succeeded(prov, "trust", "list", *PINNED).stdout


def test_a21a_5_a_planted_registration_ending_in_a_newline_makes_prov_add_break_the_log(prov, template_trust, workdir):
    """A21a-5: the .prov/ writer plants ``vendor@ROOT12.2\\n`` (entry chained as prov chains it, and a row) after the
    revoked registration; audit verify passes and a maintainer's checkpoint covers it. The genuine re-registration
    must then either be refused (store unchanged) or leave a log prov's own readers accept: today it writes ``.3``
    and the log is called broken, naming the genuine entry as not written by prov add."""
    db_path = workdir / ".prov" / "prov.db"
    succeeded(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", "--checkpoint-key", "maintainer.key",
        *PINNED)  # fmt: skip
    succeeded(prov, "keys", "generate", "vendor-2")
    succeeded(prov, "trust", "add", "vendor", "vendor-2.pub", *KEY, *PINNED)
    succeeded(
        prov, "sign", "vendor-batch.parquet", "--source", "vendor", "--key", "vendor-2.key", "--out", "again.prov.json"
    )
    with sqlite3.connect(db_path) as db:
        [(first, detail)] = db.execute(
            "select subject, detail from audit where action = 'batch.add' and subject like 'vendor@%'"
        )
        audit.append(db, "batch.add", first + ".2\n", json.loads(detail))
        columns = [c[1] for c in db.execute("pragma table_info(batches)")]
        row = dict(zip(columns, db.execute("select * from batches where batch = ?", [first]).fetchone()))
        row["batch"] = first + ".2\n"
        db.execute(
            f"insert into batches ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
            [row[c] for c in columns],
        )
    succeeded(prov, "audit", "verify", *PINNED)  # the planted entry passes: its predecessor is in the log
    succeeded(prov, "audit", "checkpoint", *KEY, *PINNED)  # the maintainer's next signature covers it
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "again.prov.json", *PINNED)
    if r.exit_code != 0:
        assert store_fingerprint(workdir / ".prov") == before, "a refused prov add changed the store"
        return
    verified = prov("audit", "verify", *PINNED)
    assert verified.exit_code == 0, f"prov add {r.stdout.split()[2]} left a log prov calls broken: {verified.output}"
