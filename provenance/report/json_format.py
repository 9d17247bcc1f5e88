"""JSON: the report dict itself, with stable key order (schema: schemas/diff.schema.json)."""

from __future__ import annotations

import json
import math

from .interface import Format, register


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
    return json.dumps(_clean(report), indent=2, sort_keys=True) + "\n"


register("diff", Format.JSON, render_json)
