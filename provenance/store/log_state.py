"""The audit log's state as a release signs it: an RFC 9162 tree head, and whether a log extends it.

``{"treeSize", "rootHash", "headHash"}``: the size of the log, the root of the Merkle tree
of its entries (RFC 9162 §2.1, the tree ``provenance.store.checkpoints`` signs: leaf i is
entry i's canonical bytes) and the chain hash of entry ``treeSize``. Release attestations
carry one (``provenance.gate.release_history``) and a training job's release state keeps
the newest (``provenance.trust.releases``); :func:`require_consistent` checks an RFC 9162
§2.1.4 consistency proof between two of them, built from the store's own log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provenance import merkle
from provenance.errors import VerificationError
from provenance.store import audit
from provenance.store.checkpoints import Checkpoint, leaves

ROLLBACK_HINT = (
    "a store rolled back to an older state (which can undo a key revocation); restore the store from a copy "
    "you trust, or revoke with a new root, which lives outside .prov/"
)


@dataclass(frozen=True)
class LogState:
    """The audit log's state as a release signed it: ``size`` entries, RFC 9162 root ``root``
    and chain hash ``head`` of entry ``size`` (hex; the empty log's is ``audit.GENESIS``)."""

    size: int
    root: str
    head: str

    def to_dict(self) -> dict[str, Any]:
        """``{"treeSize", "rootHash", "headHash"}`` (the attestation's ``auditLog``, the release state's)."""
        return {"treeSize": self.size, "rootHash": self.root, "headHash": self.head}

    @classmethod
    def from_dict(cls, value: object, where: str, error: type[Exception] = VerificationError) -> LogState | None:
        """The state in ``value`` (None when ``value`` is None: written before releases carried one).

        Raises ``error`` naming ``where`` for anything else that is not ``to_dict``'s shape.
        """
        if value is None:
            return None
        fields = [value.get(k) for k in ("treeSize", "rootHash", "headHash")] if isinstance(value, dict) else []
        if not (len(fields) == 3 and type(fields[0]) is int and fields[0] >= 0 and all(map(_is_hex, fields[1:]))):
            raise error(f"{where}: malformed auditLog (needs treeSize >= 0, rootHash and headHash, 64 hex digits)")
        return cls(fields[0], str(fields[1]), str(fields[2]))

    def as_checkpoint(self, timestamp: str, keyid: str, object_id: str) -> Checkpoint:
        """This state as a signed tree head ``prov audit verify --checkpoint`` checks the log against."""
        return Checkpoint(self.size, self.root, self.head, timestamp, keyid, object_id)


def current(store: Any) -> LogState:
    """The state of the store's whole audit log now."""
    _, hashes = leaves(store.db)
    return LogState(len(hashes), merkle.merkle_root(hashes).hex(), audit.head(store.db)[1])


def require_extends(
    store: Any, state: LogState, where: str, log: tuple[Sequence[dict], Sequence[bytes]] | None = None
) -> None:
    """Refuse unless the store's audit log extends ``state``: at least ``state.size`` entries whose
    RFC 9162 root and last chain hash are the signed ones. Raises VerificationError naming ``where``.

    ``log``: the log's ``(rows, leaf hashes)`` as ``checkpoints.leaves`` read them for this same decision (one
    read for many states, ``release_history.require_extends_attested``); default read now."""
    rows, hashes = log if log is not None else leaves(store.db)
    if state.size == 0:
        return
    if state.size > len(rows):
        lost = f"has {len(rows)} entries, {state.size - len(rows)} fewer than"
    elif merkle.prefix_roots(hashes, {state.size})[state.size].hex() != state.root:
        lost = "is not an extension of"
    elif rows[state.size - 1]["hash"] != state.head:
        lost = "is not an extension of"
    else:
        return
    raise VerificationError(
        f"{where}: the store's audit log {lost} the log state it signed ({state.size} entries, root "
        f"{state.root[:16]}): entries were removed or rewritten since; {ROLLBACK_HINT}"
    )


def require_consistent(store: Any, older: LogState, newer: LogState, where: str, older_name: str) -> None:
    """Refuse unless ``newer`` extends ``older``: an RFC 9162 §2.1.4 consistency proof from the
    older tree head to the newer, built from the store's log (which must extend ``newer``).

    ``older_name`` names where ``older`` came from (``release 3 (v2), accepted by this job``).
    Raises VerificationError.
    """
    if newer.size < older.size:
        raise VerificationError(
            f"{where}: signed an audit log of {newer.size} entries, but the one of {older_name} had {older.size}: "
            f"the log lost entries between the two releases; {ROLLBACK_HINT}"
        )
    require_extends(store, newer, where)
    _, hashes = leaves(store.db)
    if not proves_extension(hashes, older, newer):
        raise VerificationError(
            f"{where}: no RFC 9162 consistency proof from the audit log of {older_name} ({older.size} entries) "
            f"to this one's ({newer.size}): entries were removed or rewritten between the two releases; {ROLLBACK_HINT}"
        )


def proves_extension(hashes: Sequence[bytes], older: LogState | Checkpoint, newer: LogState | Checkpoint) -> bool:
    """Whether an RFC 9162 §2.1.4 consistency proof, built from the log's leaf ``hashes`` (at
    least ``newer.size`` of them), shows the tree head ``older`` is a prefix of ``newer``."""
    proof = merkle.consistency_proof(hashes[: newer.size], older.size)
    return merkle.verify_consistency(
        older.size, newer.size, bytes.fromhex(older.root), bytes.fromhex(newer.root), proof
    )


def _is_hex(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
