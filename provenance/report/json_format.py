"""JSON: the report dict itself, with stable key order (schema: schemas/diff.schema.json)."""

from __future__ import annotations

import json
import math

from provenance.report.interface import Format, register


def _clean(value):
    """JSON has no NaN or infinity; a p-value that underflowed stays 0.0."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def render_json(report: dict) -> str:
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


register("diff", Format.JSON, render_json)
