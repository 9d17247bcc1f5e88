"""Where a report goes: stdout, or the file of ``--out FILE`` (``output_file``'s rules: a regular file
replaced atomically, a new path, a symlink written through; ``-`` is stdout; never a device, FIFO or folder)."""

from __future__ import annotations

import sys
from pathlib import Path

from provenance import output_file


def check_output(out: str) -> Path | None:
    """Check ``--out FILE`` before any work is done; ``None`` for ``-`` (stdout), else the file to write.

    Raises:
        InputError: as :func:`provenance.output_file.check_output` (a folder, FIFO or device;
            a missing folder; a file that is not writable).
    """
    return output_file.check_output(out, "--out")


def write_output(text: str, out: str | None) -> None:
    """Write a report to stdout (``out`` None or ``-``), or to the file ``out`` (never a half-written file).

    Raises:
        InputError: as :func:`check_output`, or the file cannot be written.
    """
    if out is None or out == output_file.STDOUT:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output_file.write_output(out, text, "--out")
