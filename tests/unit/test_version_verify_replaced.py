"""``prov verify V`` of data whose every record was replaced: counted, a few named (attack review 25d).

With no content digest on both sides nothing pairs, so every record read is *added* and every
signed one *removed*; building one dict per record for both sides held 2.3 GiB at 1M rows x 64
float columns and took 103 s where the verify itself took 11 s (``bench/verify_all_changed.py``).
The verify now counts them and names the first ``MAX_LISTED`` of each side by locator.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import versions
from provenance.changes import MAX_LISTED
from provenance.errors import VerificationError
from provenance.executor import InlineExecutor
from provenance.gate.rules import verification_block
from provenance.sources.interface import DatasetSpec
from provenance.version_verify import verify_version

ROWS = 300


def _write(path, shift: float) -> None:
    x = [i + shift for i in range(ROWS)]
    pq.write_table(pa.table({"x": x, "label": [str(i % 4) for i in range(ROWS)]}), path)


def test_every_record_replaced_is_counted_and_the_first_named(store, keypair, pins, workdir):
    data = workdir / "data.parquet"
    _write(data, 0.0)
    versions.commit(store, DatasetSpec(str(data)), "v1", keypair.private_path, stages=[])
    store.pins = pins
    _write(data, 0.5)  # every value moved: no record is shared
    with pytest.raises(VerificationError) as err:
        verify_version(store, "v1", executor=InlineExecutor(), check_delta=False)
    exc = err.value
    assert str(exc) == (
        f"version v1: data at {data} no longer matches its signed manifest ({ROWS} added, {ROWS} removed): "
        f"none of the {ROWS} records is in version v1 ({ROWS} there): another file, or every record replaced"
    )
    assert exc.count == 2 * ROWS
    assert [(r["kind"], r["locator"]) for r in exc.records] == [
        *(("added", str(i)) for i in range(MAX_LISTED)),
        *(("removed", str(i)) for i in range(MAX_LISTED)),
    ]
    assert exc.records[0]["detail"].startswith("added row 0 (digest ")
    assert verification_block("integrity.verify", exc).count == 2 * ROWS  # the gate counts them all


def test_data_sharing_a_record_still_names_every_change(store, keypair, pins, workdir):
    """One record kept: the pairing by place runs as before and names each edit ``changed``."""
    data = workdir / "data.parquet"
    _write(data, 0.0)
    versions.commit(store, DatasetSpec(str(data)), "v1", keypair.private_path, stages=[])
    store.pins = pins
    table = pq.read_table(data)
    x = [0.0] + [i + 0.5 for i in range(1, ROWS)]
    pq.write_table(table.set_column(0, "x", pa.array(x)), data)
    with pytest.raises(VerificationError, match=rf"\({ROWS - 1} changed\)") as err:
        verify_version(store, "v1", executor=InlineExecutor(), check_delta=False)
    assert err.value.count == len(err.value.records) == ROWS - 1
