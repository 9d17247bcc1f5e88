"""Which records ``relabeled_after_source`` are the team's own rows, held under their label before the source signed.

A source may sign a record whose content the dataset already holds under another label: a real duplicate (two
stones with the same measurements, cut graded differently), or a batch later rejected. The version holding both
rows classifies the team's row ``relabeled_after_source`` against the source's label, and so does every later
version, even after the source's row is gone: a trusted source could block every release (newcomer 34, finding 2).

A candidate row with content ``d``, label ``L``, relabeled against batch ``b`` is the team's row when a version of
the base's signed ancestry held ``d`` under ``L`` in a row its signed lineage marks ``unattributed``: no signed
batch carried that row then (a registered batch that carries a digest is named on its rows,
``classify.classify_columns``), so the row was the team's before the source signed its content. A row another
batch attested does not count: that batch's key may be revoked or retired since, and its copy of the content under
a flipped label must not excuse flipping the source's own record (attack review 34f, A34f-R1). At most as many
candidate rows are the team's as one such version held, and no more than the base itself holds under ``L`` (a row
only an unreleased ancestor held is not one the team kept: A35p-3): a second row under ``L`` is the source's own,
relabelled.
Facts: the signed parent chain (``version_facts.signed_ancestry``) and each version's signed lineage
(``classify.version_lineage``); nothing is read from a writable row.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.lineage.classify import RELABELED, UNATTRIBUTED, version_lineage
from provenance.version_facts import signed_ancestry

if TYPE_CHECKING:
    from provenance.store.store import Store

Key = tuple[bytes, str, str]  # digest, label, the batch it is relabeled against


def held_before_source(store: Store, base: str, lineage: pa.Table) -> pa.Array:
    """Which rows of ``lineage`` are ``relabeled_after_source`` yet the team's own rows (module docstring).

    Args:
        store: the store holding ``base`` and its signed ancestry.
        base: the tag whose signed ancestry (``base`` included) is asked.
        lineage: the candidate's lineage (``classify.LINEAGE_SCHEMA``), as the gate judges it.

    Returns:
        A boolean array, one per row of ``lineage``: true for a row the rule on relabels after source leaves out.

    Raises:
        VerificationError: a version of the chain, or its signed lineage, does not verify (the caller fails closed).
        InputError: no version ``base``.
    """
    relabeled = pc.fill_null(pc.equal(lineage.column("status"), RELABELED), False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(relabeled)
    out = np.zeros(lineage.num_rows, dtype=bool)
    if not len(rows):
        return pa.array(out)
    part = lineage.take(pa.array(rows))
    keys: list[Key] = list(
        zip(part.column("digest").to_pylist(), part.column("label").to_pylist(), part.column("batch").to_pylist())
    )
    needed = Counter(keys)
    held = _held_rows(store, base, needed)
    in_base = _base_rows(store, base, needed)
    allowed = Counter({key: min(n, in_base[key]) for key, n in held.items()})
    used: Counter[Key] = Counter()
    for row, key in zip(rows, keys):
        if used[key] < allowed[key]:
            used[key] += 1
            out[row] = True
    return pa.array(out)


def _base_rows(store: Store, base: str, needed: Counter[Key]) -> Counter[Key]:
    """For each key of ``needed``, how many rows ``base``'s own signed lineage holds with that content under that
    label, whatever their status: a row an unreleased ancestor held, which the base no longer holds, is no team row
    the candidate kept (attack review 35p, A35p-3: a commit-key holder planted the crowd's record under another
    label in a version never released, then flipped the crowd's own record to it two versions later)."""
    digests = pa.array(sorted({k[0] for k in needed}), pa.binary(32))
    lin = version_lineage(store, base)
    lin = lin.filter(pc.is_in(lin.column("digest"), value_set=digests))
    rows = Counter(zip(lin.column("digest").to_pylist(), lin.column("label").to_pylist()))
    return Counter({key: rows[(key[0], key[1])] for key in needed})


def _held_rows(store: Store, base: str, needed: Counter[Key]) -> Counter[Key]:
    """For each key of ``needed``, the most rows one version of ``base``'s signed ancestry held that content under
    that label, in rows its signed lineage marks unattributed (no signed batch carried them); the walk stops once
    every key has as many as ``needed``."""
    digests = pa.array(sorted({k[0] for k in needed}), pa.binary(32))
    by_content: dict[tuple[bytes, str], list[Key]] = {}
    for key in needed:
        by_content.setdefault((key[0], key[1]), []).append(key)
    held: Counter[Key] = Counter()
    for row, _ in signed_ancestry(store, base):
        lin = version_lineage(store, row["tag"])
        lin = lin.filter(pc.is_in(lin.column("digest"), value_set=digests))
        here: Counter[Key] = Counter()
        for d, label, status in zip(*(lin.column(c).to_pylist() for c in ("digest", "label", "status"))):
            if status != UNATTRIBUTED:
                continue
            for key in by_content.get((d, label), []):
                here[key] += 1
        for key, n in here.items():
            held[key] = max(held[key], n)
        if all(held[k] >= n for k, n in needed.items()):
            break
    return held
