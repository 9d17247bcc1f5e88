"""Is a stored detector run's findings object shaped as ``save_findings`` writes it?

The object is what ``.prov/`` says (``detectors.findings_trust``): its name is its SHA-256, so whoever can write
``.prov/`` can store any JSON under it. A run whose keys hold the wrong types (``"class_free": 5``, a finding without
its ``explanation``) stopped ``prov findings --recompute`` as prov's own crash (exit 3), and ``"class_free": "cat"``
read as the classes 'c', 'a', 't' (attack review 32c, A32c-4). A run that is not what a check or a diff stores is a
failed verification (exit 1) naming the run, as every other edit is. The keys checked are those
``schemas/findings.schema.json`` requires of a stored run, and those prov reads; checked by hand, in one pass over
the findings (10,000 records x 7 detectors in a 1% delta of 1 M), not by a schema validator per object.
"""

from __future__ import annotations

import re
from typing import Any

from provenance.errors import VerificationError

_DIGEST = re.compile(r"[0-9a-f]{64}")


def check_run_shape(document: Any, run: str, version: str) -> None:
    """Raise unless ``document`` (a findings object as JSON parsed it) has the stored run's shape: ``detectors`` a
    list of rows (``detector``, ``status`` strings; ``scored``, ``flagged`` integers; ``fpr`` a number), ``findings`` a list of
    records (``digest`` hex, ``label`` a string or null, ``flagged`` a bool, ``score`` a number, ``explanation`` a
    string, ``detectors`` a list of ``{"detector": str, "score": number, "flagged": bool}``), ``prov_version`` a
    string and ``class_free`` a list of strings when present.

    Raises:
        VerificationError: the first key that does not hold, naming ``run`` and ``version`` (exit 1).
    """
    problem = _problem(document)
    if problem:
        raise VerificationError(
            f"findings of run {run} on {version}: the stored run is not what prov stores ({problem}); it is not what "
            "the detectors say: look for who wrote .prov/"
        )


def _problem(document: Any) -> str:
    """The first thing in ``document`` that is not the stored run's shape, described; "" when none."""
    if not isinstance(document, dict):
        return "not a JSON object"
    if "prov_version" in document and not isinstance(document["prov_version"], str):
        return "prov_version is not a string"
    class_free = document.get("class_free", [])
    if not isinstance(class_free, list) or not all(isinstance(c, str) for c in class_free):
        return "class_free is not a list of class names"
    rows = document.get("detectors")
    if not isinstance(rows, list):
        return "detectors is not a list"
    for row in rows:
        if not (
            isinstance(row, dict)
            and isinstance(row.get("detector"), str)
            and isinstance(row.get("status"), str)
            and _is_int(row.get("scored"))
            and _is_int(row.get("flagged"))
            and _is_number(row.get("fpr"))
        ):
            return f"the detectors row {_named(row)} lacks detector, status, scored, flagged or fpr"
    findings = document.get("findings")
    if not isinstance(findings, list):
        return "findings is not a list"
    for i, finding in enumerate(findings):
        problem = _finding_problem(finding)
        if problem:
            return f"finding {i}: {problem}"
    return ""


def _finding_problem(finding: Any) -> str:
    """What in one finding is not its stored shape; "" when it is."""
    if not isinstance(finding, dict):
        return "not an object"
    digest = finding.get("digest")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        return "digest is not 64 hex digits"
    label = finding.get("label")
    if label is not None and not isinstance(label, str):
        return "label is not a string"
    if not isinstance(finding.get("flagged"), bool) or not _is_number(finding.get("score")):
        return "flagged or score missing or mistyped"
    if not isinstance(finding.get("explanation"), str):
        return "explanation missing or not a string"
    entries = finding.get("detectors")
    if not isinstance(entries, list):
        return "detectors is not a list"
    for entry in entries:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("detector"), str)
            and isinstance(entry.get("flagged"), bool)
            and _is_number(entry.get("score"))
        ):
            return "a detector entry lacks detector, score or flagged"
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _named(row: Any) -> str:
    name = row.get("detector") if isinstance(row, dict) else None
    return repr(name) if isinstance(name, str) else "(unnamed)"
