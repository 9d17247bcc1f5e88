"""Who delivered a record, by a version's lineage: the sources whose trusted signed batches carry its content.

A read-only helper for the gate's relabel rules (``provenance.gate.relabel_owners``): a relabel signed by a
source is that source's own correction only when the base's lineage gives the record to it (attack review 32e,
A32e-2). The lineage read here is the one a version signed, re-judged under the verifier's pins
(``classify.trusted_lineage``), never a writable row.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from provenance.lineage.classify import ATTESTED, RELABELED


def delivering_sources(lineage: pa.Table, digests: pa.Array) -> dict[bytes, frozenset[str]]:
    """For each of ``digests`` (``binary(32)``), the sources ``lineage`` gives its rows to.

    Args:
        lineage: a version's lineage (``classify.LINEAGE_SCHEMA``: ``digest``, ``status``, ``source``, ...).
        digests: the records asked about.

    Returns:
        digest (32 bytes) -> the sources of its rows that are ``attested`` or ``relabeled_after_source`` (a trusted
        source signed that content, under this label or another); a digest the lineage does not hold, or holds only
        ``unattributed``, maps to an empty set.
    """
    wanted = {bytes(d): set() for d in digests.to_pylist()}  # type: dict[bytes, set[str]]
    delivered = pc.is_in(lineage.column("status"), value_set=pa.array([ATTESTED, RELABELED], pa.string()))
    rows = lineage.filter(pc.and_(delivered, pc.is_in(lineage.column("digest"), value_set=digests)))
    for digest, source in zip(rows.column("digest").to_pylist(), rows.column("source").to_pylist()):
        if source:
            wanted[digest].add(source)
    return {d: frozenset(s) for d, s in wanted.items()}
