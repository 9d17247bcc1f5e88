"""Where a report goes: stdout, or a file written atomically (``--out FILE``)."""

from __future__ import annotations

import sys
from pathlib import Path

from provenance.errors import InputError
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
