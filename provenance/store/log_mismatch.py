"""Why a checkpoint checked strictly does not match the audit log: the words of ``prov audit verify``'s failure.

Split out of ``provenance.store.coverage`` (which decides *whether* a checkpoint matches): this module
only says what a mismatch means and what to do, without guessing which of two signed heads is the
honest one, and names a key the verifier pins that the store revokes as such (attack review 14, A14-4).
"""

from __future__ import annotations

from typing import Any

from provenance.store.checkpoints import Checkpoint, Keys


def mismatch(store: Any, cp: Checkpoint, entries: int, trusted: Keys, covered: Any, kept: str | None = None) -> str:
    """Why checkpoint ``cp`` (by a key checked strictly) does not match the log, without guessing.

    ``entries`` is the log's length; ``trusted`` the keys whose checkpoints cover the log;
    ``covered`` is ``coverage.coverage(store, trusted)`` (an ``AuditCoverage``). Two signed
    heads can disagree either way round: the log lost or changed entries and was signed
    again since (a rolled-back store; the older head is the honest one), or ``cp`` was
    signed over another log by a stolen key. When a trusted head that matches the log
    covers ``cp``'s entries, the message names it, so the reader can tell by who signed
    what and when; otherwise it says both readings. A key the verifier pins that this store
    revokes is named as such, with the revocation's audit entry, never as a key "not
    pinned" (attack review 14, A14-4). ``kept``: the file ``cp`` was kept in (``--checkpoint FILE``), named as
    such, with one more reading: a checkpoint names no store, so the state CI kept for another project under the
    same key reads as this log cut back (newcomer review 17, F5). Returns one line for a VerificationError.
    """
    where = store.objects.path(cp.object) if store.objects.exists(cp.object) else cp.object[:12]
    where = f"kept in {kept}" if kept is not None else where
    signer = f"signed by key {cp.keyid[:16]} at {cp.timestamp}"
    either = _readings(store, cp, trusted, covered.signed)
    if kept is not None:
        either += (
            f"; or {kept} is another store's log state (a checkpoint names no store: give the one kept for this store)"
        )
    if covered.signed >= cp.size and covered.by is not None:
        return (
            f"audit log is broken: checkpoint {where} ({signer}) disagrees with {covered.by}, which matches the "
            f"log: {either}"
        )
    if cp.size > entries:
        found = f"checkpoint {where} ({signer}) covers {cp.size} entries but the log has {entries}"
    else:
        found = f"the first {cp.size} entries are not the ones checkpoint {where} ({signer}) signed"
    return f"audit log is broken: {found}: {either}"


ROLLED_BACK = (
    "the log lost or changed entries it covered (a rolled-back store: restore the store from a copy you trust)"
)
UNPIN = "stop pinning it (PROV_SIGNERS, --signer, or a root without it)"


def _readings(store: Any, cp: Checkpoint, trusted: Keys, signed: int) -> str:
    """The two readings of a checkpoint that does not match the log, for :func:`_mismatch`."""
    key = f"key {cp.keyid[:16]}"
    if cp.keyid in trusted:
        return f"either {ROLLED_BACK}, or the checkpoint was signed over another log (is {key} stolen? revoke it)"
    seq = store.db.execute("select min(seq) from audit where action = 'key.revoke' and subject = ?", [cp.keyid])
    at = seq.fetchone()[0]
    row = store.db.execute("select 1 from keys where keyid = ? and revoked_at is not null", [cp.keyid]).fetchone()
    if at is None and row is None:  # a key of an earlier root, checked strictly (a kept file, say)
        return f"either {ROLLED_BACK}, or the checkpoint was signed over another log (is {key} stolen? revoke it)"
    if at is None:
        return (
            f"{key}, which you pin, is revoked in this store by its keys row alone (no audit entry says when): "
            f"either {ROLLED_BACK}, or {key} was stolen and signed another log ({UNPIN})"
        )
    pending = " (pending: under no signature you trust)" if at > signed else ""
    revoked = f"{key}, which you pin, is revoked in this store at audit entry {at}{pending}"
    if cp.size <= at:
        return (
            f"{revoked}, and the checkpoint covers no entry after it, so it still holds: {ROLLED_BACK}; "
            f"if {key} was stolen and signed another log, {UNPIN}"
        )
    return f"{revoked}: either {ROLLED_BACK}, or {key} was stolen and signed this after its revocation ({UNPIN})"
