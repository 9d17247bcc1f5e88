"""``provenance.load``: a version's records come out only after their digest, label and source are found in
the signed manifest; a change since signing is a VerificationError naming the record."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import InputError, VerificationError
from support import digits_table


@pytest.fixture
def version(workdir, store, keypair):
    """v1: 300 digits in a Parquet file with a source column, committed and signed."""
    table = digits_table(300)
    sources = pa.array(["vendor" if i % 3 else "crowd" for i in range(300)])
    pq.write_table(table.append_column("source", sources), workdir / "train.parquet", row_group_size=64)
    prov.commit(store, "train.parquet", tag="v1", key=keypair.private_path, source_column="source")
    return workdir / "train.parquet"


def _rewrite(path, change):
    table = pq.read_table(path)
    pq.write_table(change(table), path, row_group_size=64)


def test_every_record_comes_out_with_its_label_and_the_signed_facts(version, store, pins):
    data = prov.load("v1", store=store, pins=pins)
    assert len(data) == 300 and data.kind == "table" and data.version == "v1"
    assert data.columns == [f"px{i:02d}" for i in range(64)] and data.classes == [str(d) for d in range(10)]
    records = list(data)
    expected = digits_table(300)
    assert [r.label for r in records] == expected.column("label").to_pylist()
    assert records[5].content == {c: expected.column(c)[5].as_py() for c in data.columns}
    assert records[5].locator == "5" and records[6].source == "crowd" and len(records[5].digest) == 32
    X, y = data.arrays()
    assert X.shape == (300, 64) and np.array_equal(y, np.array([int(v) for v in expected.column("label").to_pylist()]))


def test_rows_in_another_order_or_file_layout_still_load(version, store, pins):
    _rewrite(version, lambda t: t.take(pa.array(np.arange(299, -1, -1))))
    assert len(list(prov.load("v1", store=store, pins=pins))) == 300


def test_a_relabel_since_signing_is_refused_naming_the_row(version, store, pins):
    _rewrite(
        version,
        lambda t: t.set_column(t.schema.get_field_index("label"), "label", [["7"] + t.column("label").to_pylist()[1:]]),
    )
    with pytest.raises(
        VerificationError, match=r"^\S*/train\.parquet#0: record [0-9a-f]{12} has label '7', signed as '0' \(relabeled"
    ):
        list(prov.load("v1", store=store, pins=pins))


def test_an_added_row_is_refused_and_a_removed_row_is_named_at_the_end(version, store, workdir, pins):
    table = pq.read_table(version)
    extra = table.slice(0, 1).set_column(0, "px00", [[16]])  # content the manifest never saw
    pq.write_table(pa.concat_tables([table, extra]), version)
    with pytest.raises(
        VerificationError,
        match=r"^\S*/train\.parquet#300: record [0-9a-f]{12} is not in the signed manifest of version v1",
    ):
        list(prov.load("v1", store=store, pins=pins).batches())
    pq.write_table(table.slice(1), version)
    loaded = prov.load("v1", store=store, pins=pins).batches()
    with pytest.raises(
        VerificationError,
        match=r"version v1: 1 signed record\(s\) are missing from the data .*signed at \S*/train\.parquet#0\)",
    ):
        for _ in loaded:
            pass


def test_a_damaged_signature_is_refused_before_any_data_is_read(version, store, workdir, pins):
    row = store.version("v1")
    path = store.objects.path(row["envelope_object"])
    env = json.loads(path.read_bytes())
    env["signatures"][0]["sig"] = env["signatures"][0]["sig"][::-1]
    path.chmod(0o644)
    path.write_text(json.dumps(env))
    with pytest.raises(VerificationError, match="envelope of v1"):
        prov.load("v1", store=store, pins=pins)


def test_an_unknown_version_and_a_policy_without_attestation_are_input_errors(version, store, pins):
    with pytest.raises(InputError, match="v9: no such version in"):
        prov.load("v9", store=store, pins=pins)
    with pytest.raises(InputError, match="release attestation"):
        prov.load("v1", store=store, pins=pins, policy="policy.toml")


def test_a_read_the_job_left_unfinished_is_closed_at_exit(version, store, workdir, pins):
    """Attack review 3, finding 11: a job that stopped after a few batches left its readers to the interpreter's
    teardown, where Arrow's threads can abort the process (SIGABRT after training). They are closed at exit."""
    import subprocess
    import sys

    job = (
        "import atexit, inspect, sys\n"
        "state = {}\n"
        "atexit.register(lambda: print(inspect.getgeneratorstate(state['reading'])))  # runs after prov's\n"
        "import provenance as prov\n"
        f"pins = prov.Pins.load([{str(workdir / 'alice.pub')!r}])\n"
        f"data = prov.load('v1', store={str(store.root.parent)!r}, pins=pins, verify_first=False)\n"
        "state['reading'] = data.hashed_batches()\n"
        "next(state['reading'])  # one batch, then the job ends\n"
    )
    out = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True, cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["GEN_CLOSED"]
