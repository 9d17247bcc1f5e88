"""Where a report goes: stdout, or a file written atomically (``--out FILE``)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from provenance.errors import InputError
from provenance.report.interface import PLAIN, Medium
from provenance.store.objects import atomic_write


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


def medium_for(out: str | None) -> Medium:
    """How a report sent to ``out`` (None: stdout) is laid out.

    On a terminal: its width and colour, unless ``NO_COLOR`` is set (https://no-color.org)
    or ``TERM=dumb``. A file or pipe: no colour (``FORCE_COLOR`` asks for it anyway) and
    ``COLUMNS`` columns when set, else 120.
    """
    to_terminal = out is None and sys.stdout.isatty()
    no_color = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
    color = not no_color and (to_terminal or bool(os.environ.get("FORCE_COLOR")))
    columns = os.environ.get("COLUMNS", "")
    if to_terminal:
        width = shutil.get_terminal_size((PLAIN.width, 24)).columns
    elif columns.isdigit() and int(columns) > 0:
        width = int(columns)
    else:
        width = PLAIN.width
    return Medium(width=max(width, 40), color=color)
