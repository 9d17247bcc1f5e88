"""``prov check --checkpoint FILE``: the audit log must hold every log state kept outside the store.

A ``.prov/`` writer who deletes a committed version entirely (its ``versions`` row, its ``commit`` entry,
the last of the log then, the checkpoints over it and its per-version rows) leaves a log in which it was
never committed: the store alone cannot tell (the rollback class). A blocked delivery deleted so is then
released by a check over the versions committed after it (attack review 16, F1). A log state signed when
it was committed and kept where the ``.prov/`` writer cannot reach it (``prov commit --checkpoint-out
FILE``, a CI artifact) shows the entries the log held then: the store's log must reproduce it with its
first ``treeSize`` entries (RFC 9162 §2.1 root and the chain hash of the last one), as ``prov audit verify
--checkpoint`` checks it.

:func:`read_kept_states` reads the files before anything is evaluated (``gate.attestation_verify
.kept_log_head``: a checkpoint signed by a key the verifier pins, or a release attestation signed by the
pinned ``attest`` role); :class:`KeptLogStates` is the rule the gate evaluates first, on the check's
snapshot of the store, named ``integrity.kept_log_state``. It is no policy setting: a state given on the
command line is always checked, whatever the policy turns off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.gate.base import Rule
from provenance.gate.results import RuleResult
from provenance.gate.rules import VERIFIES
from provenance.store import vouched
from provenance.store.checkpoints import Checkpoint, departure_from, leaves, trusted_keys
from provenance.trust.pins import pins_of

if TYPE_CHECKING:
    from provenance.gate.context import GateContext
    from provenance.store.store import Store

RULE = "integrity.kept_log_state"
ROLLED_BACK = (
    "either entries were deleted or rewritten since that state was signed (a commit rolled back, a blocked delivery "
    "erased), or it is another store's log state (a checkpoint names no store: give the one kept for this store)"
)
"""What a log that no longer holds a kept state means, as ``prov check`` and ``prov commit --checkpoint`` say it: both
readings, since a checkpoint signs a tree head and names no store, and the state CI kept for another project (a
maintainer key may sign for several) reads as this log cut back (newcomer review 17, F5). A release attestation
names its store, and one of another store is refused as that (``attestation_verify.kept_log_head``)."""


@dataclass(frozen=True)
class KeptState:
    """One log state file given to ``prov check --checkpoint``: its ``path`` and the signed tree ``head`` it
    carries (None for a release attestation of an empty log, which every log extends)."""

    path: str
    head: Checkpoint | None


def read_kept_states(store: Store, paths: Sequence[str]) -> list[KeptState]:
    """The log states in ``paths`` (checkpoint files, ``prov commit --checkpoint-out`` or ``prov audit checkpoint
    --out``, or release attestations), each signature checked against the keys the verifier pins (any
    pinned key's, as ``prov audit verify --checkpoint`` reads them: attack review 14, A14-4). They are remembered on
    ``store`` (``vouched.remember_kept``): one signed by a pinned commit key that fits the log vouches for the version
    entries it covers in the refusal of the signing writes, as in ``prov audit verify --checkpoint`` (A28a-2).

    Raises InputError (exit 2) naming the file when it is unreadable or no log state (a batch envelope, a
    waiver, ...), or inside the store's ``.prov/`` folder, itself, through a link, a bind mount or as a hard link
    to a file there (a ``.prov/`` writer could swap in an older state: attack review 18, F18-4); VerificationError (exit 1)
    naming it when its signature is by a key the verifier did not pin or does not verify (forged): a state
    nobody trusted vouches for nothing, and one given to be relied on that cannot be is a failed verification,
    not a state to skip.
    """
    from provenance.gate.attestation_verify import kept_log_head

    pins = pins_of(store)
    held = trusted_keys(store, pins.known_keys(store))
    states = [KeptState(path, kept_log_head(store, path, held)) for path in paths]
    vouched.remember_kept(store, states)  # a commit key's among them vouches in the signing writes' refusal (A28a-2)
    return states


def departure(store: Store, kept: KeptState) -> str | None:
    """Why the store's audit log does not hold ``kept`` (fewer entries than it signed, or first ``treeSize``
    entries whose RFC 9162 root or last chain hash differ), or None when it does."""
    if kept.head is None:
        return None
    rows, hashes = leaves(store.db)
    return departure_from(rows, hashes, kept.head, kept.path)


class KeptLogStates(Rule):
    """The store's audit log holds every log state kept outside it (``--checkpoint FILE``): the rule the gate
    evaluates before the policy's, so nothing else is judged on a log that lost entries."""

    key = RULE

    def __init__(self, kept: Sequence[KeptState]):
        self.kept = list(kept)

    def check(self, ctx: GateContext) -> RuleResult:
        """Block naming the first kept file the log does not hold and its entry count, else pass naming them."""
        statistic = {
            "kept": [
                {"path": k.path, "treeSize": k.head.size if k.head is not None else 0, "keyid": _keyid(k)}
                for k in self.kept
            ],
            "entries": len(leaves(ctx.store.db)[0]),
        }
        for kept in self.kept:
            why = departure(ctx.store, kept)
            if why is not None:
                reason = f"{why}: {ROLLED_BACK}, so which versions were committed cannot be relied on"
                records = [{"digest": "", "detail": f"{kept.path}: {why}"}]
                return RuleResult(self.key, "block", reason, records, 1, statistic, allowed=0, expected=VERIFIES)
        sizes = ", ".join(f"{k.path} ({k.head.size if k.head is not None else 0} entries)" for k in self.kept)
        return RuleResult(
            self.key,
            "pass",
            f"the audit log holds the log state kept in {sizes}",
            statistic=statistic,
            allowed=0,
            expected=VERIFIES,
        )


def _keyid(kept: KeptState) -> str | None:
    return kept.head.keyid if kept.head is not None else None
