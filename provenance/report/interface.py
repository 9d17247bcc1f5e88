"""The registry of report renderers: (report kind, Format) -> function(dict) -> str."""

from __future__ import annotations

import enum
import importlib
import sys
from collections.abc import Callable

from provenance.errors import InputError
from provenance.store.objects import atomic_write


class Format(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    MD = "md"
    HTML = "html"
    SARIF = "sarif"
    JUNIT = "junit"


Renderer = Callable[[dict], str]
_renderers: dict[tuple[str, Format], Renderer] = {}
# Built-in renderers, imported on first use so `prov --help` stays fast.
_BUILTIN = {Format.TEXT: "text", Format.JSON: "json_format", Format.MD: "markdown", Format.HTML: "html"}


def register(kind: str, fmt: Format, renderer: Renderer) -> None:
    _renderers[(kind, Format(fmt))] = renderer


def _load(fmt: Format) -> None:
    module = _BUILTIN.get(fmt)
    if module:
        importlib.import_module(f"{__package__}.{module}")


def formats_for(kind: str) -> list[Format]:
    for fmt in _BUILTIN:
        _load(fmt)
    return [f for f in Format if (kind, f) in _renderers]


def render(kind: str, fmt: str | Format, report: dict) -> str:
    try:
        fmt = Format(fmt)
    except ValueError:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(f.value for f in formats_for(kind))}") from None
    _load(fmt)
    renderer = _renderers.get((kind, fmt))
    if renderer is None:
        raise InputError(
            f"--format {fmt.value}: not available for {kind} (use {', '.join(f.value for f in formats_for(kind))})"
        )
    return renderer(report)


def write_output(text: str, out: str | None) -> None:
    """The report to stdout, or atomically to ``out`` (never a half-written file)."""
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from pathlib import Path

    path = Path(out)
    if not path.parent.is_dir():
        raise InputError(f"--out {out}: folder {path.parent} does not exist")
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write ({exc.strerror})") from exc
