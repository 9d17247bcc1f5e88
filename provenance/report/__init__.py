"""Reports: one module per output format (text, json_format, markdown, html, sarif, junit).

``Format`` (the ``--format`` choices, in ``formats.py``) maps each format to its module's
``Formatter`` (``interface.py``); ``render(kind, format, report)`` writes a diff or check
report dict in that format, ``output.write_output`` sends it to stdout or a file. Wording
shared by the human-readable formats is in ``wording.py``, with the waivers', batch drift's
and schema changes' words in ``waiver_words.py``, ``drift_words.py`` and ``schema_words.py``.

What the human-readable formats say is worked out once from the report dict, one module
per section: ``verdict.py`` (what a report leads with), ``flagged.py`` (the flagged
records), ``source_rows.py``, ``rule_rows.py`` and ``detector_summary.py`` (the Sources,
Rules and Detectors tables); the formats only lay it out. The text format is split the
same way: ``text_diff.py``, ``text_check.py`` and the tables they share, ``text_tables.py``.
"""

from provenance.report.formats import Format, format_for, formats_for, render
from provenance.report.interface import PLAIN, Formatter, Kind, Medium
from provenance.report.output import check_output, medium_for, refuse_page_on_terminal, verdict_for_log, write_output

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
    "refuse_page_on_terminal",
    "render",
    "verdict_for_log",
    "write_output",
]
