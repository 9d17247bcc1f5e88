"""JUnit XML for ``prov check``, the test-report format CI systems (Jenkins, GitLab, GitHub) display.

One test suite per check. Its first test case is the decision itself (``prov.decision``):
a failure when the release is blocked, an error when it could not be evaluated, with the
verdict (including the detectors) as its message and the flagged records one line each
(grouped by record: "flagged by 3 detectors: ...") as its text, so a CI page leads with
what decided. Then one test case per policy rule: a blocking rule is a ``failure``, a rule
that could not be evaluated an ``error``, both listing the records they name; a passing
rule carries its reason and what it allows in ``system-out``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from provenance.escaping import visible
from provenance.report.flagged import flagged_records
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.verdict import check_decision
from provenance.report.wording import plural, record_text

LISTED = 20  # flagged records the decision lists before "and N more"


def _decision_case(suite: ET.Element, r: dict) -> None:
    d = check_decision(r)
    case = ET.SubElement(suite, "testcase", classname="prov", name="prov.decision")
    lines = [d.detection[0].upper() + d.detection[1:] + "." if d.detection else ""]
    records = flagged_records(r)
    for rec in records[:LISTED]:
        lines.append(
            f"{rec.digest[:12]} score {rec.score:.3f} label {rec.label_text} source {rec.source_text} "
            f"{rec.lineage_words} {rec.where}: {rec.flagged_by}; {rec.headline}"
        )
    if len(records) > LISTED:
        lines.append(f"and {plural(len(records) - LISTED, 'more flagged record')}")
    text = "\n".join(visible(line) for line in lines if line)
    if r["decision"] in ("blocked", "error"):
        tag = "failure" if r["decision"] == "blocked" else "error"
        ET.SubElement(case, tag, message=visible(d.sentence), type=r["decision"]).text = text
    else:
        ET.SubElement(case, "system-out").text = "\n".join(x for x in (visible(d.sentence), text) if x)


def render_check(r: dict, medium: Medium = PLAIN) -> str:
    """JUnit XML: the decision first, then one test case per policy rule; a block is a failure, an error an error."""
    suite = ET.Element(
        "testsuite",
        name=visible(f"prov check {r['version']} --base {r['base']}"),
        tests=str(len(r["rules"]) + 1),
        failures=str(sum(x["status"] == "block" for x in r["rules"]) + (r["decision"] == "blocked")),
        errors=str(sum(x["status"] == "error" for x in r["rules"]) + (r["decision"] == "error")),
        timestamp=r["checked_at"],
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("decision", r["decision"]), ("verdict", check_decision(r).sentence)):
        ET.SubElement(props, "property", name=name, value=visible(value))
    _decision_case(suite, r)
    for rule in r["rules"]:
        case = ET.SubElement(suite, "testcase", classname="prov.policy", name=rule["rule"])
        if rule["status"] in ("block", "error"):
            tag = "failure" if rule["status"] == "block" else "error"
            node = ET.SubElement(case, tag, message=visible(rule["reason"]), type=rule["rule"])
            node.text = "\n".join(visible(record_text(rec)) for rec in rule["records"])
        else:
            # a warning passes the test case and says so
            prefix = "WARNING: " if rule["status"] == "warn" else ""
            allows = f" (expected: {rule['expected']})" if rule.get("expected") else ""
            ET.SubElement(case, "system-out").text = prefix + visible(rule["reason"] + allows)
    root = ET.Element("testsuites", name="prov check")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


FORMATTER = Formatter(check=render_check)
