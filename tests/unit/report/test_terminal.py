"""Terminal tables: when the columns' narrowest widths fit, no word is cut in two."""

from __future__ import annotations

from provenance.report.flagged import FlaggedRecord
from provenance.report.interface import Medium
from provenance.report.terminal import Col, Grid, Writer
from provenance.report.text_tables import flagged_grid
from support import table_columns


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


DETECTORS = ("duplicates", "gradient", "knn_label", "outlier", "spectral", "collision", "volume")
SOURCE = "scraper-common-crawl-subset-2026-11-30-eu-west-mirror"


def test_no_cell_loses_text_at_any_width_from_60():
    """rich cropped a table whose columns overflowed the terminal at its edge, silently: a long source name beside
    seven detectors left "flagged by" three characters and the rest of the line past the edge at 60 columns. At
    every width from 60 on, each line fits and every character of each shown cell is on screen."""
    records = [
        FlaggedRecord(f"{k:x}" * 64, 0.999, 0.0, DETECTORS[:k], 7, (), "-", label="label-" + "7" * 12, source=SOURCE)
        for k in (7, 3, 1)
    ]
    for width in range(60, 131, 5):
        out = Writer(Medium(width=width))
        out.grid(flagged_grid(records, "prov findings v2"))
        lines = out.text().splitlines()
        assert max(map(len, lines)) <= width
        rows = table_columns(lines, ["digest", "score", "label", "source", "flagged by"])
        assert [r["source"] for r in rows] == [SOURCE] * 3, (width, rows)
        assert [r["flagged by"] for r in rows] == [f"{k}:" + ",".join(DETECTORS[:k]) for k in (7, 3, 1)], width
        # a label past 16 characters is cut with "…" by design (--wide shows it whole), never past the edge
        assert all(r["label"] in ("label-" + "7" * 12, "label-" + "7" * 9 + "…") for r in rows), (width, rows)
