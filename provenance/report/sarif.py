"""SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format) for ``prov check``.

Code-scanning tools (GitHub code scanning, GitLab, Azure DevOps) read it. The run leads
with the decision (``properties.decision`` and ``invocations``); then one result per
flagged record (level ``error`` only when a rule that blocked names it: ``record_level``),
whatever the number of detectors that flag it (``detectors.combined``, or ``detectors.extreme`` for a record that blocks alone), located at the data file the
candidate version was committed from and, for a table, the row (``region``, see
``region_of``), with the record's digest as a logical location and its row (digest and label) as
a fingerprint; then
one suppressed result per record a reviewer's waiver took out (``suppressions``, kind ``external``,
justified by the waiver's reason); then one result per rule that blocked, warned or could not run,
located at the version.
Reports name records by digest, label, source and locator, never by content.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from provenance import __version__
from provenance.escaping import visible
from provenance.names import short_digest
from provenance.report.flagged import flagged_records, same_row
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.verdict import check_decision
from provenance.report.wording import location_text, text_line

LEVEL = {"pass": "note", "warn": "warning", "block": "error", "error": "error"}
"""SARIF level of a rule's result: a warning (a shifted batch) is reported, not failed."""
FINGERPRINT = "recordRow/v1"
"""The partial fingerprint of a record's result: its row, digest and label (``row_fingerprint``)."""


def row_fingerprint(digest: str, label: str | None) -> str:
    """``DIGEST:LABEL`` (the digest alone for a record whose label a report does not carry): one digest
    under two labels is two rows, so a waived row and the row that still blocks are two alerts to a
    code-scanning tool that matches results by fingerprint (attack review 10b, S10b-1)."""
    return digest if label is None else f"{digest}:{label}"


def region_of(location: dict) -> dict | None:
    """A SARIF ``region`` for a record's location: the row's line in a text table (CSV: row + 2 for the
    header; JSON Lines: row + 1); None for a file of a tree or a binary table (Parquet), where a line means
    nothing and the file is the location."""
    row, path = location.get("row"), str(location.get("path", ""))
    line = text_line(path, int(row)) if row is not None else None
    return None if line is None else {"startLine": line}


def record_level(finding: dict, rule_id: str, rules: list[dict]) -> str:
    """A flagged record's SARIF level: ``error`` when the rule it is filed under blocked (it counts every
    flagged record it is about) or another rule that blocked names it; ``warning`` when a warning rule names
    it, or a rule that blocked lists only some of its records (``records_truncated``: it may name this one);
    else ``note``. A passing check wrote ``error`` for every flagged record, so a clean pull request showed
    error-level alerts under a rule that passed (newcomer review 11, finding 10)."""
    blocking = [rule for rule in rules if rule["status"] in ("block", "error")]
    if any(rule["rule"] == rule_id or same_row(finding, rule.get("records") or []) for rule in blocking):
        return "error"
    warned = [rule for rule in rules if rule["status"] == "warn" and same_row(finding, rule.get("records") or [])]
    return "warning" if warned or any(rule.get("records_truncated") for rule in blocking) else "note"


def _record_location(finding: dict, version: str) -> dict:
    where = finding.get("location")
    # a URI reference relative to the repository's root (where the store's folder usually is), percent-encoded
    uri = quote(str(where["path"]).replace("\\", "/")) if where else f"prov:{quote(version)}"
    physical: dict = {"artifactLocation": {"uri": uri}}
    if where and region_of(where):
        physical["region"] = region_of(where)
    return {
        "physicalLocation": physical,
        "logicalLocations": [
            {"name": finding["digest"], "kind": "object", "fullyQualifiedName": f"{version}/{finding['digest']}"}
        ],
    }


