"""JSON: the report dict itself, with stable key order (schemas/diff.schema.json, schemas/check.schema.json)."""

from __future__ import annotations

import json
import math
from typing import Any

from provenance.report.interface import PLAIN, Formatter, Medium


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity; a p-value that underflowed stays 0.0."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def render_diff(report: dict, medium: Medium = PLAIN) -> str:
    """The diff report as JSON (RFC 8259), keys sorted; NaN and infinity become null.

    The summary is indented; the listed records go out one compact object per line.
    """
    # Indented for the first levels only would need the slow pure-Python encoder; a large
    # diff lists thousands of records, so the records go out compact, one per line.
    changes = report.get("changes")
    if not changes:
        return json.dumps(_clean(report), indent=2, sort_keys=True) + "\n"
    head = json.dumps(_clean({k: v for k, v in report.items() if k != "changes"}), indent=2, sort_keys=True)
    parts = []
    for kind in sorted(changes):
        value = changes[kind]
        if isinstance(value, list):
            body = ",\n".join("      " + json.dumps(_clean(item), sort_keys=True) for item in value)
            parts.append(f'    "{kind}": [\n{body}\n    ]' if value else f'    "{kind}": []')
        else:
            parts.append(f'    "{kind}": {json.dumps(_clean(value), sort_keys=True)}')
    return head[:-2] + ',\n  "changes": {\n' + ",\n".join(parts) + "\n  }\n}\n"


def render_check(report: dict, medium: Medium = PLAIN) -> str:
    """The check report as JSON (RFC 8259), indented, keys sorted."""
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


FORMATTER = Formatter(diff=render_diff, check=render_check)
