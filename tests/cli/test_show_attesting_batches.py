"""`prov show V` names the batches that attest V's records (newcomer review 21, finding 10).

In the trust world (``support.build_trust_world``) v2 holds the vendor's 600 records, attested by its signed
batch ``vendor@ROOT12``. After the vendor's key is stolen and revoked and the vendor signs the same records
again, they are attested by the registration ``vendor@ROOT12.2`` in the next version: ``show`` used to print
only ``attested: 600``, so a reader could not tell which registration a version relies on.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
from jsonschema import Draft202012Validator

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def show(prov, tag: str, *args: str) -> dict:
    r = prov("show", tag, "--json", "--batches", *PINNED, *args)
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    Draft202012Validator(json.loads((SCHEMAS / "show.schema.json").read_text())).validate(info)
    return info


def vendor_batch(folder: Path) -> str:
    with sqlite3.connect(folder / ".prov" / "prov.db") as db:
        (batch,) = db.execute(
            "select subject from audit where action = 'batch.add' and subject like 'vendor@%'"
        ).fetchone()
    return str(batch)


def ok(prov, *args: str) -> None:
    r = prov(*args)
    assert r.exit_code == 0, r.output


def test_show_names_the_batch_that_attests_and_the_registration_after_a_revocation(prov, template_trust, workdir):
    n_vendor = template_trust.facts["n_vendor"]
    first = vendor_batch(workdir)
    v2 = show(prov, "v2")
    assert v2["attested_by"] == [{"batch": first, "source": "vendor", "records": n_vendor}]
    lines = prov("show", "v2", "--batches", *PINNED).stdout.splitlines()
    at = lines.index(f"  attested: {n_vendor}")
    assert lines[at + 1] == f"    {n_vendor} by batch {first}", lines
    assert show(prov, "v1")["attested_by"] == []  # the base holds none of the vendor's records
    # without --batches show stays light (it reads no lineage object) and names none
    plain = prov("show", "v2", "--json", *PINNED)
    assert plain.exit_code == 0 and "attested_by" not in json.loads(plain.stdout), plain.output
    assert " by batch " not in prov("show", "v2", *PINNED).stdout

    ok(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINNED)
    ok(prov, "keys", "generate", "vendor-2")
    ok(prov, "trust", "add", "vendor", "vendor-2.pub", *KEY, *PINNED)
    ok(prov, "sign", "vendor-batch.parquet", "--source", "vendor", "--key", "vendor-2.key", "--out", "again.prov.json")
    ok(prov, "add", "vendor-batch.parquet", "--source", "vendor", "--envelope", "again.prov.json", *PINNED)
    ok(prov, "commit", "v2.parquet", "--tag", "v4", *KEY, *PINNED)

    # v2 relied on the revoked signature: no batch attests its records now, as prov sources judges it
    v2 = show(prov, "v2")
    assert (v2["attested"], v2["attested_by"]) == (0, [])
    assert " by batch " not in prov("show", "v2", "--batches", *PINNED).stdout
    v4 = show(prov, "v4")
    assert v4["attested_by"] == [{"batch": f"{first}.2", "source": "vendor", "records": n_vendor}]
    assert f"    {n_vendor} by batch {first}.2" in prov("show", "v4", "--batches", *PINNED).stdout.splitlines()
    sources = json.loads(prov("sources", "--version", "v4", "--json", *PINNED).stdout)
    [vendor] = [s for s in sources["sources"] if s["source"] == "vendor"]
    assert vendor["attested"] == sum(item["records"] for item in v4["attested_by"])


def test_a_writable_row_does_not_move_attestation_to_another_batch(prov, template_trust, workdir):
    """A `.prov/` writer renames the vendor's batch in its rows (sqlite3): show names what v2 signed."""
    first = vendor_batch(workdir)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update batches set batch = 'crowd@000000000000' where batch = ?", [first])
        db.execute("update batch_records set batch = 'crowd@000000000000' where batch = ?", [first])
        db.execute("update version_lineage set attested = 0 where tag = 'v2'")
    assert [item["batch"] for item in show(prov, "v2")["attested_by"]] == [first]


def test_show_names_five_batches_then_says_how_many_more(prov, template_trust, workdir):
    """Seven signed deliveries of the vendor in one version: the text names the five largest, --json all seven."""
    rows = pq.read_table("crowd-batch.parquet")
    sizes = [9, 8, 7, 6, 5, 4, 3]
    start = 0
    for i, n in enumerate(sizes):
        pq.write_table(rows.slice(start, n), f"part{i}.parquet")
        start += n
        ok(prov, "sign", f"part{i}.parquet", "--source", "vendor", "--key", "vendor.key")
        ok(prov, "add", f"part{i}.parquet", "--source", "vendor", *PINNED)
    pq.write_table(rows.slice(0, start), "parts.parquet")
    ok(prov, "commit", "parts.parquet", "--tag", "p1", *KEY, *PINNED)
    info = show(prov, "p1")
    assert [item["records"] for item in info["attested_by"]] == sizes
    lines = prov("show", "p1", "--batches", *PINNED).stdout.splitlines()
    at = lines.index(f"  attested: {start}")
    named = [item["batch"] for item in info["attested_by"][:5]]
    assert lines[at + 1 : at + 6] == [f"    {n} by batch {b}" for n, b in zip(sizes, named)]
    assert lines[at + 6] == "    and 2 more batches (--json lists every one)"
