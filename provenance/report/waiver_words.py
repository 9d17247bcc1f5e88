"""How a check report words its waivers: the ones it honoured and the records they waived, the ones it
ignored and why, and flagged records a reviewer waived on another version (``gate/waivers.py`` decides;
this only says it). Used by the text and Markdown formats."""

from __future__ import annotations

import shlex

from provenance.names import short_digest
from provenance.report.wording import plural


def waived_elsewhere_text(findings: list[dict], version: str) -> str | None:
    """The line for flagged records a reviewer waived on another version (``waived_on``; newcomer review 12,
    finding 11: waived on txt-v3, flagged again on the txt-v4 cut from it, with no word), or None. The command's
    version is quoted for the shell (a tag may be ``v3x;touch${IFS}PWNED;#``: attack review 16, F4)."""
    marked = [f for f in findings if f.get("waived_on")]
    if not marked:
        return None
    tags = ", ".join(sorted({t for f in marked for t in f["waived_on"]}))
    return (
        f"{plural(len(marked), 'flagged record')} waived on {tags} (not this version): a waiver counts only for "
        f"the version it names; if still accepted, waive again on {version} (prov waive DIGEST --version {shlex.quote(version)} "
        "--detector combined --reason R --key K)"
    )


WAIVED_NAMED = 10  # waived records the Waivers line names before "and N more"


def waivers_text(honoured: list[dict]) -> str:
    """The line a check report gives its honoured waivers, naming the records they waived:
    ``"Waivers: 2 flagged records waived by 3 honoured waivers (cec8c79e1df0, 0dde430cd3ae); 1 of
    them waived nothing"`` (newcomer review 9, finding 4: it named none).

    The records count is the waivers whose ``effect`` is "waived": each waived record once,
    however many waivers name it (``provenance.gate.waivers.with_effects``, the README's
    definition); the JSON's ``waivers.honoured`` holds the same effects. When the detectors
    did not run (no ``effect``) only the waivers are counted. Empty for no honoured waiver.
    """
    if not honoured:
        return ""
    waivers = plural(len(honoured), "honoured waiver")
    effects = [w.get("effect") for w in honoured]
    if all(e is None for e in effects):
        return f"Waivers: {waivers}; the detectors did not run, so none waived a record"
    took = effects.count("waived")
    idle = len(effects) - took
    waived = [short_digest(str(w["digest"])) for w in honoured if w.get("effect") == "waived"]
    named = ", ".join(waived[:WAIVED_NAMED]) + (
        f" and {len(waived) - WAIVED_NAMED} more" if len(waived) > WAIVED_NAMED else ""
    )
    return (
        f"Waivers: {plural(took, 'flagged record')} waived by {waivers}"
        + (f" ({named})" if named else "")
        + (f"; {idle} of them waived nothing" if idle else "")
    )


def ignored_waivers_text(ignored: list[dict]) -> str:
    """The headline's line for waivers a check did not honour, by the key that signed them: ``"4 waivers
    ignored (key 26db48c8544a8e54: 4); each says why at the end"`` ("" for none). A reviewer's waivers
    signed with a key CI does not pin were said only at the bottom of a blocked report (closing note 11)."""
    if not ignored:
        return ""
    keys: dict[str, int] = {}
    for w in ignored:
        key = str(w.get("reviewer") or "unknown")[:16]
        keys[key] = keys.get(key, 0) + 1
    by = ", ".join(f"{'key ' + k if k != 'unknown' else 'no readable key'}: {n}" for k, n in keys.items())
    return f"{plural(len(ignored), 'waiver')} ignored ({by}); each says why at the end"


def idle_waiver_text(waiver: dict) -> str:
    """Why one honoured waiver waived nothing: ``"stored waiver 2615404fa8ff (knn_label, record
    0dde430cd3ae) waived nothing: record 0dde430cd3ae was already waived by stored waiver 2ab840b3a186"``."""
    what = f"{waiver['detector']}, record {str(waiver['digest'])[:12]}"
    return f"{waiver['origin']} ({what}) waived nothing: {waiver['why']}"
