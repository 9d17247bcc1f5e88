"""Newcomer review 16, finding 2: a lossless retype of base records the base held unattributed.

The base's own records (no batch carried them) written as CSV read as int64; the vendor signed its batch
from Parquet as double, so the maintainer committed the candidate with the signed types. The diff paired
the base's records by content (unchanged), yet ``lineage.unattributed_beside_signed`` counted every one of
them as "added records from no registered batch" and blocked, with "N N records" in its reason and no way
out under "To release:". A record paired without loss with a base record no batch carried is not an
addition: nothing new came in. Records a batch signed in the base, re-keyed, still block (README, Security
model: the signed batch no longer matches), and so does new content beside the retype.
"""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import check_rules, ok, validate_output

PINS = ("--signer", "maintainer.pub")
RULE = "lineage.unattributed_beside_signed"


def _double(table: pa.Table) -> pa.Table:
    """Every pixel column cast int64 -> double (each value exact: a lossless retype)."""
    for i, name in enumerate(table.column_names):
        if name.startswith("px"):
            table = table.set_column(i, name, table.column(name).cast(pa.float64()))
    return table


def _fresh(n: int, offset: int) -> pa.Table:
    """``n`` digits v1 does not hold: the vendor's signed int64 batch's from ``offset`` (as double, no digest
    of that batch matches them)."""
    return _double(pq.read_table("vendor-batch.parquet").slice(offset, n))


