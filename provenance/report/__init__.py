"""Report formats: one module per format, chosen through the ``Format`` enum.

A renderer takes the report's plain-data dict (the shape its JSON Schema fixes) and
returns text, so the same dict can go to a terminal, a file, a pull-request comment or
a browser. Commands register renderers per report kind (``"diff"``, later ``"check"``),
so the release gate reuses the formats here and adds its own (sarif, junit).
"""

from provenance.report.interface import Format, formats_for, register, render, write_output

__all__ = ["Format", "formats_for", "register", "render", "write_output"]
