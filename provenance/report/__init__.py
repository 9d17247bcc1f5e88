"""Reports: one module per output format (text, json_format, markdown, html, sarif, junit).

``Format`` (the ``--format`` choices, in ``formats.py``) maps each format to its module's
``Formatter`` (``interface.py``); ``render(kind, format, report)`` writes a diff or check
report dict in that format, ``output.write_output`` sends it to stdout or a file. Wording
shared by the human-readable formats is in ``wording.py``.
"""

from provenance.report.formats import Format, format_for, formats_for, render
from provenance.report.interface import PLAIN, Formatter, Kind, Medium
from provenance.report.output import check_output, medium_for, write_output

__all__ = [
    "PLAIN",
    "Format",
    "Formatter",
    "Kind",
    "Medium",
    "check_output",
    "format_for",
    "formats_for",
    "medium_for",
    "render",
    "write_output",
]
