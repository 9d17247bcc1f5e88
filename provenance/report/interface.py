"""The report formats users choose, each mapped to the module that writes it.

``--format NAME`` is a :class:`Format`; ``Format.formatter()`` gives that format's
:class:`Formatter` (one module per format, imported on first use so ``prov --help``
stays fast); the formatter holds one renderer per report kind it writes. A renderer
takes the report's plain-data dict (the shape its JSON Schema in ``schemas/`` fixes)
and returns text, so the same dict can go to a terminal, a file, a pull-request
comment, a browser or a CI system. The pattern is pip-audit's ``_format/``: an enum of
output choices that maps to a formatter.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provenance.errors import InputError
from provenance.store.objects import atomic_write

Renderer = Callable[[dict], str]
"""Turns one report dict into the text of one format."""


class Kind(enum.StrEnum):
    """The reports prov writes."""

    DIFF = "diff"  # `prov diff`: provenance.diff.report.DiffReport.to_dict() (schemas/diff.schema.json)
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


class Format(enum.StrEnum):
    """The values of ``--format``, in the order help texts and error messages list them."""

    TEXT = "text"
    JSON = "json"
    MD = "md"
    HTML = "html"
    SARIF = "sarif"
    JUNIT = "junit"

    def formatter(self) -> Formatter:
        """The formatter of this format, from its own module in ``provenance.report``."""
        if self is Format.TEXT:
            from provenance.report import text

            return text.FORMATTER
        if self is Format.JSON:
            from provenance.report import json_format

            return json_format.FORMATTER
        if self is Format.MD:
            from provenance.report import markdown

            return markdown.FORMATTER
        if self is Format.HTML:
            from provenance.report import html

            return html.FORMATTER
        if self is Format.SARIF:
            from provenance.report import sarif

            return sarif.FORMATTER
        from provenance.report import junit

        return junit.FORMATTER


def formats_for(kind: str | Kind) -> list[Format]:
    """The formats that write ``kind`` ("diff" or "check"), in ``Format`` order."""
    return [f for f in Format if f.formatter().renderer(kind) is not None]


def format_for(kind: str | Kind, fmt: str | Format) -> Format:
    """The ``Format`` named ``fmt``, checked to write ``kind`` reports ("diff" or "check").

    Raises:
        InputError: ``fmt`` is not a format, or that format does not write ``kind``;
            the message lists the formats that do.
    """
    return _chosen(kind, fmt)[0]


def render(kind: str | Kind, fmt: str | Format, report: dict) -> str:
    """Render ``report`` (the dict of a ``kind`` report) in format ``fmt``; returns the text.

    Raises:
        InputError: as ``format_for``.
    """
    return _chosen(kind, fmt)[1](report)


def _chosen(kind: str | Kind, fmt: str | Format) -> tuple[Format, Renderer]:
    try:
        chosen = Format(fmt)
    except ValueError:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(f.value for f in formats_for(kind))}") from None
    renderer = chosen.formatter().renderer(kind)
    if renderer is None:
        raise InputError(
            f"--format {chosen.value!r}: not available for {kind} (use {', '.join(f.value for f in formats_for(kind))})"
        )
    return chosen, renderer


def check_output(out: str) -> Path:
    """The path of ``--out FILE``, checked before any work is done: its folder must exist.

    Raises:
        InputError: the folder of ``out`` does not exist.
    """
    path = Path(out)
    if not path.parent.is_dir():
        raise InputError(f"--out {out}: folder {path.parent} does not exist")
    return path


def write_output(text: str, out: str | None) -> None:
    """Write a report to stdout, or atomically to the file ``out`` (never a half-written file).

    Raises:
        InputError: the folder of ``out`` does not exist or the file cannot be written.
    """
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = check_output(out)
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write ({exc.strerror})") from exc
