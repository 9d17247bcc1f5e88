"""SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format) for ``prov check``.

Code-scanning tools (GitHub code scanning, GitLab, Azure DevOps) read it: one result
per flagged finding and one per failed or erroring policy rule, each located at the
version (``prov:TAG``) and, for a record, its content digest as a logical location.
"""

from __future__ import annotations

import json

from provenance import __version__
from provenance.escaping import visible
from provenance.report.interface import PLAIN, Formatter, Medium

LEVEL = {"pass": "note", "warn": "warning", "block": "error", "error": "error"}
"""SARIF level of a rule's result: a warning (a shifted batch) is reported, not failed."""


def render_check(r: dict, medium: Medium = PLAIN) -> str:
    """SARIF 2.1.0: one result per flagged finding, and one per blocking or failed policy rule."""
    rules, results = [], []
    for rule in r["rules"]:
        rules.append(
            {
                "id": rule["rule"],
                "shortDescription": {"text": rule["rule"]},
                "fullDescription": {"text": visible(rule["reason"])},
                "defaultConfiguration": {"level": LEVEL[rule["status"]]},
            }
        )
    artifact = {"uri": f"prov:{r['version']}"}
    for f in r["findings"]:
        results.append(
            {
                "ruleId": f"detectors.{f['detector']}",
                "level": "error",
                "message": {
                    "text": visible(
                        f"record {f['digest'][:16]} flagged by {f['detector']} (score {f['score']:.3f}): {f['explanation']}"
                    )
                },
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": artifact},
                        "logicalLocations": [{"name": f["digest"], "kind": "object"}],
                    }
                ],
                "partialFingerprints": {"recordDigest/v1": f["digest"], "detector/v1": f["detector"]},
                "properties": {"score": f["score"], "digest": f["digest"]},
            }
        )
    for rule in r["rules"]:
        if rule["status"] == "pass" or rule["rule"].startswith("detectors.") and rule["status"] == "block":
            continue
        results.append(
            {
                "ruleId": rule["rule"],
                "level": LEVEL[rule["status"]],
                "message": {"text": visible(rule["reason"])},
                "locations": [{"physicalLocation": {"artifactLocation": artifact}}],
                "properties": {"records": [rec.get("digest") for rec in rule["records"]], "count": rule["count"]},
            }
        )
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
                "results": results,
                "invocations": [{"executionSuccessful": r["decision"] != "error", "exitCode": r["exit_code"]}],
                "properties": {
                    "decision": r["decision"],
                    "base": r["base"],
                    "version": r["version"],
                    "policy": r["policy"],
                },
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


FORMATTER = Formatter(check=render_check)
