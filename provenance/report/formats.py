"""The ``--format`` choices, each mapped to the module that writes it (pip-audit's pattern).

``--format NAME`` is a :class:`Format`; ``Format.formatter()`` gives that format's
``Formatter`` (imported on first use, so ``prov --help`` stays fast); ``render`` writes a
report dict in a format, after ``format_for`` checked the format writes that kind.
"""

from __future__ import annotations

import enum
import re

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


_JSON_REPORT = re.compile(rb'"format"\s*:\s*"prov\.(check|diff)/v[0-9]+"')
_COMMAND = re.compile(rb"prov (check|diff) ")


def report_kind(data: bytes) -> str | None:
    """Which of prov's reports the bytes of a file are, in words for an error message, or None.

    For example "a 'prov check --format json' report", "a 'prov diff --format md' report",
    "a SARIF report ('prov check --format sarif')"; used when a file given as something else (a release
    attestation) is not that, so the message can say what the file is. It decides nothing:
    the caller has already refused the file.
    """
    head = data[:4096].lstrip()
    command = _COMMAND.search(head)
    name = command[1].decode() if command else "check"
    if head.startswith(b"{"):
        found = _JSON_REPORT.search(data)
        if found:
            return f"a 'prov {found[1].decode()} --format json' report"
        return "a SARIF report ('prov check --format sarif')" if b"sarif" in head[:200] else None
    if head.startswith(b"<?xml") and b"<testsuites" in head:
        return "a JUnit report ('prov check --format junit')"
    if head.lower().startswith(b"<!doctype html"):
        return "an HTML report ('prov diff --format html')"
    if head.startswith(b"### ") and command:
        return f"a 'prov {name} --format md' report"
    if head.startswith(b"prov check ") or head.startswith(b"prov diff "):
        return f"a 'prov {name}' text report"
    return None
