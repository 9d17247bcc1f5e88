"""Attack review 21d: replays against the signed delta object's content part (``delta_content``).

Each test is an attack that a fix should refuse; it fails on lead21f. The attacker holds the commit key
and runs a modified prov (replayed by patching the writer while the real ``prov commit`` signs), the
way tests/cli/test_diff_signed_delta.py replays a key holder. Real Parquet, keys and store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.delta import delta_content
from support import commit_v4, delta_object_path, diff_both_ways


def _v4_with_one_added_record() -> None:
    t = pq.read_table("v3.parquet")
    one = t.slice(0, 1)
    one = one.set_column(one.schema.get_field_index("px00"), "px00", pa.array([9], one.column("px00").type))
    pq.write_table(pa.concat_tables([t, one]), "v4.parquet")


def test_content_values_on_rows_outside_the_content_part_fail_verify(prov, three_versions, monkeypatch):
    # a key holder's prov fills the content column on the object's other rows (where an honest
    # commit writes null): _same_table compares only the delta columns and check_content only the
    # content part's rows, so verify calls this object "the delta recomputed from the manifests".
    # They could also carry a large (dictionary-compressed) payload the signed row count does not bound,
    # which every --detect and verify read whole (parquet.read of the column) before they streamed it.
    honest = delta_content.content_column

    def stuffed(before: int, table: pa.Table) -> pa.Array:
        made = honest(before, table)
        first = made.slice(before, 1)
        return pa.concat_arrays([first] * before + [made.slice(before)])

    monkeypatch.setattr(delta_content, "content_column", stuffed)
    _v4_with_one_added_record()
    assert commit_v4(prov).exit_code == 0
    monkeypatch.setattr(delta_content, "content_column", honest)
    table = pq.read_table(delta_object_path("v4"))
    outside = table.filter(pa.compute.not_equal(table.column("part"), "content")).column("content")
    assert outside.null_count == 0 and len(outside) > 0  # the signed object holds them
    r = prov("verify", "v4", "--no-data", "--store-keys")
    assert r.exit_code == 1 and "holds content on rows outside its content part" in r.stderr, r.output
    # --detect streams the object's rows and refuses at the first batch holding such a cell (finding 3)
    r = prov("diff", "v3", "v4", "--detect", "--no-save", "--format", "json")
    assert r.exit_code == 1 and r.stdout == "" and "Traceback" not in r.output, r.output
    assert "delta object of v4 holds content on rows outside its content part" in r.stderr, r.stderr


def test_a_text_column_kept_dictionary_encoded_is_scored_or_refused_naming_the_object(prov, workdir, monkeypatch):
    # a key holder's prov keeps the scored records' text dictionary-encoded: it encodes to the same
    # prov-row bytes as the strings (every digest check passes), but the text featuriser refuses a
    # dictionary column, so --detect on the delta path blamed the records (exit 2, "cannot be scored")
    # where the merge path scores the very same signed records, and verify accepted the object. The
    # content must be of the plain type the signed schema names: both refuse it, exit 1 naming it.
    import numpy as np

    from provenance import keys
    from provenance.store import Store

    Store.init(Path(".")).close()
    keys.generate(Path("alice"))
    words = np.array(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"])

    def texts(n: int, seed: int) -> pa.Table:
        r = np.random.default_rng(seed)
        text = [" ".join(r.choice(words, 5)) for _ in range(n)]
        return pa.table({"text": text, "label": r.choice(["a", "b"], n).tolist(), "source": ["s1"] * n})

    v1 = texts(400, 1)
    pq.write_table(v1, "v1.parquet")
    pq.write_table(pa.concat_tables([v1, texts(20, 2)]), "v2.parquet")
    honest = delta_content.content_column

    def recoded(before: int, table: pa.Table) -> pa.Array:  # as the writer did before it cast to plain types
        text = table.column("text").combine_chunks().dictionary_encode()
        struct = pa.StructArray.from_arrays([text], fields=[pa.field("text", text.type)])
        return pa.concat_arrays([pa.nulls(before, struct.type), struct])

    for tag in ("v1", "v2"):
        if tag == "v2":
            monkeypatch.setattr(delta_content, "content_column", recoded)
        r = prov("commit", f"{tag}.parquet", "--tag", tag, "--key", "alice.key", "--signer", "alice.pub",
                 "--source-column", "source", "--featurizer", "text")  # fmt: skip
        assert r.exit_code == 0, r.output
    monkeypatch.setattr(delta_content, "content_column", honest)
    kept = pq.read_schema(delta_object_path("v2")).field("content").type
    assert pa.types.is_dictionary(kept.field("text").type)  # the signed object holds the recoded column
    r, merged = diff_both_ways(prov, "v1", "v2", "--detect", "--no-save", "--format", "json")
    assert merged.exit_code == 0, merged.output  # the signed records score
    named = "delta object of v2: its content column 'text' is dictionary<values=string"
    assert r.exit_code == 1 and named in r.stderr and "the version signs string" in r.stderr, r.output
    assert r.stdout == "" and "Traceback" not in r.output
    assert prov("diff", "v1", "v2", "--format", "json").exit_code == 0  # the diff itself reads no content
    verified = prov("verify", "v2", "--no-data", "--store-keys")
    assert verified.exit_code == 1 and named in verified.stderr, verified.output
    fsck = prov("fsck", "--json")
    assert fsck.exit_code == 1 and any(named in p["message"] for p in json.loads(fsck.stdout)["errors"]), fsck.stdout
