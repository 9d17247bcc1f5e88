"""``lineage.deliverers.delivering_sources``: who a version's lineage gives each record to (fix33b, A32e-2)."""

from __future__ import annotations

import pyarrow as pa

from provenance.lineage.classify import LINEAGE_SCHEMA
from provenance.lineage.deliverers import delivering_sources

A, B, C, D = (bytes([i]) * 32 for i in range(1, 5))


def _lineage(rows: list[tuple[bytes, str, str, str | None]]) -> pa.Table:
    digest, label, status, source = zip(*rows)
    n = len(rows)
    return pa.table(
        {
            "digest": pa.array(digest, pa.binary(32)),
            "label": pa.array(label),
            "status": pa.array(status),
            "source": pa.array(source, pa.string()),
            "batch": pa.nulls(n, pa.string()),
            "signed_label": pa.nulls(n, pa.string()),
        },
        schema=LINEAGE_SCHEMA,
    )


def test_attested_and_relabeled_rows_give_their_source_unattributed_ones_none():
    lineage = _lineage(
        [
            (A, "x", "attested", "vendor"),
            (A, "y", "relabeled_after_source", "crowd"),
            (B, "x", "unattributed", "team"),  # an unsigned batch's source is a claim, not a delivery
            (C, "x", "attested", "vendor"),
        ]
    )
    owners = delivering_sources(lineage, pa.array([A, B, D], pa.binary(32)))
    assert owners == {A: frozenset({"vendor", "crowd"}), B: frozenset(), D: frozenset()}
