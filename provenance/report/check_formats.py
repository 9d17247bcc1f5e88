"""Renderers of the release gate's report: text, json, md, sarif (2.1.0) and junit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from provenance import __version__
from provenance.report.interface import Format, register

_ICON = {"pass": "PASS", "block": "BLOCK", "error": "ERROR"}
_VERDICT = {"pass": "passed", "blocked": "BLOCKED", "error": "could not be evaluated (fails closed)"}


def _headline(r: dict) -> str:
    return f"prov check {r['version']} --base {r['base']}: {_VERDICT[r['decision']]} (policy {r['policy']['path'] or 'default'}, {r['policy']['digest'][:12]})"


def _record_text(rec: dict) -> str:
    parts = [rec.get("digest", "")[:16]]
    for key in ("label", "source", "detector"):
        if rec.get(key):
            parts.append(f"{key} {rec[key]}")
    if rec.get("signed_label"):
        parts.append(f"signed as {rec['signed_label']}")
    if rec.get("score") is not None:
        parts.append(f"score {rec['score']:.3f}")
    if rec.get("explanation"):
        parts.append(rec["explanation"])
    if rec.get("detail"):
        parts.append(rec["detail"])
    return " ".join(p for p in parts if p)


def render_text(r: dict) -> str:
    lines = [_headline(r)]
    order = {"error": 0, "block": 1, "pass": 2}
    for rule in sorted(r["rules"], key=lambda x: order[x["status"]]):
        lines.append(f"  [{_ICON[rule['status']]:<5}] {rule['rule']}: {rule['reason']}")
        for rec in rule["records"][:10]:
            lines.append(f"           {_record_text(rec)}")
        if rule["count"] > 10 and rule["status"] != "pass":
            lines.append(f"           ... {rule['count'] - min(10, len(rule['records']))} more")
    for w in r["waivers"]["ignored"]:
        lines.append(f"  waiver ignored ({w['origin']}): {w['why']}")
    if r["waivers"]["honoured"]:
        lines.append(f"  {len(r['waivers']['honoured'])} reviewed waiver(s) honoured")
    if r.get("attestation"):
        lines.append(f"  attestation written: {r['attestation']}")
    return "\n".join(lines) + "\n"


def render_json(r: dict) -> str:
    return json.dumps(r, indent=2, sort_keys=True) + "\n"


def render_markdown(r: dict) -> str:
    icon = {"pass": "✅", "blocked": "⛔", "error": "⚠️"}[r["decision"]]
    lines = [f"### {icon} {_headline(r)}", "", "| rule | result | reason |", "|---|---|---|"]
    for rule in r["rules"]:
        reason = rule["reason"].replace("|", "\\|")
        lines.append(f"| `{rule['rule']}` | {_ICON[rule['status']]} | {reason} |")
    blocking = [x for x in r["rules"] if x["status"] != "pass" and x["records"]]
    for rule in blocking:
        lines += ["", f"<details><summary>{rule['rule']}: {rule['count']} record(s)</summary>", ""]
        lines += [f"- `{_record_text(rec)}`" for rec in rule["records"]]
        lines += ["", "</details>"]
    if r["waivers"]["ignored"]:
        lines += ["", "**Ignored waivers**", ""] + [f"- {w['origin']}: {w['why']}" for w in r["waivers"]["ignored"]]
    return "\n".join(lines) + "\n"


def render_sarif(r: dict) -> str:
    """SARIF 2.1.0: one result per flagged finding, and one per blocking or failed policy rule."""
    rules, results = [], []
    for rule in r["rules"]:
        rules.append(
            {
                "id": rule["rule"],
                "shortDescription": {"text": rule["rule"]},
                "fullDescription": {"text": rule["reason"]},
                "defaultConfiguration": {"level": "error" if rule["status"] != "pass" else "note"},
            }
        )
    artifact = {"uri": f"prov:{r['version']}"}
    for f in r["findings"]:
        results.append(
            {
                "ruleId": f"detectors.{f['detector']}",
                "level": "error",
                "message": {
                    "text": f"record {f['digest'][:16]} flagged by {f['detector']} (score {f['score']:.3f}): {f['explanation']}"
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
                "level": "error",
                "message": {"text": rule["reason"]},
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


def render_junit(r: dict) -> str:
    """JUnit XML: one test case per policy rule; a block is a failure, an error an error."""
    suite = ET.Element(
        "testsuite",
        name=f"prov check {r['version']} --base {r['base']}",
        tests=str(len(r["rules"])),
        failures=str(sum(x["status"] == "block" for x in r["rules"])),
        errors=str(sum(x["status"] == "error" for x in r["rules"])),
        timestamp=r["checked_at"],
    )
    for rule in r["rules"]:
        case = ET.SubElement(suite, "testcase", classname="prov.policy", name=rule["rule"])
        if rule["status"] != "pass":
            tag = "failure" if rule["status"] == "block" else "error"
            node = ET.SubElement(case, tag, message=rule["reason"], type=rule["rule"])
            node.text = "\n".join(_record_text(rec) for rec in rule["records"])
        else:
            ET.SubElement(case, "system-out").text = rule["reason"]
    root = ET.Element("testsuites", name="prov check")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


for _fmt, _fn in (
    (Format.TEXT, render_text),
    (Format.JSON, render_json),
    (Format.MD, render_markdown),
    (Format.SARIF, render_sarif),
    (Format.JUNIT, render_junit),
):
    register("check", _fmt, _fn)
