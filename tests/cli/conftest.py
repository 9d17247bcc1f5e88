"""Fixtures for the CLI tests: a world with a signing vendor and an unsigned crowd."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from lineage_world import N_CROWD, N_VENDOR, World

from provenance import keys
from provenance.lineage import batches
from provenance.sources.interface import DatasetSpec
from provenance.trust import source_keys as trust
from support import digits_table


@pytest.fixture
def world(workdir, store, monkeypatch) -> World:
    monkeypatch.setenv("PROV_WORKERS", "1")  # small batches: forking workers costs more than it saves
    data = digits_table(N_VENDOR + N_CROWD)
    vendor_data, crowd_data = workdir / "vendor.parquet", workdir / "crowd.parquet"
    pq.write_table(data.slice(0, N_VENDOR), vendor_data)
    pq.write_table(data.slice(N_VENDOR), crowd_data)
    pairs = {n: keys.generate(workdir / n) for n in ("vendor", "other", "stranger", "owner")}
    signed = batches.sign_batch(DatasetSpec(str(vendor_data)), "vendor", pairs["vendor"].private_path)
    trust.add_key(store, "vendor", pairs["vendor"].public_path)
    trust.add_key(store, "other", pairs["other"].public_path)
    return World(
        workdir,
        store,
        pairs["vendor"],
        pairs["other"],
        pairs["stranger"],
        pairs["owner"],
        vendor_data,
        crowd_data,
        Path(signed.envelope),
    )
