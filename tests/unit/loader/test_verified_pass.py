"""A two-pass read (a version over the buffer budget) hands out only what its verifying pass read
(``loader/verified_pass.py``; attack review 5, finding 6), replayed for real: real Parquet files, a real
signed version, files swapped by rename or rewritten in place once the verifying pass is over."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import VerificationError
from provenance.loader import reading
from provenance.loader.verified_pass import FirstPass, SecondPass, fingerprint


@pytest.fixture
def three_parts(workdir, store, keypair, monkeypatch):
    """t1: data/part-{0,1,2}.parquet (100, 200, 400 rows of cat/dog; row groups of 50); every read is over
    the buffer budget (``PROV_LOADER_BUFFER=1000``, as the review ran it), so a default read reads twice."""
    rng = np.random.default_rng(1)
    (workdir / "data").mkdir()
    for part, n in enumerate((100, 200, 400)):
        table = pa.table(
            {
                "x0": rng.normal(size=n),
                "x1": rng.normal(size=n),
                "label": np.array(["cat", "dog"])[rng.integers(0, 2, n)],
            }
        )
        pq.write_table(table, workdir / "data" / f"part-{part}.parquet", row_group_size=50)
    prov.commit(store, "data", tag="t1", key=keypair.private_path)
    monkeypatch.setenv("PROV_LOADER_BUFFER", "1000")
    return workdir / "data"


def _case_e(data) -> pa.Table:
    """Review 3 finding 7 case E on part-1: its dog rows deleted, padded back to its signed row count with
    copies of part-2's cat rows (other signed records of the version, read later)."""
    p1, p2 = pq.read_table(data / "part-1.parquet"), pq.read_table(data / "part-2.parquet")
    cats = p1.filter(pc.equal(p1["label"], "cat"))
    pad = p2.filter(pc.equal(p2["label"], "cat")).slice(0, p1.num_rows - cats.num_rows)
    assert pad.num_rows == p1.num_rows - cats.num_rows
    return pa.concat_tables([cats, pad])


def test_a_file_swapped_by_rename_after_the_verifying_pass_is_refused_before_any_of_its_records(
    three_parts, store, pins, workdir
):
    """The review's replay: the job takes a fixed number of records (``itertools.islice``); once the verifying
    pass is over the writer renames a re-filled part-1 (same row count, all cat) into place. The old code
    handed out 250 records, 150 of them part-1's forged cats, with no error."""
    pq.write_table(_case_e(three_parts), workdir / "evil.parquet", row_group_size=50)
    records = iter(prov.load("t1", store=store, pins=pins))
    handed_out = [next(records)]  # the verifying pass is over: every record checked, this one from part-0
    os.replace(workdir / "evil.parquet", three_parts / "part-1.parquet")
    with pytest.raises(
        VerificationError,
        match=r"^\S*/data/part-1\.parquet: replaced by another file \(another inode\) since the verifying pass "
        r"read it \(the data changed while the job read it\); none of its records was handed out",
    ):
        handed_out += itertools.islice(records, 249)
    assert len(handed_out) == 100 and {r.locator.split("#")[0] for r in handed_out} == {"part-0.parquet"}


def test_a_file_rewritten_in_place_after_the_verifying_pass_is_refused_before_any_of_its_records(
    three_parts, store, pins
):
    forged = _case_e(three_parts)
    batches = prov.load("t1", store=store, pins=pins).batches()
    handed_out = next(batches).num_rows
    with open(three_parts / "part-1.parquet", "r+b") as fh:  # the same inode, written to
        fh.truncate(0)
        pq.write_table(forged, fh, row_group_size=50)
    with pytest.raises(VerificationError, match=r"part-1\.parquet: (resized|written to) .* none of its records"):
        for batch in batches:
            handed_out += batch.num_rows
    assert handed_out == 100  # part-0 only


