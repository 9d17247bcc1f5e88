"""Which version entries of the audit log the signed heads over it vouch for: the one rule every reader applies.

A ``commit`` entry (and a quarantining commit's ``quarantine`` entry) is written only in a write that signs a
checkpoint over it with the committer's key, so only a head signed by a key holding the commit role under the
verifier's pins vouches for one (attack review 27c, A27c-1): a checkpoint by a key pinned only to waive or attest
(a reviewer's CI runner that can also write ``.prov/``) covers the entries it signs, but no version entry among
them. A head also vouches for none of the version entries it names as left pending (a revocation's checkpoint
signs the log with the entries it could not check left out: :data:`LEFT_PENDING`). One head is enough: a root
cannot give the commit role a threshold above 1 (``trust.root.UNSUPPORTED_THRESHOLDS``: ``prov commit`` signs a
version with one key), so one commit key's head speaks for the whole role.

``coverage.coverage`` applies :func:`unvouched_entries` to every head it reads, so ``prov audit verify``, ``prov
show``, ``prov status``, the gate and the refusal of ``provenance.store.vouched`` agree on what is pending (attack
review 27d, A27d-4: they did not).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# the actions prov appends only in a write that signs a checkpoint over them with a commit key
SIGNED_AS_WRITTEN = ("commit", "quarantine")
# the checkpoint predicate's field naming the version entries (seqs) its signer left pending: a revocation's
LEFT_PENDING = "pendingVersionEntries"


@dataclass(frozen=True)
class Head:
    """A signed head that fits the log: it covers the first ``size`` entries, signed by ``keyid``, except the version
    entries (seqs) in ``left_pending``, which its signer did not vouch for."""

    size: int
    keyid: str
    left_pending: frozenset[int] = frozenset()


def commit_keys(store: Any) -> dict | None:
    """The keys whose heads may vouch for a ``commit`` or ``quarantine`` entry: those holding the commit role under
    the store's pins (``Pins.role_keys``, keys revoked in the store left out), or None when nothing is pinned (every
    trusted head then counts: the store's own keys)."""
    pins = getattr(store, "pins", None)
    if pins is None or not pins.pinned:
        return None
    return dict(pins.role_keys("commit", store).keys)


def unvouched_entries(rows: Sequence[dict], heads: Iterable[Iterable[Head]], commit_ids: set[str] | None) -> list[dict]:
    """The ``commit`` and ``quarantine`` entries of ``rows`` (``audit.entries``) that no head vouches for, oldest
    first, as ``{"seq", "action", "subject"}``.

    A head vouches for such an entry when it covers it (``seq <= size``), does not name it as left pending, and is
    signed by a key of ``commit_ids`` (None: any). ``heads`` are runs of heads, each largest first (checkpoints,
    versions): a run is read only while an entry waits, and only down to the oldest waiting entry, so a log whose
    newest commit key's checkpoint covers every version entry reads one head."""
    waiting = {e["seq"]: e for e in rows if e["action"] in SIGNED_AS_WRITTEN and type(e["seq"]) is int}
    for run in heads:
        for head in run:
            if not waiting or head.size < min(waiting):
                break
            if commit_ids is not None and head.keyid not in commit_ids:
                continue
            for seq in [s for s in waiting if s <= head.size and s not in head.left_pending]:
                del waiting[seq]
    return [{"seq": s, "action": e["action"], "subject": e["subject"]} for s, e in sorted(waiting.items())]
