"""JUnit XML for ``prov check``, the test-report format CI systems (Jenkins, GitLab, GitHub) display.

One test suite per check, one test case per policy rule: a blocking rule is a
``failure``, a rule that could not be evaluated an ``error``, both listing the records
they name; a passing rule carries its reason in ``system-out``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from provenance.escaping import visible
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.wording import record_text


def render_check(r: dict, medium: Medium = PLAIN) -> str:
    """JUnit XML: one test case per policy rule; a block is a failure, an error an error."""
    suite = ET.Element(
        "testsuite",
        name=visible(f"prov check {r['version']} --base {r['base']}"),
        tests=str(len(r["rules"])),
        failures=str(sum(x["status"] == "block" for x in r["rules"])),
        errors=str(sum(x["status"] == "error" for x in r["rules"])),
        timestamp=r["checked_at"],
    )
    for rule in r["rules"]:
        case = ET.SubElement(suite, "testcase", classname="prov.policy", name=rule["rule"])
        if rule["status"] in ("block", "error"):
            tag = "failure" if rule["status"] == "block" else "error"
            node = ET.SubElement(case, tag, message=visible(rule["reason"]), type=rule["rule"])
            node.text = "\n".join(visible(record_text(rec)) for rec in rule["records"])
        else:
            # a warning passes the test case and says so
            prefix = "WARNING: " if rule["status"] == "warn" else ""
            ET.SubElement(case, "system-out").text = prefix + visible(rule["reason"])
    root = ET.Element("testsuites", name="prov check")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


FORMATTER = Formatter(check=render_check)
