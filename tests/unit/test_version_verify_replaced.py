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
from provenance.changes import KINDS, MAX_LISTED, natural_key
from provenance.errors import VerificationError
from provenance.executor import InlineExecutor
from provenance.gate.rules import verification_block
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
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


# locators whose natural order is easy to get wrong: a superscript (a digit to isdigit, not to int: A27b-1),
# unicode decimal digits (Arabic-Indic, fullwidth, mathematical: \d and int read them), runs equal in value but
# not as text, NUL, text around digits, and repeats (an id column may repeat one: kept in manifest order)
ODD_IDS = ["1²", "²", "²1", "٣", "3", "03", "٠٣", "３", "𝟗", "10", "١٠", "9", "a", "a2", "a10", "a02", "\x00", "é7"]


def test_every_record_replaced_names_the_first_in_the_natural_order_of_odd_ids(store, keypair, pins, workdir):
    """The none-shared path names records in the columnar pairing's natural order (``change_pairing.natural_rank``),
    which is ``changes.natural_key``'s for odd and repeated ids; records at one id in the manifest's order."""
    ids = ODD_IDS + list(reversed(ODD_IDS))  # each twice
    data = workdir / "data.parquet"
    spec = DatasetSpec(str(data), options=TableOptions(id_column="id"))

    def write(shift: float) -> list[tuple[str, str]]:
        """Write the data; the first ``MAX_LISTED`` of its manifest by ``natural_key``, stably, as (id, digest)."""
        x = [i + shift for i in range(len(ids))]
        pq.write_table(pa.table({"x": x, "label": [str(i % 3) for i in range(len(ids))], "id": ids}), data)
        rows = build_manifest(spec, executor=InlineExecutor()).manifest.table.to_pylist()
        first = sorted(rows, key=lambda r: natural_key(r["locator"]))[:MAX_LISTED]
        return [(r["locator"], r["digest"].hex()) for r in first]

    signed = write(0.0)
    versions.commit(store, spec, "v1", keypair.private_path, stages=[])
    store.pins = pins
    current = write(0.5)
    with pytest.raises(VerificationError) as err:
        verify_version(store, "v1", executor=InlineExecutor(), check_delta=False)
    named = {kind: [(r["locator"], r["digest"]) for r in err.value.records if r["kind"] == kind] for kind in KINDS}
    assert named["added"] == current and named["removed"] == signed
    # the ids that begin with a digit run come first, by its value: 1², five spellings of 3 (a tie), 9, 10
    assert {locator for locator, _ in current} == {"1²", "٣", "3", "03", "٠٣", "３", "𝟗", "9", "10", "١٠"}
