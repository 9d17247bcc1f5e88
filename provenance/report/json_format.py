"""JSON: the report dict itself, with stable key order (schemas/diff.schema.json, schemas/check.schema.json)."""

from __future__ import annotations

import json
import math
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
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


# ``json.dumps(item, sort_keys=True)``'s encoder, made once: ``dumps`` builds a new one per call
# when given options (a report lists thousands of records)
_SORTED = json.JSONEncoder(sort_keys=True)
# its C encoder, made once too: ``JSONEncoder.encode`` makes a new one (and its float formatter) per
# record, ~2 us each; 3,108 flagged findings and 2,000 listed records in a 1% delta of 1 M (perf34).
# No circular-reference check (a report is built from data, never circular); None where the C
# accelerator is absent: ``_SORTED.encode`` then, the same bytes.
_SORTED_C = (
    c_make_encoder(None, _SORTED.default, encode_basestring_ascii, None, ": ", ", ", True, False, True)
    if c_make_encoder is not None
    else None
)


def _encode_sorted(item: Any) -> str:
    """``_SORTED.encode(item)``: the same text (tested), from the encoder made once."""
    if _SORTED_C is None or isinstance(item, str):
        return _SORTED.encode(item)
    return "".join(_SORTED_C(item, 0))


def _compact(item: Any) -> str:
    """One record as compact JSON, keys sorted; ``_clean`` (a walk of every value) only when its
    JSON holds NaN or infinity (or a string that says so: cleaning it changes nothing)."""
    text = _encode_sorted(item)
    if "NaN" in text or "Infinity" in text:
        text = _encode_sorted(_clean(item))
    return text


def _lines(items: list, indent: str) -> str:
    """A list of records, one compact JSON object per line."""
    if not items:
        return "[]"
    body = ",\n".join(indent + "  " + _compact(item) for item in items)
    return f"[\n{body}\n{indent}]"


def render_diff(report: dict, medium: Medium = PLAIN) -> str:
    """The diff report as JSON (RFC 8259), keys sorted; NaN and infinity become null.

    The summary is indented; the listed records (``changes``) and the detector findings
    (``findings``: the flagged records, or every scored one with ``--all``) go out one compact
    object per line, at the end.
    """
    # Indenting needs Python's pure-Python encoder (~0.1 ms per finding); a large delta has
    # thousands of records and findings, so those go out compact (the C encoder), one per line.
    changes = report.get("changes")
    findings = report.get("findings") or None
    if not changes and not findings:
        return json.dumps(_clean(report), indent=2, sort_keys=True) + "\n"
    compact = [k for k, v in (("changes", changes), ("findings", findings)) if v]
    head = json.dumps(_clean({k: v for k, v in report.items() if k not in compact}), indent=2, sort_keys=True)
    parts = []
    if changes:
        lists = []
        for kind in sorted(changes):
            value = changes[kind]
            if isinstance(value, list):
                lists.append(f'    "{kind}": {_lines(value, "    ")}')
            else:
                lists.append(f'    "{kind}": {json.dumps(_clean(value), sort_keys=True)}')
        parts.append('  "changes": {\n' + ",\n".join(lists) + "\n  }")
    if findings:
        parts.append(f'  "findings": {_lines(findings, "  ")}')
    return head[:-2] + ",\n" + ",\n".join(parts) + "\n}\n"


def render_check(report: dict, medium: Medium = PLAIN) -> str:
    """The check report as JSON (RFC 8259), indented, keys sorted."""
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


FORMATTER = Formatter(diff=render_diff, check=render_check)