def waived_results(r: dict, known: set[str]) -> list[dict]:
    """One suppressed result per record a reviewer's honoured waiver took out of the detector rules
    (``waivers.honoured`` items with ``effect`` "waived"): the rule it would have blocked by, and a SARIF
    ``suppressions`` entry of kind ``external`` whose justification is the waiver's signed reason."""
    out = []
    for w in r.get("waivers", {}).get("honoured", []):
        if w.get("effect") != "waived":
            continue
        rule_id = w.get("rule") if w.get("rule") in known else "detectors.combined"
        label = w.get("label")
        text = (
            f"record {short_digest(w['digest'])} (label {'-' if label is None else label}, "
            f"{location_text(w.get('location'), w.get('locator'))}) waived for {w['detector']} by "
            f"{short_digest(w.get('reviewer') or '')} ({w['origin']})"
        )
        out.append(
            {
                "ruleId": rule_id,
                "level": "error",
                "message": {"text": visible(text)},
                "locations": [_record_location(w, r["version"])],
                "partialFingerprints": {FINGERPRINT: row_fingerprint(w["digest"], label)},
                "suppressions": [
                    {"kind": "external", "status": "accepted", "justification": visible(w.get("reason") or "")}
                ],
                "properties": {
                    "digest": w["digest"],
                    "label": None if label is None else visible(label),
                    "detector": w["detector"],
                    "waiver": visible(w["origin"]),
                },
            }
        )
    return out


def render_check(r: dict, medium: Medium = PLAIN) -> str:
    """SARIF 2.1.0: one result per flagged record (not per detector), one per rule that did not pass."""
    rules = [
        {
            "id": rule["rule"],
            "shortDescription": {"text": rule["rule"]},
            "fullDescription": {"text": visible(rule.get("expected") or rule["reason"])},
            "defaultConfiguration": {"level": LEVEL[rule["status"]]},
        }
        for rule in r["rules"]
    ]
    known = {rule["id"] for rule in rules}
    # by row (digest, label): one digest under two labels is two records to judge (S10b-1)
    findings = {(f["digest"], f.get("label")): f for f in r["findings"]}
    for rule in r["rules"]:  # a record that blocks alone though the combined verdict does not flag it
        if rule["rule"] == "detectors.extreme" and rule["status"] != "pass":
            for rec in rule["records"]:
                if not same_row(rec, list(findings.values())):
                    findings[(rec["digest"], rec.get("label"))] = rec
    results = []
    for record in flagged_records({"findings": list(findings.values()), "rules": r["rules"]}):
        finding = findings[(record.digest, record.label)]
        rule_id = "detectors.extreme" if record.extreme and "detectors.extreme" in known else "detectors.combined"
        where = location_text(finding.get("location"), record.locator)
        text = (
            f"record {short_digest(record.digest)} (label {record.label_text}, {record.source_text}, "
            f"{record.lineage_words}, {where}) {record.flagged_by}; score {record.score:.3f}; {record.headline}"
        )
        result = {
            "ruleId": rule_id,
            "level": record_level({"digest": record.digest, "label": record.label}, rule_id, r["rules"]),
            "message": {"text": visible(text)},
            "locations": [_record_location(finding, r["version"])],
            "partialFingerprints": {FINGERPRINT: row_fingerprint(record.digest, record.label)},
            "properties": {
                "digest": record.digest,
                "score": record.score,
                "label": None if record.label is None else visible(record.label),
                "source": None if record.source is None else visible(record.source),
                "lineage": record.lineage,
                "locator": None if record.locator is None else visible(record.locator),
                "detectors": list(record.detectors),
                "explanation": visible(record.explanation),
            },
        }
        results.append(result)
    results += waived_results(r, known)
    version = {"physicalLocation": {"artifactLocation": {"uri": f"prov:{r['version']}"}}}
    for rule in r["rules"]:
        if rule["status"] == "pass" or rule["rule"] in ("detectors.combined", "detectors.extreme"):
            continue  # the detector rules' records are the results above
        results.append(
            {
                "ruleId": rule["rule"],
                "level": LEVEL[rule["status"]],
                "message": {"text": visible(rule["reason"])},
                "locations": [version],
                "properties": {"records": [rec.get("digest") for rec in rule["records"]], "count": rule["count"]},
            }
        )
    decision = check_decision(r)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "prov",
                        "version": __version__,
                        "informationUri": "https://prov.dev",
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": r["decision"] != "error",
                        "exitCode": r["exit_code"],
                        "toolExecutionNotifications": [
                            {
                                "level": "note" if r["decision"] == "pass" else "error",
                                "message": {"text": visible(decision.sentence)},
                            }
                        ],
                    }
                ],
                "results": results,
                "properties": {
                    "decision": r["decision"],
                    "verdict": visible(decision.sentence),
                    "detection": visible(decision.detection) if decision.detection else None,
                    "base": r["base"],
                    "version": r["version"],
                    "policy": r["policy"],
                    "data": r.get("data"),
                },
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


FORMATTER = Formatter(check=render_check)