def test_a_swap_between_the_identity_check_and_the_open_is_refused_at_the_open(
    three_parts, store, pins, workdir, monkeypatch
):
    """The narrowest race: part-1 is still the file the verifying pass read when the second pass checks it, and
    is replaced before the reader opens it. The handle opened is not the file listed (``sources.file_identity``,
    attack review 25d): refused before a batch of it is read (the batch fingerprint came after, and still
    guards a rewrite in place that puts the size and times back)."""
    pq.write_table(_case_e(three_parts), workdir / "evil.parquet", row_group_size=50)
    check = SecondPass.opening

    def check_then_swap(self, path):
        check(self, path)
        if path.endswith("part-1.parquet") and (workdir / "evil.parquet").exists():
            os.replace(workdir / "evil.parquet", path)

    monkeypatch.setattr(SecondPass, "opening", check_then_swap)
    batches = prov.load("t1", store=store, pins=pins).batches()
    handed_out = 0
    with pytest.raises(VerificationError, match=r"data/part-1\.parquet: file changed while it was read"):
        for batch in batches:
            handed_out += batch.num_rows
    assert handed_out == 100 and not (workdir / "evil.parquet").exists()


def test_a_tree_file_swapped_after_the_verifying_pass_for_a_later_files_bytes_is_not_handed_out(tree, store, pins):
    """Over the budget a tree is read twice too: dog/0.png re-filled with dog/5.png's bytes (signed, read later)
    passed the second pass's matcher and was handed out before dog/5.png was refused."""
    batches = prov.load("t2", store=store, pins=pins, buffer=0).batches()
    served = [r["path"] for r in next(batches).to_pylist()]
    (tree / "dog" / "0.png").write_bytes((tree / "dog" / "5.png").read_bytes())
    with pytest.raises(VerificationError, match=r"tree/cat/4\.png to \S*tree/dog/1\.png: the records read now"):
        for batch in batches:
            served += [r["path"] for r in batch.to_pylist()]
    assert served == ["cat/0.png", "cat/1.png", "cat/2.png", "cat/3.png"]


def test_an_unchanged_version_over_the_budget_reads_as_under_it(three_parts, store, pins):
    twice = list(prov.load("t1", store=store, pins=pins))
    once = list(prov.load("t1", store=store, pins=pins, buffer=1 << 40))
    assert len(twice) == 700 and twice == once


def _batch(labels, sources, locators, digests=None) -> reading.HashedBatch:
    n = len(labels)
    return reading.HashedBatch(
        pa.record_batch({"label": pa.array(labels, pa.string())}),
        digests if digests is not None else bytes(range(32)) * n,
        pa.array(labels, pa.string()),
        pa.array(sources, pa.string()),
        pa.array(locators, pa.string()),
        "label",
        [],
    )


def test_the_fingerprint_sees_every_field_and_not_how_the_arrays_are_sliced():
    base = _batch(["a", "bc", "d"], ["s", None, "t"], ["f#0", "f#1", "f#2"])
    same = reading.HashedBatch(
        base.batch,
        base.digests,
        pa.array(["x", "a", "bc", "d"]).slice(1),  # a slice: offsets not from 0
        pa.array(["s", None, "t"], pa.large_string()),
        pa.chunked_array([["f#0"], ["f#1", "f#2"]]),
        "label",
        [],
    )
    assert fingerprint(same) == fingerprint(base)
    others = [
        _batch(["a", "bc", "e"], ["s", None, "t"], ["f#0", "f#1", "f#2"]),  # a label
        _batch(["ab", "c", "d"], ["s", None, "t"], ["f#0", "f#1", "f#2"]),  # the same bytes cut elsewhere
        _batch(["a", "bc", "d"], ["s", "", "t"], ["f#0", "f#1", "f#2"]),  # a null source made empty
        _batch(["a", "bc", "d"], ["s", None, "t"], ["f#0", "f#2", "f#1"]),  # the order
        _batch(["a", "bc", "d"], ["s", None, "t"], ["f#0", "f#1", "f#2"], bytes(range(1, 33)) * 3),  # a digest
    ]
    assert len({fingerprint(b) for b in others} | {fingerprint(base)}) == len(others) + 1


def test_the_second_pass_refuses_a_missing_or_extra_batch():
    first = FirstPass()
    one, two = _batch(["a"], ["s"], ["f#0"]), _batch(["b"], ["s"], ["f#1"])
    for batch in (one, two):
        first.batch(batch, str)
    second = first.second()
    second.batch(one, str)
    with pytest.raises(VerificationError, match="the data ended after 1 of the 2 batches"):
        second.end()
    second = first.second()
    for batch in (one, two):
        second.batch(batch, str)
    with pytest.raises(VerificationError, match=r"^f#1: the records read now differ"):
        second.batch(two, lambda i: f"f#{i + 1}")
