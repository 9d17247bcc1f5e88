"""Is a stored detector run's findings object shaped as ``save_findings`` writes it?

The object is what ``.prov/`` says (``detectors.findings_trust``): its name is its SHA-256, so whoever can write
``.prov/`` can store any JSON under it. A run whose keys hold the wrong types (``"class_free": 5``, a finding without
its ``explanation``) stopped ``prov findings --recompute`` as prov's own crash (exit 3), and ``"class_free": "cat"``
read as the classes 'c', 'a', 't' (attack review 32c, A32c-4). A run that is not what a check or a diff stores is a
failed verification (exit 1) naming the run, as every other edit is. The keys checked are those
``schemas/findings.schema.json`` requires of a stored run, and those prov reads; checked by hand, in one pass over
the findings (10,000 records x 7 detectors in a 1% delta of 1 M), not by a schema validator per object.

Values are checked as prov writes them, not only their JSON types: Python's JSON reader takes ``NaN`` and
``Infinity``, and a run whose false-positive rate was NaN stopped ``prov findings`` as prov's own crash (exit 3),
one whose detector score was NaN passed ``--recompute`` (NaN differs from nothing by more than the tolerance), and
a record listed twice or a detector row twice passed it too (the re-run is compared by record); a detector name no
detector here has stopped ``--recompute`` as a usage error (exit 2). So scores are finite numbers in [0, 1], the
FPR one number strictly between 0 and 1, counts non-negative, each record (digest and label) and each detector
named once (fix33e); a recompute also needs every detector the run names to be one this prov has
(:func:`check_detectors_known`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from provenance.detectors.base import COMBINED
from provenance.errors import VerificationError

_DIGEST = re.compile(r"[0-9a-f]{64}")


def check_run_shape(document: Any, run: str, version: str) -> None:
    """Raise unless ``document`` (a findings object as JSON parsed it) has the stored run's shape: ``detectors`` a
    list of rows (``detector`` a name, each once; ``status`` a string; ``scored``
    and ``flagged`` counts, flagged at most scored; ``fpr`` one rate strictly between 0 and 1 on every row;
    ``threshold`` a finite number or null), ``findings`` a list of records (``digest`` hex, ``label`` a string or
    null, the pair once; ``flagged`` a bool, ``score`` a finite number in [0, 1], ``explanation`` a string,
    ``detectors`` a list of ``{"detector": str, "score": number in [0, 1], "flagged": bool}``, each detector once and
    named by a row), ``prov_version`` a string and ``class_free`` a list of strings when present.

    Raises:
        VerificationError: the first key that does not hold, naming ``run`` and ``version`` (exit 1).
    """
    problem = _problem(document)
    if problem:
        raise _not_stored_by_prov(problem, run, version)


def check_detectors_known(rows: list[dict], run: str, version: str) -> None:
    """Raise unless every detector the run's ``rows`` (its shape checked) name is one this prov has: built in,
    registered or a ``prov.detectors`` entry point. Only a recompute needs them: a run listed may be a plug-in's that
    this process has not registered (a library's ``register_detector``), and says what ``.prov/`` says.

    Raises:
        VerificationError: naming the first detector this prov does not have, ``run`` and ``version`` (exit 1; it was
            a usage error, exit 2, before: fix33e).
    """
    from provenance.detectors.registry import available_detectors

    unknown = sorted({row["detector"] for row in rows} - {*available_detectors(), COMBINED})
    if unknown:
        problem = (
            f"the detectors row {unknown[0]!r} names no detector this prov has (built in, registered or a "
            "prov.detectors entry point), so it cannot be recomputed"
        )
        raise _not_stored_by_prov(problem, run, version)


def _not_stored_by_prov(problem: str, run: str, version: str) -> VerificationError:
    return VerificationError(
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
    problem = _rows_problem(rows)
    if problem:
        return problem
    findings = document.get("findings")
    if not isinstance(findings, list):
        return "findings is not a list"
    named = {row["detector"] for row in rows} - {COMBINED}
    seen: dict[tuple[str, str | None], int] = {}
    for i, finding in enumerate(findings):
        problem = _finding_problem(finding, named)
        if problem:
            return f"finding {i}: {problem}"
        record = (finding["digest"], finding.get("label"))
        if record in seen:  # the re-run is compared by record: a copy of one would pass --recompute
            return f"finding {i}: record {record[0][:12]} label {record[1]!r} is listed again (finding {seen[record]})"
        seen[record] = i
    return ""


def _rows_problem(rows: list) -> str:
    """What in the run's detectors rows is not their stored shape; "" when it is."""
    names: set[str] = set()
    rates: set[float] = set()
    for row in rows:
        if not (
            isinstance(row, dict)
            and isinstance(row.get("detector"), str)
            and isinstance(row.get("status"), str)
            and _is_int(row.get("scored"))
            and _is_int(row.get("flagged"))
            and _is_json_number(row.get("fpr"))
        ):
            return f"the detectors row {_named(row)} lacks detector, status, scored, flagged or fpr"
        name = row["detector"]
        if name in names:
            return f"the detectors row {name!r} is listed twice"
        if not 0 <= row["flagged"] <= row["scored"]:
            return f"the detectors row {name!r} counts {row['flagged']} flagged of {row['scored']} scored"
        if not (_is_number(row["fpr"]) and 0 < row["fpr"] < 1):
            return f"the detectors row {name!r} has fpr {row['fpr']!r}, not a rate strictly between 0 and 1"
        if row.get("threshold") is not None and not _is_number(row["threshold"]):
            return f"the detectors row {name!r} has threshold {row['threshold']!r}, not a finite number"
        names.add(name)
        rates.add(row["fpr"])
    if len(rates) > 1:  # one run, one policy: every row is written with the run's fpr
        return f"the detectors rows disagree on fpr ({', '.join(map(repr, sorted(rates)))})"
    return ""


def _finding_problem(finding: Any, named: set[str]) -> str:
    """What in one finding is not its stored shape, ``named`` the detectors its rows name; "" when it is."""
    if not isinstance(finding, dict):
        return "not an object"
    digest = finding.get("digest")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        return "digest is not 64 hex digits"
    label = finding.get("label")
    if label is not None and not isinstance(label, str):
        return "label is not a string"
    if not isinstance(finding.get("flagged"), bool) or not _is_json_number(finding.get("score")):
        return "flagged or score missing or mistyped"
    if not _is_score(finding["score"]):
        return f"score {finding['score']!r} is not a number in [0, 1]"
    if not isinstance(finding.get("explanation"), str):
        return "explanation missing or not a string"
    entries = finding.get("detectors")
    if not isinstance(entries, list):
        return "detectors is not a list"
    entered: set[str] = set()
    for entry in entries:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("detector"), str)
            and isinstance(entry.get("flagged"), bool)
            and _is_json_number(entry.get("score"))
        ):
            return "a detector entry lacks detector, score or flagged"
        name = entry["detector"]
        if not _is_score(entry["score"]):
            return f"the {name!r} entry's score {entry['score']!r} is not a number in [0, 1]"
        if name not in named or name in entered:
            return f"the {name!r} entry is {'listed twice' if name in entered else 'of no detectors row'}"
        entered.add(name)
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_json_number(value: Any) -> bool:
    """A JSON number as Python reads it: NaN and Infinity included (prov never writes them: :func:`_is_number`)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite number."""
    if not _is_json_number(value):
        return False
    return isinstance(value, int) or math.isfinite(value)  # an int past float's range is finite, and isfinite raises


def _is_score(value: int | float) -> bool:
    """A finite number in [0, 1] (NaN compares false)."""
    return 0 <= value <= 1


def _named(row: Any) -> str:
    name = row.get("detector") if isinstance(row, dict) else None
    return repr(name) if isinstance(name, str) else "(unnamed)"
