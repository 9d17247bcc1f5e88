"""The verifying pass's buffer (``loader/buffer.py``): under the budget a streaming read hands out the very
batches its verifying pass checked, read once; over it, a second pass that checks every batch again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import InputError, VerificationError
from provenance.loader.buffer import VerifiedBuffer, budget, held_bytes

UNLIMITED = 1 << 40  # capped at half the available memory: far above these tests' few MiB


def _table(rows: int, columns: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    data = {f"f{i:02d}": rng.standard_normal(rows) for i in range(columns)}
    data["label"] = pa.array(rng.integers(0, 3, rows).astype(str))
    data["source"] = pa.array(np.where(rng.integers(0, 2, rows) == 1, "crowd", "vendor"))
    return pa.table(data)


@pytest.fixture
def parts(workdir, store, keypair):
    """t1: a folder of two Parquet parts of 150 rows (8 float64 columns, a label, a source), row groups of 30."""
    (workdir / "data").mkdir()
    t = _table(300, 8)
    pq.write_table(t.slice(0, 150), workdir / "data" / "a.parquet", row_group_size=30)
    pq.write_table(t.slice(150), workdir / "data" / "b.parquet", row_group_size=30)
    prov.commit(store, "data", tag="t1", key=keypair.private_path, source_column="source")
    return workdir / "data"


def test_the_buffered_read_hands_out_exactly_what_two_passes_and_one_pass_hand_out(parts, tree, store, pins):
    for tag in ("t1", "t2"):
        reads = [
            prov.load(tag, store=store, pins=pins, buffer=UNLIMITED),
            prov.load(tag, store=store, pins=pins, buffer=0),
            prov.load(tag, store=store, pins=pins, verify_first=False),
        ]
        records = [list(data) for data in reads]
        assert len(records[0]) == len(reads[0]) and records[0] == records[1] == records[2]
        batches = [list(data.batches()) for data in reads]
        assert [b.num_rows for b in batches[0]] == [b.num_rows for b in batches[1]]
        assert all(x.equals(y) and x.equals(z) for x, y, z in zip(*batches))
    assert records[0][5].content == (tree / records[0][5].locator).read_bytes()


def _rewrite_b(parts) -> None:
    """Every value of part b changed, its row and label counts kept: what the second pass would read."""
    b = pq.read_table(parts / "b.parquet")
    pq.write_table(b.set_column(0, "f00", pa.compute.add(b.column("f00"), 1.0)), parts / "b.parquet", row_group_size=30)


def test_a_table_file_changed_after_the_verifying_pass_is_not_served(parts, store, pins):
    """Under the budget the rest of the read comes from the verified batches (the signed values); over it the
    second pass refuses the changed file before reading any of its records (``verified_pass.py``)."""
    signed = pq.read_table(parts / "b.parquet").column("f00")
    read = prov.load("t1", store=store, pins=pins, buffer=UNLIMITED).batches()
    first = next(read)  # the verifying pass is over
    _rewrite_b(parts)
    rest = list(read)
    served = pa.Table.from_batches([first, *rest])
    assert served.num_rows == 300 and served.column("f00").slice(150).equals(signed)

    b = pq.read_table(parts / "b.parquet")  # back to the signed values
    pq.write_table(b.set_column(0, "f00", signed), parts / "b.parquet", row_group_size=30)
    read = prov.load("t1", store=store, pins=pins, buffer=0).batches()
    handed_out = next(read).num_rows
    _rewrite_b(parts)
    with pytest.raises(
        VerificationError, match=r"b\.parquet: (resized|written to) .* since the verifying pass read it"
    ):
        for batch in read:
            handed_out += batch.num_rows
    assert handed_out == 150


def test_a_tree_file_changed_after_the_verifying_pass_is_not_served(tree, store, pins):
    original = (tree / "dog" / "5.png").read_bytes()
    forged = (tree / "dog" / "0.png").read_bytes()  # a copy of another dog: same label, same listing
    read = prov.load("t2", store=store, pins=pins, buffer=UNLIMITED).batches()
    next(read)
    (tree / "dog" / "5.png").write_bytes(forged)
    served = {r["path"]: r["content"] for batch in read for r in batch.to_pylist()}
    assert served["dog/5.png"] == original

    (tree / "dog" / "5.png").write_bytes(original)
    read = prov.load("t2", store=store, pins=pins, buffer=0).batches()
    next(read)
    (tree / "dog" / "5.png").write_bytes(forged)
    with pytest.raises(VerificationError, match=r"tree/dog/5\.png: record [0-9a-f]{12} is read more times"):
        list(read)


def test_the_buffer_drops_everything_once_the_budget_is_passed_and_releases_batches_as_served(parts, store, pins):
    hashed = list(prov.load("t1", store=store, pins=pins).hashed_batches(verify_first=False))
    sizes = [held_bytes(h) for h in hashed]
    assert all(s >= h.batch.num_rows * 8 * 8 for s, h in zip(sizes, hashed))  # 8 float64 columns at least
    kept = VerifiedBuffer(sum(sizes))
    kept.fill(iter(hashed))
    assert kept.whole and kept.held == sum(sizes)
    served = kept.drain()
    next(served)
    assert kept.held == sum(sizes[1:])
    assert list(served) == hashed[1:] and kept.held == 0
    over = VerifiedBuffer(sum(sizes) - 1)
    for i, h in enumerate(hashed):
        over.add(h)
        assert over.held <= sum(sizes) - 1 and over.whole == (i < len(hashed) - 1)
    assert over.held == 0 and list(over.drain()) == []


def test_the_budget_comes_from_the_argument_then_the_environment_and_is_checked(workdir, monkeypatch):
    assert 0 < budget() <= 1 << 30 and budget(0) == 0 and budget(12345) == 12345
    monkeypatch.setenv("PROV_LOADER_BUFFER", "2MiB")
    assert budget() == 2 << 20 and budget(7) == 7
    monkeypatch.setenv("PROV_LOADER_BUFFER", "lots")
    with pytest.raises(InputError, match=r"^PROV_LOADER_BUFFER='lots': expected a size"):
        budget()
    with pytest.raises(InputError, match=r"buffer=-1"):
        budget(-1)


PEAK = """
import json, sys
import pyarrow as pa
import provenance as prov
buffer = None if sys.argv[3] == "one pass" else int(sys.argv[3])
pins = prov.Pins.load([sys.argv[2]])
data = prov.load("big", store=sys.argv[1], pins=pins, verify_first=buffer is not None, buffer=buffer)
pool = pa.default_memory_pool()
before = pool.max_memory()
for batch in data.batches():
    pass
