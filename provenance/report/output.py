"""Where a report goes: stdout, or the file of ``--out FILE`` (``output_file``'s rules: a regular file
replaced atomically, a new path, a symlink written through; ``-`` is stdout; never a device, FIFO or folder)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from provenance import output_file
from provenance.errors import InputError
from provenance.report.interface import PLAIN, Medium


def check_output(out: str) -> Path | None:
    """Check ``--out FILE`` before any work is done; ``None`` for ``-`` (stdout), else the file to write.

    Raises:
        InputError: as :func:`provenance.output_file.check_output` (a folder, FIFO or device;
            a missing folder; a file that is not writable).
    """
    return output_file.check_output(out, "--out")


def refuse_page_on_terminal(fmt: str, out: str | None) -> None:
    """Refuse, before any work, to print an HTML report on a terminal: it is a web page (20 KB of
    markup for the tour's diff) that a terminal only scrolls past. A pipe or ``--out -`` still gets it.

    Raises:
        InputError: ``fmt`` is html, ``out`` is None and stdout is a terminal.
    """
    if str(fmt).lower() == "html" and out is None and sys.stdout.isatty():
        raise InputError(
            "--format html writes a web page: give --out FILE (e.g. --out diff.html), or --out - to print it here"
        )


def write_output(text: str, out: str | None) -> None:
    """Write a report to stdout (``out`` None or ``-``), or to the file ``out`` (never a half-written file).

    Raises:
        InputError: as :func:`check_output`, or the file cannot be written.
    """
    if out is None or out == output_file.STDOUT:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output_file.write_output(out, text, "--out")


def verdict_for_log(kind: str, report: dict, out: str | None) -> str | None:
    """The line a command prints on stderr when its report went to the file ``out`` (None when it went to
    stdout): the verdict and where the report is, so a CI step that fails says why in its log."""
    if out is None or out == output_file.STDOUT:
        return None
    from provenance.report.verdict import verdict_line

    return f"{verdict_line(kind, report)} (report: {out})"


def medium_for(out: str | None, wide: bool = False) -> Medium:
    """How a report sent to ``out`` (None: stdout) is laid out; ``wide``: ``--wide``'s blocks (``Medium.wide``).

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
    return Medium(width=max(width, 40), color=color, wide=wide)
