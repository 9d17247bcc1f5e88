"""The audit-coverage line every report prints: how much of the audit log a trusted signature
covers, and what the pending entries are (``store.coverage.AuditCoverage.to_dict()``)."""

from __future__ import annotations

# what a pending entry is, in words (singular, plural); other actions are named as logged
_PENDING_WORDS = {
    "detect": ("detector run", "detector runs"),
    "check": ("check run", "check runs"),
    "waiver": ("waiver", "waivers"),
    "batch.add": ("batch added", "batches added"),
    "batch.withdraw": ("batch withdrawn", "batches withdrawn"),
    "trust.add": ("trust entry", "trust entries"),
    "trust.revoke": ("trust revocation", "trust revocations"),
    "key.register": ("key registered", "keys registered"),
    "key.revoke": ("key revoked", "keys revoked"),
    "quarantine.rows": ("kept quarantine rows", "kept quarantine rows"),
}


_OWN_RUNS = ("detect", "check")  # the user's own diff --detect and check runs: nothing relies on them


def _pending_kinds(pending: list[dict]) -> str:
    """``"2 detector runs, 1 waiver"``: the pending entries by action, most first."""
    counts: dict[str, int] = {}
    for e in pending:
        counts[e["action"]] = counts.get(e["action"], 0) + 1
    words = []
    for action, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        one, many = _PENDING_WORDS.get(action, (f"{action} entry", f"{action} entries"))
        words.append(f"{n} {one if n == 1 else many}")
    return ", ".join(words)


def audit_line(cov: dict) -> str:
    """One line for people from ``AuditCoverage.to_dict()``, naming what is pending, e.g.
    ``audit log: 2 detector runs since checkpoint 3f2a… (unsigned; nothing relies on them)`` when
    every pending entry is a detector or check run (the user's own ``diff --detect`` and ``check``:
    newcomer review 9, finding 7; ``audit log: 1 check run, 1 detector run since ...``), else ``audit log: 2 of 9 entries pending after checkpoint
    3f2a… (1 waiver, 1 batch added; not relied on until a checkpoint or version signs them)``.

    A log a trusted checkpoint says lost or changed entries (``broken``) is said to be broken first,
    never "all entries signed" (attack review 14, A14-1)."""
    n, pending = cov["entries"], cov["pending"]
    keys_note = "" if cov["pinned"] else "; signatures checked only against keys found in the store"
    if cov.get("broken"):
        return f"audit log: BROKEN: {cov['broken']}; rely on nothing in it until prov audit verify passes{keys_note}"
    if not pending:
        return f"audit log: all {n} entries signed ({cov['by'] or 'empty log'}){keys_note}"
    if cov["by"] and all(e["action"] in _OWN_RUNS for e in pending):
        them = "it" if len(pending) == 1 else "them"
        return f"audit log: {_pending_kinds(pending)} since {cov['by']} (unsigned; nothing relies on {them}){keys_note}"
    # a version entry at or below the signed head that no commit key's head vouches for (A27d-4, session 28) is
    # pending too, but not "after" that head
    unvouched = [e for e in pending if e["seq"] <= cov.get("signed", 0)]
    after = [e for e in pending if e["seq"] > cov.get("signed", 0)]
    parts = []
    if unvouched:
        parts.append(f"{_pending_kinds(unvouched)} under {cov['by']} that no commit key vouches for")
    if after:
        where = f"after {cov['by']}" if cov["by"] else "nothing in the log is signed"
        parts.append(f"{where}: {_pending_kinds(after)}")
    return (
        f"audit log: {len(pending)} of {n} entries pending ({'; '.join(parts)}; "
        f"not relied on until a checkpoint or version signs them){keys_note}"
    )