print(json.dumps({"before": before, "peak": pool.max_memory()}))
"""


def test_arrow_memory_of_a_read_stays_within_the_budget_and_holds_the_version_under_it(workdir, store, keypair):
    """Arrow's peak allocation over a whole default read, in a fresh process: over the budget it is at most
    the budget above the peak of one pass that keeps nothing (``verify_first=False``); with room for the
    version it holds all of it (so the measure sees the buffer)."""
    rows, columns = 65_536, 64
    (workdir / "big").mkdir()
    t = _table(rows, columns)
    for i in range(8):
        pq.write_table(t.slice(i * rows // 8, rows // 8), workdir / "big" / f"part-{i}.parquet", row_group_size=4096)
    prov.commit(store, "big", tag="big", key=keypair.private_path, executor="inline")
    data_bytes = rows * columns * 8  # 32 MiB of float64
    budget_bytes = 4 << 20
    peaks = {}
    for limit in ("one pass", budget_bytes, UNLIMITED):
        out = subprocess.run(
            [sys.executable, "-c", PEAK, str(workdir), str(keypair.public_path), str(limit)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(prov.__file__).parents[1])},  # this checkout's provenance
        )
        assert out.returncode == 0, out.stderr
        peaks[limit] = json.loads(out.stdout)
    assert peaks[UNLIMITED]["peak"] >= data_bytes  # the whole version held: the measure sees the buffer
    assert peaks[budget_bytes]["peak"] <= peaks["one pass"]["peak"] + budget_bytes  # a pass's working set + the budget
