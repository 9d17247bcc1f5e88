"""What every report format implements: a ``Formatter``, one renderer per report kind it writes.

A renderer takes the report's plain-data dict (the shape its JSON Schema in ``schemas/``
fixes) and returns text, so the same dict can go to a terminal, a file, a pull-request
comment, a browser or a CI system. Each format's module (``text.py``, ``sarif.py``, ...)
defines its ``FORMATTER``; ``formats.py`` maps the ``--format`` choices to them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Medium:
    """Where a report is going, as far as its layout cares.

    Attributes:
        width: columns available to a text report (the terminal's width on a terminal).
        color: whether ANSI colour may be used (a terminal, and ``NO_COLOR`` not set).
        wide: ``--wide`` (``prov check``, ``prov findings``): each flagged record also as a block of its own
            under the table, with every detector that flags it and its whole evidence, wrapped, never cut.
    """

    width: int = 120
    color: bool = False
    wide: bool = False


PLAIN = Medium()
"""A file or a pipe: 120 columns, no colour."""

Renderer = Callable[[dict, Medium], str]
"""Turns one report dict into the text of one format, laid out for a ``Medium``."""


class Kind(enum.StrEnum):
    """The reports prov writes."""

    DIFF = "diff"  # `prov diff`: provenance.delta.report.DiffReport.to_dict() (schemas/diff.schema.json)
    CHECK = "check"  # `prov check`: provenance.gate.gate.GateResult.to_dict() (schemas/check.schema.json)


@dataclass(frozen=True)
class Formatter:
    """One output format: the renderer of each report kind it writes (``None``: not written)."""

    diff: Renderer | None = None
    check: Renderer | None = None

    def renderer(self, kind: str | Kind) -> Renderer | None:
        """The renderer for ``kind`` ("diff" or "check"), or ``None`` if this format does not write it."""
        renderers: dict[str, Renderer | None] = {Kind.DIFF: self.diff, Kind.CHECK: self.check}
        return renderers.get(str(kind))
