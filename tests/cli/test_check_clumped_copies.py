"""Copies in a file that clumps its repeats (issue 14): a base sorted so each record's rows sit together, and a
clean delivery that continues it, replayed through `prov commit` + `prov check` on a real store.

The copies rule and the per-record copy test of ``detectors.extreme`` expected a delivery's copies at the
whole base's repetition, as if its rows were an i.i.d. draw; a delivery in file order carries its records'
repeats together and was blocked. The base's signed profile now keeps how much its own file-order
pseudo-batches repeat records within themselves (``provenance/profiles/batch_copies.py``), and a delivery
clumped no more than they are passes, while a flood beyond that still blocks.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from provenance.gate.copies import Copies
from support import commit_and_check, digits_table, validate_output

DISTINCT_FIRST = 1000  # the base's first half: records held once
RUNS = 375  # then records in runs of 2 and 4 rows, alternately (188 of 2 and 187 of 4: 1,124 rows)


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def runs(first: int, count: int) -> list[int]:
    """Row indices of ``count`` records from ``first`` on, each in a run of 2 or 4 rows (alternately)."""
    return [first + i for i in range(count) for _ in range(2 if i % 2 == 0 else 4)]


def clumped() -> tuple[pa.Table, pa.Table, pa.Table]:
    """(digits, base, clean delivery): the base is 1,000 digits held once, then 375 more in runs of 2 and 4
    rows (2,124 rows); the delivery continues the file: 100 new digits in runs of 2 and 4 (300 rows, 200
    copies of records it brings itself)."""
    t = digits_table()
    base = t.take(list(range(DISTINCT_FIRST)) + runs(DISTINCT_FIRST, RUNS))
    batch = t.take(runs(DISTINCT_FIRST + RUNS, 100))
    return t, base, batch


def rule(report: dict, name: str) -> dict:
    return next(r for r in report["rules"] if r["rule"] == name)


def test_a_clean_delivery_clumped_as_the_base_is_passes_the_default_gate(prov, workdir, store, keypair):
    """200 copies in 300 rows: at the whole base's rates (Good-Turing: 188 records held twice in 2,124 rows, so
    about 18% of a delivery's rows copy a record held once) the rule blocked; the base's own pseudo-batches of
    its second half carry two copies in three rows, and the delivery, no more clumped than they are, passes
    every default rule."""
    _, base, batch = clumped()
    code, report = commit_and_check(prov, keypair, base, pa.concat_tables([base, batch]))
    copies = rule(report, "copies.max_copies_rate")
    s = copies["statistic"]
    assert code == 0 and report["decision"] == "pass", [
        (r["rule"], r["reason"]) for r in report["rules"] if r["status"] != "pass"
    ]
    held_once = s["classes"][0]
    assert (s["copies_of_new"], s["rows_added"], held_once["copies"]) == (200, 300, 200), s
    # the whole base's rate gives about 53; the clumped pseudo-batches two copies in three rows
    assert held_once["expected"] == 53.107 and held_once["rate"] > 0.6 and held_once["quantile"] >= 200, held_once
    assert s["clumping"]["pseudo_batches"] == 10 and s["clumping"]["cap"] == 4.0, s["clumping"]
    # the same copies judged at the whole base's rates (a profile written before session 23) block
    extra = np.array([1, 3] * 50, np.int64)
    unclumped = Copies(extra, np.zeros(100, np.int64), 300, 2124, np.array([2] * 188 + [4] * 187, np.int64))
    assert unclumped.blocks(s["max_copies_rate"], 10)
    validate_output("check", report)


def test_a_flood_beyond_the_base_clumping_still_blocks(prov, workdir, store, keypair):
    """The same delivery with 150 base records held once delivered again (a re-delivery, one copy each): 350
    copies of records held once where the clumped rate allows 227 (and the slack 9), and the copies rule
    blocks."""
    t, base, batch = clumped()
    code, report = commit_and_check(prov, keypair, base, pa.concat_tables([base, batch, t.take(list(range(150)))]))
    copies = rule(report, "copies.max_copies_rate")
    assert code == 1 and copies["status"] == "block", copies["reason"]
    assert copies["statistic"]["classes"][0]["copies"] == 350, copies["statistic"]["classes"]
    # the reason gives both expectations: the whole base's, and its clumped batches'
    assert "350 copies of records the base holds once (or new ones) where at most" in copies["reason"]
    assert (
        "from the base's own repetition, " in copies["reason"]
        and "as clumped as its own file-order batches)" in (copies["reason"])
    ), copies["reason"]


def test_one_record_repeated_beyond_the_base_runs_blocks_as_extreme(prov, workdir, store, keypair):
    """One new record sent 12 times on top of the clean delivery: the base's pseudo-batches repeat one record at
    most 4 times (3 copies), so a record with 11 copies is beyond them, and ``detectors.extreme`` blocks it."""
    t, base, batch = clumped()
    flood = t.take([1600] * 12)
    code, report = commit_and_check(prov, keypair, base, pa.concat_tables([base, batch, flood]))
    extreme = rule(report, "detectors.extreme")
    assert code == 1 and extreme["status"] == "block", [(r["rule"], r["status"]) for r in report["rules"]]
    assert "11 extra exact copies added" in json.dumps(extreme["records"]), extreme["records"]


def test_a_tree_whose_names_end_in_non_ascii_digits_commits_and_counts_as_its_profile_says(
    prov, workdir, store, keypair
):
    # attack review 24b, finding 2: "#²" read as a row number by str.isdigit, which int() refuses; a tree may name
    # a file so. Commit ranks it as text (file_order: ASCII digits only), and the check's count of the same
    # manifest gives byte for byte the arrays the commit signed in the profile
    import io

    from PIL import Image

    from provenance.profiles.base_clumping import signed_clumping_differs, version_clumping
    from provenance.profiles.stage import load_profile
    from provenance.store import Store

    ends = ["#²", "#٣", "#1", "#²#2", "é#10", "", "٣", "#+5", "#-1", "#007"]  # as file_order ranks a tree's paths
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (8, 8), dtype=np.uint8) for _ in range(100)]
    for i in range(240):  # a file's bytes held 1-4 times, its repeats adjacent in file order: clumps to count
        label = ("cat", "dog")[i % 2]
        png = io.BytesIO()
        Image.fromarray(images[i // (1 + i % 4) % 100]).save(png, format="PNG")
        path = workdir / "tree" / label / f"{i:03d}{ends[i % len(ends)]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png.getvalue())
    r = prov("-q", "commit", "tree", "--tag", "t1", "--key", keypair.private_path, "--tree-reader", "files")
    assert r.exit_code == 0, r.output
    s = Store.open(workdir)
    signed = load_profile(s, "t1").within_batch_copies
    counted = version_clumping(s, "t1")
    assert signed is not None and counted is not None and int(counted.copies.sum()) > 0
    assert not signed_clumping_differs(signed, counted)
    # reports name such a file by its path (report.wording.location_text read "#²" as a row number too)
    png = io.BytesIO()
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(png, format="PNG")
    (workdir / "tree" / "cat" / "new#²").write_bytes(png.getvalue())
    r = prov("-q", "commit", "tree", "--tag", "t2", "--key", keypair.private_path, "--tree-reader", "files")
    assert r.exit_code == 0, r.output
    r = prov("diff", "t1", "t2")
    assert r.exit_code == 0 and "cat/new#²" in r.stdout, r.output[-800:]
