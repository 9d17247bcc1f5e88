"""Terminal tables: when the columns' narrowest widths fit, no word is cut in two."""

from __future__ import annotations

from provenance.report.interface import Medium
from provenance.report.terminal import Col, Grid, Writer


def test_a_long_header_wraps_between_its_words_instead_of_cutting_a_neighbours_word():
    grid = Grid(
        "Sources",
        [Col("source", "fixed"), Col("relabeled after source", "wrap", "right"), Col("flagged signals", "wrap")],
    )
    grid.add("scraper", "0", "class_mix_shift, unattributed_additions")
    out = Writer(Medium(width=44, color=False))
    out.grid(grid)
    text = out.text()
    assert "unattributed_additions" in text and "class_mix_shift," in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 44
