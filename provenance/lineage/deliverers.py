"""Who delivered a record, by a version's lineage: the sources whose trusted signed batches carry its content.

A read-only helper for the gate's relabel rules (``provenance.gate.relabel_owners``): a relabel signed by a
source is that source's own correction only when the record is the source's (attack review 32e, A32e-2). Whose
record it is asks two versions: the base, whose lineage is the one it signed re-judged under the verifier's pins
(``classify.trusted_lineage``), and the version that first held the record in the base's signed ancestry, whose
signed lineage says who delivered it when it entered the dataset (:func:`first_deliverers`). A source owns a
record only when both give it to the source: a vendor that signs exact copies of the team's unsigned records in a
later delivery is among the base's deliverers, but not among those of the version the records entered in
(attack review 33c, A33c-1). Nothing is read from a writable row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from provenance.lineage.classify import ATTESTED, RELABELED

if TYPE_CHECKING:
    from provenance.store.store import Store


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


class FirstDelivery(NamedTuple):
    """Where a record entered ``tag``'s signed ancestry: the oldest ``version`` holding it (None: none does), and the
    ``sources`` that version's signed lineage gives it to (empty: none)."""

    version: str | None
    sources: frozenset[str]


def first_deliverers(store: Store, tag: str, digests: pa.Array) -> dict[bytes, FirstDelivery]:
    """For each of ``digests`` (``binary(32)``), the sources that delivered it in the oldest version of ``tag``'s
    signed ancestry that holds it (``tag`` itself included), by that version's signed lineage.

    The ancestry is followed through signed parent links (``version_facts.signed_ancestry``: each statement
    verified under the pins, each parent's Merkle root the one it signed), and each version's lineage is the one
    its signature covers (``classify.version_lineage``). A version's signed lineage can say more than the pins
    allow now (a key revoked since): callers intersect these sources with the base's lineage re-judged under the
    pins, so this answer can only take ownership away. The oldest holder counts even when a later version
    dropped the record and another delivered it again: a record removed and re-delivered is still not the
    re-deliverer's.

    Args:
        store: the store, opened with the verifier's pins.
        tag: the version whose ancestry is walked (the base of a check).
        digests: the records asked about.

    Returns:
        digest (32 bytes) -> ``FirstDelivery``: the oldest holding version and its ``delivering_sources``; a digest
        no version of the ancestry holds maps to ``FirstDelivery(None, frozenset())``.

    Raises:
        VerificationError: a version's signature, parent link or lineage does not verify.
        InputError: ``tag`` is not a version.
    """
    from provenance.lineage.classify import version_lineage
    from provenance.version_facts import signed_ancestry

    first = {bytes(d): FirstDelivery(None, frozenset()) for d in digests.to_pylist()}
    for row, _statement in signed_ancestry(store, tag):  # newest first: the last version that holds a record wins
        lineage = version_lineage(store, str(row["tag"]))
        held = lineage.filter(pc.is_in(lineage.column("digest"), value_set=digests))
        if held.num_rows:
            version = str(row["tag"])
            for digest, sources in delivering_sources(held, pc.unique(held.column("digest"))).items():
                first[digest] = FirstDelivery(version, sources)
    return first
