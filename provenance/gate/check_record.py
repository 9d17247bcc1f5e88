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

import re
import shlex
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


RULE_SECTIONS = frozenset({"integrity", "lineage", "removals", "copies", "relabels", "class_mix", "detectors"})
"""The sections of the gate's rule keys (``section.key``: ``gate.policy.SETTINGS`` but ``attestation``, which
names no rule); ``policy`` is the one key without a section (an empty policy). Written out: ``prov log`` does
not import the rules (~0.8 s)."""

_RULE_KEY = re.compile(r"[a-z_]+\.[A-Za-z0-9_.-]{1,64}")
BASE_SHOWN = 40
"""Characters of a recorded base a line prints at most (a version name is up to 128)."""


def is_rule_key(name: object) -> bool:
    """Whether ``name`` can be the key of a gate rule: ``policy``, or ``section.key`` with a section of
    :data:`RULE_SECTIONS` and a key of letters, digits, ``_``, ``.`` and ``-`` (a detector's name), no space."""
    if name == "policy":
        return True
    return isinstance(name, str) and bool(_RULE_KEY.fullmatch(name)) and name.split(".", 1)[0] in RULE_SECTIONS


def last_checks(store: Store) -> dict[str, dict[str, Any]]:
    """Version tag -> the last well-formed ``check`` entry of the audit log naming it.

    Each is ``{"decision": "pass" | "warned" | "blocked" | "error", "base": tag, "blocking": [rule names],
    "checked_at": ISO 8601 UTC (the entry's time), "audit_seq": int, "trust_decision": False}``:
    read from the writable log, unverified, so ``trust_decision`` is always false. An entry is skipped when
    its detail is not of that shape (planted, or from another tool), its base is not another version of the
    store, a blocking name is no gate rule key (:func:`is_rule_key`), or it does not chain: its hash is not its
    own or it does not follow the entry before it (attack review 32b, A32b-1: a planted base printed a release
    line's words). Only each check entry's own link is checked, not the whole chain (``prov audit verify``
    does that): walking a log of 20,000 entries took 0.45 s (load 7.6, 2 cores), too much for ``prov log``.
    """
    import hashlib

    from provenance.store.audit import GENESIS, detail_json, entry_bytes

    tags = {tag for (tag,) in store.db.execute("select tag from versions")}
    rows = store.db.execute(
        "select a.seq, a.ts, a.subject, a.detail, a.prev_hash, a.hash, p.hash from audit a "
        "left join audit p on p.seq = a.seq - 1 where a.action = ? order by a.seq",
        [ACTION],
    )
    out: dict[str, dict[str, Any]] = {}
    for seq, ts, subject, detail, prev_hash, entry_hash, before in rows:
        entry = {"seq": seq, "ts": ts, "action": ACTION, "subject": subject, "detail": detail, "prev_hash": prev_hash}
        try:
            facts = detail_json(detail)
            chained = hashlib.sha256(entry_bytes(entry)).hexdigest() == entry_hash
        except (TypeError, ValueError):
            continue
        if not chained or prev_hash != (GENESIS if seq == 1 else before):
            continue
        if not isinstance(facts, dict) or not isinstance(subject, str):
            continue
        decision, base, blocking = facts.get("decision"), facts.get("base"), facts.get("blocking")
        if not (isinstance(decision, str) and isinstance(base, str) and isinstance(blocking, list)):
            continue
        if decision not in DECISION_WORDS or base not in tags or base == subject:
            continue
        if not all(is_rule_key(rule) for rule in blocking):
            continue
        out[subject] = {
            "decision": decision,
            "base": base,
            "blocking": list(blocking),
            "checked_at": ts if isinstance(ts, str) else None,
            "audit_seq": seq,
            "trust_decision": False,
        }
    return out


def last_check_line(item: dict[str, Any], full: bool = False) -> str:
    """One line for people from a :func:`last_checks` item, escaped: ``last check here: blocked against v1 (unsigned
    record in .prov)`` (``prov log``, under 80 columns for a base of up to 12 characters); with ``full`` (``prov
    show``) the rules that blocked and the time too: ``last check here: blocked by detectors.extreme against v1,
    2026-12-05 07:40 (unsigned record in .prov)``. The base is cut to :data:`BASE_SHOWN` characters and quoted as
    a shell word when it is not one already."""
    words = DECISION_WORDS[item["decision"]]
    when = ""
    if full:
        if item["blocking"]:
            rules = item["blocking"][:3] + ([f"{len(item['blocking']) - 3} more"] if len(item["blocking"]) > 3 else [])
            words += (" by " if item["decision"] == "blocked" else " in ") + ", ".join(rules)
        when = ", " + str(item["checked_at"] or "?")[:16].replace("T", " ")
    base = str(item["base"])
    base = shlex.quote(base if len(base) <= BASE_SHOWN else base[: BASE_SHOWN - 3] + "...")
    return visible(f"last check here: {words} against {base}{when} ({UNSIGNED})")
