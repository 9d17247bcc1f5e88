"""A world for signing at source and lineage: a vendor that signs, a crowd that doesn't.

The ``world`` fixture that builds one is in ``tests/cli/conftest.py``; tests import the
helpers here by name (``from lineage_world import World, flip_label``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from provenance.store import Store
from support import digits_table, store_fingerprint  # noqa: F401  (re-exported for tests)

N_VENDOR = 120
N_CROWD = 60


@dataclass
class World:
    """A store, a trusted vendor with a signed batch, an untrusted crowd batch, keys."""

    root: Path
    store: Store
    vendor: keys.KeyPair
    other: keys.KeyPair  # trusted, but for source "other"
    stranger: keys.KeyPair  # in no trust store
    owner: keys.KeyPair  # signs versions
    vendor_data: Path
    crowd_data: Path
    envelope: Path

    def table(self) -> pa.Table:
        return pq.read_table(self.vendor_data)

    def write(self, name: str, table: pa.Table) -> Path:
        path = self.root / name
        pq.write_table(table, path)
        return path

    def envelope_json(self) -> dict:
        return json.loads(self.envelope.read_text())

    def write_envelope(self, name: str, env: dict) -> Path:
        path = self.root / name
        path.write_text(json.dumps(env))
        return path

    def prov_fingerprint(self) -> dict[str, str]:
        return store_fingerprint(self.root / ".prov")


def set_column(table: pa.Table, name: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values, table.column(name).type))


def flip_label(table: pa.Table, row: int) -> pa.Table:
    labels = table.column("label").to_pylist()
    labels[row] = "1" if labels[row] != "1" else "2"
    return set_column(table, "label", labels)


def change_pixel(table: pa.Table, row: int, column: str = "px10") -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] += 1
    return set_column(table, column, values)


def payload(env: dict) -> dict:
    return json.loads(base64.b64decode(env["payload"]))
