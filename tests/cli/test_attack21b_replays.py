"""Attack review 21b: replays against the signed delta object (``delta.signed_delta``) that fail today.

Each test names its finding (report: /work/notes/report-attack21b.md). A "key holder" here is
whoever holds a key the verifier trusts for commit (a stolen maintainer key, or a team member's
commit key in a pull request): they run a modified prov at commit, so the object and the signed
statement are genuine; the replays ask that prov then refuses cleanly (exit 1, one line), never
crashes (exit 3), and that the object's size bound holds for an honest commit.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import versions
from provenance.delta import signed_delta
from provenance.store import Store
from provenance.version_facts import verified_statement
from support import commit_v3_as_v4

COMMIT = ("--tag", "v4", "--key", "alice.key", "--signer", "alice.pub", "--source-column", "source")


def _v4_predicate() -> dict:
    store = Store(".prov")
    return verified_statement(store, store.version("v4"))["predicate"]


def _one_clean_line(r) -> None:
    assert r.exit_code == 1, (r.exit_code, r.output)
    assert "internal error" not in r.stderr and r.stdout == ""


# --- F21b-1 (medium): a change of every record's source signs a delta larger than the manifest ---------


def test_f21b_1_a_source_rename_of_every_record_signs_no_delta(prov, three_versions):
    # worth_signing counts added, removed, relabeled and copied records, not source changes: re-tagging
    # every record's source (a data writer's edit of the unhashed source column, or a rename) signs a
    # delta of one row per record, several times the size of the manifest itself (README: "a change of
    # more than 1,000,000 records or of half the larger version signs none")
    t = pq.read_table("v3.parquet")
    sources = [f"renamed-{s}" for s in t.column("source").to_pylist()]
    pq.write_table(t.set_column(t.schema.get_field_index("source"), "source", pa.array(sources)), "v4.parquet")
    r = prov("commit", "v4.parquet", *COMMIT)
    assert r.exit_code == 0, r.output
    fact = _v4_predicate().get("delta")
    records = Store(".prov").version("v4")["records"]
    assert fact is None or fact["rows"] <= records // 2, f"a delta of {fact['rows']} rows for {records} records"


# --- F21b-2 (low): a signed delta fact of the wrong shape is exit 3 --------------------------------------


def test_f21b_2_a_signed_delta_fact_that_is_no_object_is_exit_1_on_diff(prov, three_versions, monkeypatch):
    # signed_delta_of calls fact.get() on whatever the predicate holds: a list is AttributeError, exit 3
    monkeypatch.setattr(versions, "_record_delta", lambda store, parent, tag, m, n, pred: pred.update(delta=["x"]))
    commit_v3_as_v4(prov)
    _one_clean_line(prov("diff", "v3", "v4", "--detect", "--no-save", "--format", "json"))


def test_f21b_2_a_signed_delta_row_count_that_is_no_number_is_exit_1_on_verify_and_check(
    prov, three_versions, monkeypatch
):
    # check_signed_delta does int(fact["rows"]) outside any guard: ValueError, exit 3 from prov verify and
    # from the release gate, which verifies the candidate (fsck holds: exit 1, "unreadable or inconsistent")
    honest = versions._record_delta

    def crafted(*args):
        oid = honest(*args)
        args[-1]["delta"]["rows"] = "many"
        return oid

    monkeypatch.setattr(versions, "_record_delta", crafted)
    commit_v3_as_v4(prov)
    _one_clean_line(prov("verify", "v4", "--no-data", "--store-keys"))
    r = prov("check", "v4", "--base", "v3", "--signer", "alice.pub", "--format", "json")
    assert r.exit_code == 1 and json.loads(r.stdout)["decision"] == "blocked", r.output


# --- F21b-3 (low): a signed delta object whose content does not parse as a delta is exit 3 ---------------


def _rewrite(data: bytes, meta_edit=None, table_edit=None, text_edit=None) -> bytes:
    table = pq.read_table(pa.BufferReader(data))
    meta = json.loads(table.schema.metadata[b"prov.delta"])
    if meta_edit:
        meta_edit(meta)
    if table_edit:
        table = table_edit(table)
    text = json.dumps(meta)
    if text_edit:
        text = text_edit(text)
    table = table.replace_schema_metadata({b"prov.delta": text.encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _label_out_of_range(table: pa.Table) -> pa.Table:
    labels = table.column("label").to_pylist()
    labels[-1] = 10_000  # the last row is a "row" part row: its label id names no label of the string table
    at = table.schema.get_field_index("label")
    return table.set_column(at, table.schema.field(at), pa.array(labels, pa.int32()))


def _nested(text: str) -> str:
    return text[:-1] + ', "deep": ' + "[" * 50_000 + "]" * 50_000 + "}"  # json.loads: RecursionError, not ValueError


def _rows_past_the_end(table: pa.Table) -> pa.Table:
    # 200 "row" rows for manifest rows v4 does not have, each with a 10 kB locator: 2 MB decoded from a few
    # kB of Parquet (dictionary-encoded); 20,000 of them (66 kB signed) made prov diff take 1.24 GB, exit 0
    n = 200
    extra = {f.name: pa.array(np.zeros(n, np.int64)).cast(f.type) for f in table.schema if pa.types.is_integer(f.type)}
    extra |= {"digest": pa.nulls(n, pa.binary(32)), "batch": pa.nulls(n, pa.string())}
    extra |= {"part": pa.array(["row"] * n), "locator": pa.array(["x" * 10_000] * n)}
    extra["first_row"] = pa.array(np.arange(10**6, 10**6 + n, dtype=np.int64))
    # any other column (the content part's struct, null outside content rows) is null on these rows
    columns = {f.name: extra.get(f.name, pa.nulls(n, f.type)) for f in table.schema}
    return pa.concat_tables([table, pa.table(columns, schema=table.schema)])


CRAFTED = {
    "footer lacks examples": {"meta_edit": lambda m: m.pop("examples")},
    "footer counts not objects": {"meta_edit": lambda m: m.update(label_rows=[1, 2])},
    "footer nested 50,000 deep": {"text_edit": _nested},
    "label id out of range": {"table_edit": _label_out_of_range},  # read for the rows --detect scores
    "rows past the end (F21b-5)": {"table_edit": _rows_past_the_end},  # accepted whole: exit 0 today
}


@pytest.mark.parametrize("craft", list(CRAFTED))
def test_f21b_3_a_crafted_signed_delta_object_is_exit_1_on_diff(prov, three_versions, monkeypatch, craft):
    # DeltaObject.load guards only json.loads and the read: a footer missing a key, of another shape,
    # too deep for the parser, or a row naming no label crashes prov diff (exit 3, "internal error");
    # F21b-5: rows for manifest rows the version does not have are read whole (every locator decoded into
    # Python strings) and the diff passes, exit 0: a memory bomb from a small signed object
    honest = signed_delta.to_bytes
    monkeypatch.setattr(signed_delta, "to_bytes", lambda *a, **k: _rewrite(honest(*a, **k), **CRAFTED[craft]))
    commit_v3_as_v4(prov)
    monkeypatch.setattr(signed_delta, "to_bytes", honest)
    assert _v4_predicate()["delta"]["parent"]["version"] == "v3"
    _one_clean_line(prov("diff", "v3", "v4", "--detect", "--no-save", "--format", "json"))


# --- F21b-4 (low): prov verify of a version now needs its parent's signer pinned ---------------------------


def test_f21b_4_verify_of_a_version_whose_signer_is_pinned_does_not_fail_on_its_parents_key(prov, three_versions):
    # check_signed_delta verifies the parent's statement under the verifier's pins to recompute the delta:
    # a version bob committed on alice's v3 verified with bob's key pinned (exit 0 at ac998c8, before the
    # delta) is now exit 1 naming v3, a version the verifier never asked about (after a rotation that
    # dropped the old maintainer key, the first version the new key signs stops verifying too)
    from provenance import keys

    keys.generate("bob")
    t = pq.read_table("v3.parquet")
    labels = t.column("label").to_pylist()
    labels[5] = "9" if labels[5] != "9" else "8"
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels)), "v4.parquet")
    r = prov("commit", "v4.parquet", "--tag", "v4", "--key", "bob.key", "--signer", "alice.pub", "--signer", "bob.pub")
    assert r.exit_code == 0, r.output
    r = prov("verify", "v4", "--no-data", "--signer", "bob.pub")
    assert r.exit_code == 0, r.output
