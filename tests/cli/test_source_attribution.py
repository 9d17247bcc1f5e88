"""Reports name records of no source column by the source of the lineage batch that carries them
(newcomer review 3, item 1): the tour's unsigned scraper batch is "scraper" in ``prov diff``,
``prov check`` and ``prov findings``, said to be an unsigned batch's claim; a record of no batch
stays "(no source)"; the data's own source column wins where a row has one."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import World, change_pixel


def scraped(world: World, rows: range) -> pa.Table:
    """New records (one pixel changed) that no registered batch carries yet."""
    table = world.table()
    for row in rows:
        table = change_pixel(table, row, "px20")
    return table.take(pa.array(list(rows)))


def trust_vendor_pinned(prov, world: World) -> tuple:
    """The vendor's key trusted by the owner's pinned key (the world's unsigned entry counts only unpinned); the pins
    a second commit needs."""
    pinned = ("--signer", world.owner.public_path)
    trust = ("trust", "add", "vendor", world.vendor.public_path, "--key", world.owner.private_path, *pinned)
    assert prov(*trust).exit_code == 0
    return pinned


def test_reports_name_the_unsigned_batch_source_not_no_source(prov, registered: World):
    world = registered
    pinned = trust_vendor_pinned(prov, world)  # v1 and v2 both judged under the owner's pins
    crowd = pq.read_table(world.crowd_data)
    train = pa.concat_tables([crowd.slice(0, 30), pq.read_table(world.vendor_data), crowd.slice(30)])
    world.write("train.parquet", train)
    assert prov("commit", "train.parquet", "--tag", "v1", "--key", world.owner.private_path, *pinned).exit_code == 0
    world.write("scraped.parquet", scraped(world, range(0, 40)))
    assert prov("add", "scraped.parquet", "--source", "scraper", "--unsigned").exit_code == 0
    stray = scraped(world, range(40, 45))  # in no batch at all
    train = pq.read_table(world.root / "train.parquet")
    world.write("train2.parquet", pa.concat_tables([train, pq.read_table(world.root / "scraped.parquet"), stray]))
    assert (
        prov(
            "commit",
            "train2.parquet",
            "--tag",
            "v2",
            "--key",
            world.owner.private_path,
            "--signer",
            world.owner.public_path,
        ).exit_code
        == 0
    )

    r = prov("diff", "v1", "v2", "--format", "json", *pinned)
    assert r.exit_code == 0, r.output
    rows = {row["source"]: row for row in json.loads(r.stdout)["by_source"]}
    assert rows["scraper"]["named_by"] == ["unsigned batch"]
    assert (rows["scraper"]["base"], rows["scraper"]["new"], rows["scraper"]["added"]) == (0, 40, 40)
    assert rows["vendor"]["named_by"] == ["signed batch"] and rows["vendor"]["added"] == 0, rows["vendor"]
    assert rows["crowd"]["named_by"] == ["unsigned batch"]
    assert rows[None]["added"] == 5 and rows[None]["named_by"] == []  # the stray records: no batch
    assert rows["vendor"]["new"] + rows["crowd"]["new"] == len(train)

    text = prov("diff", "v1", "v2", env={"COLUMNS": "200"}).stdout
    assert "scraper (unsigned batch)" in text and "vendor (signed batch)" in text
    assert "records added by source 'scraper' are not signed by any trusted batch" in text
    assert "source None" not in text

    r = prov("check", "v2", "--base", "v1", "--format", "json", "--signer", world.owner.public_path)
    assert r.exit_code in (0, 1), r.output
    check = json.loads(r.stdout)
    assert {s["source"]: s["named_by"] for s in check["sources"]}["scraper"] == ["unsigned batch"]
    for finding in check["findings"]:
        assert finding["source"] in ("scraper", None)
        assert finding["source_named_by"] == ("unsigned batch" if finding["source"] == "scraper" else None)

    r = prov("findings", "v2", "--all", "--json")
    assert r.exit_code == 0, r.output
    findings = json.loads(r.stdout)["findings"]
    sources = {f["source"] for f in findings}
    assert sources == {"scraper", None}, sources
    for f in findings:
        assert f["lineage"] == "unattributed" and f["locator"] is not None
        assert f["location"]["path"] == "train2.parquet" and int(f["locator"]) >= len(train)
        assert f["source_named_by"] == ("unsigned batch" if f["source"] == "scraper" else None)


def test_the_data_source_column_wins_over_the_batch(prov, committed: World):
    world = committed
    table = scraped(world, range(0, 20))
    world.write("scraped.parquet", table)
    assert prov("add", "scraped.parquet", "--source", "scraper", "--unsigned").exit_code == 0
    train = pq.read_table(world.root / "train.parquet")
    named = table.append_column("source", pa.array(["site-a"] * 10 + [None] * 10, pa.string()))
    world.write(
        "train2.parquet", pa.concat_tables([train.append_column("source", pa.nulls(len(train), pa.string())), named])
    )
    args = ("--source-column", "source", "--key", world.owner.private_path)
    assert prov("commit", "train2.parquet", "--tag", "v2", *args, *trust_vendor_pinned(prov, world)).exit_code == 0
    r = prov("diff", "v1", "v2", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = {row["source"]: row for row in json.loads(r.stdout)["by_source"]}
    assert rows["site-a"]["added"] == 10 and rows["site-a"]["named_by"] == ["source column"]
    assert rows["scraper"]["added"] == 10 and rows["scraper"]["named_by"] == ["unsigned batch"]
