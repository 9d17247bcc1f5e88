"""Records the base's signed ancestors held that the candidate lacks: removals committed before the base.

Added records of a listed new class are judged on class-free evidence only while nothing says they are base
records delivered again under a new name (``gate.class_free``). A delta that removes base records says so
(attack review 31d, A31d-5); so does a removal committed apart, in the base itself or in any version before it:
v2 drops 14 malignant records (a removal alone, releasable), v3 adds them back labelled "cat" with every value 8%
larger, and prov check v3 --base v2 saw no removal (attack review 32a, A32a-1). So the removals counted are also
the records any signed ancestor of the base held that the candidate lacks, read from manifests verified against
the roots their versions signed (``version_facts.signed_ancestry``, ``load_manifest``), never from a row.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from provenance.gate.context import GateContext


class AncestryRemoval(NamedTuple):
    """The newest signed ancestor of the base that held records the candidate lacks: ``version``, and ``records``
    how many (0 with ``problem`` when the ancestry does not verify: counted as a removal, fail closed)."""

    version: str
    records: int
    problem: str = ""


_KEPT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one walk per check


def ancestry_removal(ctx: GateContext) -> AncestryRemoval | None:
    """The newest strict ancestor of ``ctx.base`` (its signed parent chain) holding distinct records the candidate
    lacks (``gate.removals.lacked``), or None when none does. A chain or manifest that does not verify is an
    ``AncestryRemoval`` with its ``problem`` (the gate fails closed: its listed classes are judged in full). Walked
    once per check: every manifest of the chain is read (only when a listed class's records would otherwise be
    judged on class-free evidence)."""
    if ctx in _KEPT:
        return _KEPT[ctx]
    found = _walk(ctx)
    _KEPT[ctx] = found
    return found


def _walk(ctx: GateContext) -> AncestryRemoval | None:
    import pyarrow.compute as pc

    from provenance.errors import InputError, VerificationError
    from provenance.gate.removals import lacked
    from provenance.version_facts import load_manifest, signed_ancestry

    try:
        chain = signed_ancestry(ctx.store, ctx.base)[1:]
        for row, _ in chain:
            digests = pc.unique(load_manifest(ctx.store, row).table.column("digest"))
            gone = int(pc.sum(lacked(ctx, digests)).as_py() or 0)
            if gone:
                return AncestryRemoval(str(row["tag"]), gone)
    except (InputError, VerificationError) as exc:
        return AncestryRemoval(ctx.base, 0, str(exc))
    return None