def _signed_double_delivery(prov, n: int = 50) -> pa.Table:
    """The vendor signs ``n`` new records with double pixels, and the maintainer registers them."""
    batch = _fresh(n, 100)
    pq.write_table(batch, "vendor-double.parquet")
    ok(prov, "sign", "vendor-double.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "add", "vendor-double.parquet", "--source", "vendor", *PINS)
    return batch


def _commit(prov, table: pa.Table, tag: str, parent: str) -> str:
    pq.write_table(table, f"{tag}.parquet")
    return ok(prov, "commit", f"{tag}.parquet", "--tag", tag, "--parent", parent, "--key", "maintainer.key", *PINS)


def ok_or_blocked(prov, *args: str) -> str:
    r = prov(*args)
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def _text(prov, *args: str) -> tuple[int, str]:
    r = prov(*args)
    return r.exit_code, " ".join(r.stdout.split())  # rich's wrapping undone


def test_a_lossless_retype_of_unattributed_base_records_passes(prov, template_trust, workdir):
    """v1's 1000 records (unattributed: no batch carries them) retyped to double beside the vendor's 50 records
    signed as double. Was: blocked, 1000 counted as added records of no batch. Now the rule passes and says the
    re-keyed base records are not additions; the diff and the check agree."""
    v1 = pq.read_table("v1.parquet")
    batch = _signed_double_delivery(prov)
    out = " ".join(_commit(prov, pa.concat_tables([_double(v1), batch]), "v2d", "v1").split())
    assert "50 attested" in out and "1000 unattributed" in out, out
    summary = json.loads(ok(prov, "diff", "v1", "v2d", "--json", *PINS))["summary"]
    assert (summary["rekeyed_by"], summary["rekeyed"], summary["added"]) == ("content", 1000, 50)
    rules = check_rules(prov, "v2d", "v1", *PINS, "--no-save")
    rule = rules[RULE]
    assert rule["status"] == "pass", rule
    assert "1000 base records the base held unattributed, re-keyed by a schema change" in rule["reason"]
    # the rule on unsigned additions no longer counts them either ("1000 in no batch")
    assert (
        "0 came in declared unsigned batches and 0 in no batch"
        in rules["lineage.unsigned_from_signing_sources"]["reason"]
    )
    code, text = _text(prov, "check", "v2d", "--base", "v1", "--no-save", *PINS)
    assert code == 0, text


def test_new_content_beside_the_retype_still_blocks(prov, template_trust, workdir):
    """The attacker's try: a data-folder writer hides records beside the retype: 20 records no batch carries,
    and 5 base records with one pixel moved by 1 (re-encoded, they are no base record). Exactly those 25
    count; the 995 re-keyed base records paired by content do not, and the reason has no doubled count."""
    v1 = pq.read_table("v1.parquet")
    batch = _signed_double_delivery(prov)
    moved = _double(v1)
    px = moved.column("px20").to_numpy().copy()
    px[:5] += 1.0
    moved = moved.set_column(moved.column_names.index("px20"), "px20", pa.array(px))
    extra = _fresh(20, 0)
    _commit(prov, pa.concat_tables([moved, extra, batch]), "v2x", "v1")
    rule = check_rules(prov, "v2x", "v1", *PINS, "--no-save")[RULE]
    assert rule["status"] == "block" and rule["count"] == 25, rule
    assert "995 base records the base held unattributed" in rule["reason"]
    listed = {r["digest"] for r in rule["records"]}
    added = json.loads(ok(prov, "diff", "v1", "v2x", "--json", *PINS))
    assert added["summary"]["added"] == 75  # the 25 and the vendor's 50: the rule lists none of the vendor's
    assert len(listed) == 20 and not listed & {r["digest"] for r in added.get("added", []) if r["source"] == "vendor"}


def test_retyped_records_a_batch_signed_in_the_base_still_block_with_a_way_out(prov, template_trust, workdir):
    """v2 holds v1's 1000 unattributed records and the vendor's 600 signed ones; all retyped to double. The
    600 no longer match the batch the vendor signed (the security case): they block, alone (was: 1600),
    the reason says once how many were re-keyed, and "To release:" says to keep the signed types (cast back: the
    base is Parquet, so not --schema) or re-commit the base written with the new types, not to withdraw a batch."""
    _commit(prov, _double(pq.read_table("v2.parquet")), "v2f", "v2")
    report = json.loads(ok_or_blocked(prov, "check", "v2f", "--base", "v2", "--format", "json", "--no-save", *PINS))
    validate_output("check", report)  # the rule's statistic, as schemas/check.schema.json says
    rule = {r["rule"]: r for r in report["rules"]}[RULE]
    assert rule["status"] == "block" and rule["count"] == 600, rule
    assert rule["statistic"] == {"rekeyed": 600, "signed_missing": 600, "base_parquet": True}
    # every one re-keyed, none added: said so, not "600 added records" (newcomer review 31, #2)
    assert rule["reason"].startswith(
        "600 records of v2 re-keyed by a schema change (64 columns changed type int64 -> double"
    ), rule["reason"]
    assert "that lost their source's attestation" in rule["reason"] and "added" not in rule["reason"].split(".")[0]
    assert "600 600" not in rule["reason"] and "Keep the signed types" in rule["reason"]
    code, text = _text(prov, "check", "v2f", "--base", "v2", "--no-save", *PINS)
    assert code == 1
    steps = text.split("To release:")[1].split(" Policy ")[0]
    # a Parquet base carries its own types: no --schema re-commit (newcomer review 31, #1: it changed nothing)
    assert (
        "a schema change re-keyed 600 base records: cast the columns back to the signed types in the data (Parquet "
        "carries its own types; --schema does not apply), then commit it again: prov commit DATA --tag NEW --parent "
        "v2 --key K and check NEW against v2"
    ) in steps
    assert (
        "or keep the new types: write the base's data with them and re-commit it: prov commit BASEDATA --tag B2 "
        "--parent v2 --key K and check against it"
    ) in steps
    assert "--schema COLUMN:TYPE" not in steps
    assert "prov withdraw BATCH" not in steps and "prov add DATA --source S" not in steps


def test_the_way_out_works(prov, template_trust, workdir):
    """The step it offers, followed: v2 re-committed with the new types as v2b (--parent v2), the candidate
    committed on it; checked against v2b, nothing is re-keyed and the rule passes."""
    doubled = _double(pq.read_table("v2.parquet"))
    _commit(prov, doubled, "v2b", "v2")
    batch = _signed_double_delivery(prov)
    _commit(prov, pa.concat_tables([doubled, batch]), "v3d", "v2b")
    assert check_rules(prov, "v3d", "v2b", *PINS, "--no-save")[RULE]["status"] == "pass"


def test_a_prov_writer_cannot_make_signed_base_records_unattributed(prov, template_trust, workdir):
    """The attacker's other try: whoever writes ``.prov/`` (no key) swaps v2's lineage object for one that says
    every record is unattributed, so the 600 re-keyed vendor records would pass as "held unattributed". The base's
    statuses are the lineage v2 signed: the check fails closed (exit 1), before any rule, instead of passing.
    (It failed closed before the fix too: this guards the exemption's one input that is not recomputed.)"""
    import io
    import sqlite3

    from provenance.store import Store

    _commit(prov, _double(pq.read_table("v2.parquet")), "v2f", "v2")
    store = Store.open(workdir)
    oid = store.db.execute("select object from version_lineage where tag = 'v2'").fetchone()[0]
    table = pq.read_table(store.objects.path(oid))
    status = table.column_names.index("status")
    forged = table.set_column(status, "status", pa.array(["unattributed"] * table.num_rows, table.schema[status].type))
    sink = io.BytesIO()
    pq.write_table(forged, sink)
    new_oid = store.objects.put(sink.getvalue(), "parquet")[0]
    store.close()
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update version_lineage set object = ? where tag = 'v2'", [new_oid])
    r = prov("check", "v2f", "--base", "v2", "--format", "json", "--no-save", *PINS)
    assert r.exit_code == 1 and not r.stdout.strip(), r.output
    assert r.stderr.strip() == "Error: version v2: its lineage record differs from the lineage it signed", r.stderr
