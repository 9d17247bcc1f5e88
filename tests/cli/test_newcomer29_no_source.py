"""Newcomer review 29: reports named "(no source)" as if it were a suspicious source ("suspicious source: (no source)"
in `prov diff`'s verdict, "source '(no source)'" in its signals and `prov check`'s rules). Records without a source
are not a source: sentences say "records with no source", the verdict names them apart with how many there are, and
data with no source at all has no per-source judgement in the verdict. Replayed through the CLI on real Parquet."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import digits_table, set_column, validate_output


def _commit(prov, keypair, data: str, tag: str, *args: str):
    return prov("commit", data, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *args)


def _relabeled_and_grown(sources: list[str | None] | None) -> None:
    """v1: 300 digits (with a source column when ``sources`` names each row's); v2: rows 200-219 relabeled and 150
    more digits of no source."""
    t = digits_table(450)
    base = t.slice(0, 300)
    if sources is not None:
        base = base.append_column("source", pa.array(sources, pa.string()))
    pq.write_table(base, "v1.parquet")
    labels = base.column("label").to_pylist()
    for row in range(200, 220):
        labels[row] = str((int(labels[row]) + 1) % 10)
    more = t.slice(300, 150)
    if sources is not None:
        more = more.append_column("source", pa.array([None] * 150, pa.string()))
    pq.write_table(pa.concat_tables([set_column(base, "label", labels), more]), "v2.parquet")


def _versions(prov, keypair, *options: str) -> None:
    assert _commit(prov, keypair, "v1.parquet", "v1", *options).exit_code == 0
    assert _commit(prov, keypair, "v2.parquet", "v2").exit_code == 0


def test_records_with_no_source_beside_sources_are_named_as_records(prov, workdir, store, keypair):
    _relabeled_and_grown(["vendor-a"] * 100 + ["vendor-b"] * 100 + [None] * 100)
    _versions(prov, keypair, "--source-column", "source")
    r = prov("diff", "v1", "v2", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    head = r.stdout.splitlines()[1]
    assert head == (
        "FLAGGED: 2 signals flagged; records with no source (250): relabel_rate, unattributed_additions."
    ), head
    assert "suspicious source" not in text and "source '(no source)'" not in text and "source (no source)" not in text
    assert "records with no source: 20 of 100 kept records relabeled (20.00%) vs 0.10% elsewhere" in text, text
    assert "150 records added with no source are not signed by any trusted batch" in text, text
    md = prov("diff", "v1", "v2", "--signer", keypair.public_path, "--format", "md").stdout
    assert "records with no source (250): relabel\\_rate" in md and "suspicious source" not in md
    # the JSON keeps its fields: the summary's suspicious_sources still lists the row of no source, as null
    doc = json.loads(prov("diff", "v1", "v2", "--signer", keypair.public_path, "--format", "json").stdout)
    validate_output("diff", doc)
    assert doc["summary"]["suspicious_sources"] == [None]
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--no-save")
    assert r.exit_code == 1, r.output
    words = " ".join(r.stdout.split())
    assert "20 records with no source relabeled (20.0% of those kept), allowed 5.0%" in words, words
    assert "source (no source)" not in words


def test_data_with_no_source_at_all_names_the_flagged_signals_not_a_source(prov, workdir, store, keypair):
    _relabeled_and_grown(None)
    _versions(prov, keypair)
    r = prov("diff", "v1", "v2", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    head = r.stdout.splitlines()[1]
    assert head == "FLAGGED: 2 signals flagged: relabel_rate, unattributed_additions.", head
    # no other records to compare the relabel rate with: the rate it is compared with is the one assumed
    text = " ".join(r.stdout.split())
    assert "records with no source: 20 of 300 kept records relabeled (6.67%) vs 0.10% assumed" in text, text
    assert "(no source)" not in r.stdout.split("Sources (")[0]  # the verdict and changes name no source
