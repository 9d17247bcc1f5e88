"""The last ``prov check`` run here of each version, as the store recorded it: for ``prov log`` and ``prov show``.

A maintainer reading ``prov log`` asks which versions were blocked, not only which were released
(newcomer review 31). A release is a signed attestation, verified under the pinned keys
(``version_releases``). A check that blocked signs nothing: what is left of it is an audit entry
(``check``) that ``prov check`` appends when it saves its findings, naming the base, the decision and
the rules that blocked. Whoever can write ``.prov/`` can write or remove such an entry, so it is shown
as what it is, "last check here: blocked ... (unsigned record in .prov)", never as a trusted fact, and
nothing that decides (check, verify, the gate) reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.escaping import visible

if TYPE_CHECKING:
    from provenance.gate.results import GateResult
    from provenance.store.store import Store

ACTION = "check"
"""The audit action ``prov check`` appends (subject: the candidate version's tag)."""

DECISION_WORDS = {
    "pass": "passed",
    "warned": "passed with warnings",
    "blocked": "blocked",
    "error": "could not be evaluated",
}
"""A recorded decision, in DESIGN.md's words: a check that ran *passed* or *blocked*; only a verified
release attestation makes a version *released*."""

UNSIGNED = "unsigned record in .prov"


def record_check(store: Store, result: GateResult) -> None:
    """Append a ``check`` audit entry for ``result`` to ``store`` (one write, under the store's lock).

    Its detail is ``{"base", "decision", "blocking": [rule names whose status is block or error],
    "policy": the policy's SHA-256 hex}``. Raises what ``Store.write`` raises (``StoreError``: exit 3).
    """
    blocking = [r.rule for r in result.rules if r.status in ("block", "error")]
    detail = {
        "base": result.base,
        "decision": result.decision,
        "blocking": blocking,
        "policy": result.policy.get("digest"),
    }
    with store.write():
        store.audit(ACTION, result.version, detail)


def last_checks(store: Store) -> dict[str, dict[str, Any]]:
    """Version tag -> the last well-formed ``check`` entry of the audit log naming it.

    Each is ``{"decision": "pass" | "warned" | "blocked" | "error", "base": tag, "blocking": [rule names],
    "checked_at": ISO 8601 UTC (the entry's time), "audit_seq": int, "trust_decision": False}``:
    read from the writable log, unverified, so ``trust_decision`` is always false. An entry whose detail
    is not of that shape (planted, or from another tool) is skipped.
    """
    from provenance.store.audit import detail_json

    rows = store.db.execute("select seq, ts, subject, detail from audit where action = ? order by seq", [ACTION])
    out: dict[str, dict[str, Any]] = {}
    for seq, ts, subject, detail in rows:
        try:
            facts = detail_json(detail)
        except (TypeError, ValueError):
            continue
        if not isinstance(facts, dict) or not isinstance(subject, str):
            continue
        decision, base, blocking = facts.get("decision"), facts.get("base"), facts.get("blocking")
        if decision not in DECISION_WORDS or not isinstance(base, str) or not isinstance(blocking, list):
            continue
        out[subject] = {
            "decision": decision,
            "base": base,
            "blocking": [str(rule) for rule in blocking],
            "checked_at": ts if isinstance(ts, str) else None,
            "audit_seq": seq,
            "trust_decision": False,
        }
    return out


def last_check_line(item: dict[str, Any], full: bool = False) -> str:
    """One line for people from a :func:`last_checks` item, escaped: ``last check here: blocked against v1 (unsigned
    record in .prov)`` (``prov log``, under 80 columns); with ``full`` (``prov show``) the rules that blocked and the
    time too: ``last check here: blocked by detectors.extreme against v1, 2026-12-05 07:40 (unsigned record in .prov)``."""
    words = DECISION_WORDS[item["decision"]]
    when = ""
    if full:
        if item["blocking"]:
            rules = item["blocking"][:3] + ([f"{len(item['blocking']) - 3} more"] if len(item["blocking"]) > 3 else [])
            words += (" by " if item["decision"] == "blocked" else " in ") + ", ".join(rules)
        when = ", " + str(item["checked_at"] or "?")[:16].replace("T", " ")
    return visible(f"last check here: {words} against {item['base']}{when} ({UNSIGNED})")
