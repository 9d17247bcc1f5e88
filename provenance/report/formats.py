"""The ``--format`` choices, each mapped to the module that writes it (pip-audit's pattern).

``--format NAME`` is a :class:`Format`; ``Format.formatter()`` gives that format's
``Formatter`` (imported on first use, so ``prov --help`` stays fast); ``render`` writes a
report dict in a format, after ``format_for`` checked the format writes that kind.
"""

from __future__ import annotations

import enum

from provenance.errors import InputError
from provenance.report.interface import PLAIN, Formatter, Kind, Medium, Renderer


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


def render(kind: str | Kind, fmt: str | Format, report: dict, medium: Medium = PLAIN) -> str:
    """Render ``report`` (the dict of a ``kind`` report) in format ``fmt`` for ``medium``; returns the text.

    ``medium`` (``output.medium_for(out)``) says how wide a text report may be and
    whether it may use colour; the other formats do not depend on it.

    Raises:
        InputError: as ``format_for``.
    """
    return _chosen(kind, fmt)[1](report, medium)


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
