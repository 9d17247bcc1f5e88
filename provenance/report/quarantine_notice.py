"""The notice a check of a ``prov quarantine --findings`` version carries: what such a cut leaves in."""

from __future__ import annotations

import shlex

from provenance.escaping import visible


def findings_cut_notice(version: str, quarantine: dict | None) -> str | None:
    """``"v5 is a quarantine of v4 that cut only the records flagged in F.json (60 removed): ..."``, or None.

    ``quarantine`` is ``version_show.quarantine_facts`` of ``version``'s signed predicate (None for a version no
    quarantine made). Only a ``--findings`` quarantine gets the notice: it removed the records the verdict
    flagged, so those it missed from the same delivery stay, and a passing check of it says nothing of them;
    cutting the source is the stronger option (newcomer review 30).
    """
    if not quarantine or quarantine.get("source") is not None or quarantine.get("findings") is None:
        return None
    parent = quarantine.get("from") or "V"
    return (
        f"{visible(version)} is a quarantine of {visible(parent)} that cut only the records flagged in "
        f"{visible(quarantine['findings'])} ({quarantine['removed']} removed): the records the verdict missed stay (this "
        "check judges them with the same detectors that missed them); the stronger option cuts the source that "
        f"delivered them: prov quarantine --from {shlex.quote(parent)} --source S --tag NEW --key K"
    )
