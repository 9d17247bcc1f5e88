"""Tables that fit the terminal: rich tables laid out for a width, never wrapping inside a word.

A ``Grid`` is a title, columns and rows; ``Writer.grid`` lays it out for the medium's
width. Each column is one of three kinds:

- ``fixed``: never wraps (digests, numbers, names; cut with "…" past ``max_width``);
- ``wrap``: wraps between words, and is at least as wide as its longest word;
- ``flex``: at most one per grid; takes the width the others leave and ends each cell
  in "…" on one line (the evidence of a flagged record, a rule's reason).

When the columns cannot all fit, the ones with the highest ``drop`` go first (0: never),
so an 80-column terminal gets fewer columns instead of broken words; when the columns left still
overflow, the widest ones wrap narrower, a word longer than the column breaking across lines
(``squeezed``), so no cell runs past the terminal's edge, where it would be lost. Cell text is never
read as rich markup, so a label like ``[bold]`` prints as it is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Literal

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from provenance.escaping import visible
from provenance.report.interface import Medium

Cell = str | Text
GAP = 2  # columns between two cells (one space of padding each side, no edge)
FLEX_MIN = 12  # the flexible column never gets narrower than this


@dataclass(frozen=True)
class Col:
    """A column: its header, how it lays out (``fixed`` / ``wrap`` / ``flex``), alignment and drop order."""

    header: str
    kind: Literal["fixed", "wrap", "flex"] = "wrap"
    justify: Literal["left", "right"] = "left"
    drop: int = 0
    max_width: int | None = None  # fixed: cut with "…" past it; wrap: wrap past it
    min_width: int = FLEX_MIN  # a flexible column's narrowest width
    narrow_wrap: bool = False  # fixed: wraps between words instead when the kept columns still overflow
    fold: int | None = (
        None  # wrapping: a word longer than this may break across lines (a source name: whole, never cut)
    )
    # droppable, but kept while the ``narrow_wrap`` columns wrapping between words makes room for it
    wrap_others_first: bool = False


@dataclass
class Grid:
    """A titled table to lay out: ``note`` follows the title (how many rows, how to see all)."""

    title: str
    columns: list[Col]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""
    wrapped: set[int] = field(default_factory=set)  # rows whose flexible cell wraps instead of ending in "…"
    hint: str = ""  # how to read what the table cuts (``--wide``): ends the note, after what a narrow width left out

    def add(self, *cells: Cell, wrap: bool = False) -> None:
        """Append one row (one cell per column); ``wrap``: its flexible cell wraps between words."""
        if wrap:
            self.wrapped.add(len(self.rows))
        self.rows.append(list(cells))


def plain(cell: Cell) -> str:
    """A cell's text without styles, as it is shown (hidden characters escaped)."""
    return visible(cell.plain if isinstance(cell, Text) else cell)


def need(col: Col, texts: list[str]) -> int:
    """The narrowest width a column may have: whole cells if fixed, the longest word if it wraps."""
    if col.kind == "flex":
        return col.min_width
    if col.kind == "fixed":
        width = max(len(t) for t in texts)
    else:
        width = max((len(w) for t in texts for w in t.split()), default=1)
        if col.fold:  # rich folds the longer word at the column's edge: every character stays on screen
            width = min(width, max(col.fold, max((len(w) for w in col.header.split()), default=1)))
    return min(width, col.max_width) if col.max_width else width


def fitted(grid: Grid, width: int) -> list[int]:
    """Indices of the columns kept at ``width``: the highest ``drop`` go first until the minimums fit."""
    texts = [[c.header] + [plain(r[i]) for r in grid.rows] for i, c in enumerate(grid.columns)]
    needs = [need(c, texts[i]) for i, c in enumerate(grid.columns)]
    # what the columns need with "flagged by" wrapping (not a source name: it folds, and only where nothing else fits)
    wrapped = [
        need(replace(c, kind="wrap"), texts[i]) if c.narrow_wrap and c.fold is None else needs[i]
        for i, c in enumerate(grid.columns)
    ]
    kept = list(range(len(grid.columns)))
    droppable = sorted((i for i, c in enumerate(grid.columns) if c.drop), key=lambda i: -grid.columns[i].drop)
    while sum(needs[i] for i in kept) + GAP * (len(kept) - 1) > width and droppable:
        if (
            grid.columns[droppable[0]].wrap_others_first
            and sum(wrapped[i] for i in kept) + GAP * (len(kept) - 1) <= width
        ):
            break  # ``narrowed`` wraps the others: this column stays (an image's path, newcomer review 30)
        kept.remove(droppable.pop(0))
    return kept


def overflows(grid: Grid, kept: list[int], width: int) -> bool:
    """Whether the ``kept`` columns at their narrowest are wider than ``width``."""
    needs = [need(grid.columns[i], [grid.columns[i].header] + [plain(r[i]) for r in grid.rows]) for i in kept]
    return sum(needs) + GAP * (len(kept) - 1) > width


def narrowed(grid: Grid, kept: list[int], width: int) -> Grid:
    """``grid``, its ``narrow_wrap`` columns wrapping between words when the kept columns overflow
    ``width`` even with every droppable one gone: at 80 columns the flagged records' "flagged by"
    (up to 44 characters) pushed rows past the edge, where the terminal cut them mid-word."""
    if not overflows(grid, kept, width) or not any(grid.columns[i].narrow_wrap for i in kept):
        return grid
    columns = [replace(c, kind="wrap") if c.narrow_wrap else c for c in grid.columns]
    return Grid(grid.title, columns, grid.rows, grid.note, grid.wrapped, grid.hint)


def squeezed(grid: Grid, kept: list[int], width: int) -> Grid:
    """``grid``, its kept columns narrowed until they fit ``width`` when they overflow it even after ``narrowed``:
    the widest column gives one character at a time, down to its header's longest word, and wraps its cells,
    breaking a word longer than its width across lines (``fold``). rich crops a table wider than the terminal at
    the edge, so a long source name beside a long "flagged by" list lost the list's words past the edge at 60
    columns (newcomer review 19); folded, every character of every cell stays on screen. A ``flex`` column
    narrows its ``min_width`` instead (its cells end in "…" by design)."""
    if not overflows(grid, kept, width):
        return grid
    columns = list(grid.columns)
    texts = {i: [columns[i].header] + [plain(r[i]) for r in grid.rows] for i in kept}
    widths = {i: need(columns[i], texts[i]) for i in kept}
    floors = {i: max((len(w) for w in columns[i].header.split()), default=1) for i in kept}
    over = sum(widths.values()) + GAP * (len(kept) - 1) - width
    while over > 0:
        roomy = [i for i in kept if widths[i] > floors[i]]
        if not roomy:
            break
        i = max(roomy, key=lambda j: (widths[j] - floors[j], -j))
        widths[i] -= 1
        over -= 1
    for i in kept:
        col = columns[i]
        if widths[i] < need(col, texts[i]):
            columns[i] = (
                replace(col, min_width=widths[i]) if col.kind == "flex" else replace(col, kind="wrap", fold=widths[i])
            )
    return Grid(grid.title, columns, grid.rows, grid.note, grid.wrapped, grid.hint)


def table(grid: Grid, width: int) -> Table:
    """The rich table of ``grid`` at ``width`` columns."""
    kept = fitted(grid, width)
    note, dropped = grid.note, dropped_note(grid, kept, width)
    grid = squeezed(narrowed(grid, kept, width), kept, width)
    headers = whole_headers(grid, kept, width)
    for more in (dropped, f"({grid.hint})" if grid.hint else ""):
        if more:  # one parenthesis: "(59, worst first; not shown at 80 columns: ...; --wide shows each record whole)"
            note = (
                f"{note[:-1]}; {more[1:]}" if note.startswith("(") and note.endswith(")") else f"{note} {more}".strip()
            )
    title = Text.assemble((visible(grid.title), "bold"), f" {visible(note)}" if note else "")
    out = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
        min_width=min(
            width, len(title.plain)
        ),  # a table of short rows does not wrap its title (and note) into a column
    )
    bounds = {i: _bounds(grid, i, i in headers) for i in kept}
    caps = wrap_caps(grid, bounds, width)
    for i, cap in fold_caps(grid, bounds, width).items():
        caps[i] = min(cap, caps.get(i, cap))
    for i in kept:
        col = grid.columns[i]
        narrowest, widest = bounds[i]
        if widest and i in caps:  # it leaves the flexible column its narrowest width
            widest = caps[i]
        out.add_column(
            col.header,
            justify=col.justify,
            no_wrap=col.kind == "fixed",
            overflow="ellipsis" if col.kind != "wrap" else "fold",
            min_width=narrowest,
            max_width=col.max_width if col.kind == "fixed" else widest and max(widest, narrowest),
        )
    for n, row in enumerate(grid.rows):
        cells = []
        for i in kept:
            value = row[i]
            cell = _escaped(value)
            if grid.columns[i].kind == "flex" and n not in grid.wrapped:
                cell.no_wrap, cell.overflow = True, "ellipsis"
            cells.append(cell)
        out.add_row(*cells)
    return out


def dropped_note(grid: Grid, kept: list[int], width: int) -> str:
    """What a table left out to fit ``width``, and the width that shows it: a column is never
    dropped without a word (``COLUMNS=N`` sets the width on a terminal and in a pipe alike)."""
    dropped = [grid.columns[i].header for i in range(len(grid.columns)) if i not in kept]
    if not dropped:
        return ""
    columns = range(len(grid.columns))
    full = sum(need(grid.columns[i], [grid.columns[i].header] + [plain(r[i]) for r in grid.rows]) for i in columns)
    full += GAP * (len(grid.columns) - 1)
    return f"(not shown at {width} columns: {', '.join(dropped)}; COLUMNS={full} shows them)"


def whole_headers(grid: Grid, kept: list[int], width: int) -> set[int]:
    """The wrapping columns whose header gets its whole width on one line, left to right while
    the table still fits ``width`` with every column at its narrowest (``need``): a header
    wraps between its words only when the terminal is too narrow for it, and a long cell
    wraps before a header does (a header wrapped into three lines reads worse than a cell in two)."""
    widths = {i: need(grid.columns[i], [grid.columns[i].header] + [plain(r[i]) for r in grid.rows]) for i in kept}
    spare = width - sum(widths.values()) - GAP * (len(kept) - 1)
    for i in kept:  # a folded name's rest comes before a header on one line: a name broken in three reads worse
        col = grid.columns[i]
        if col.fold and col.kind == "wrap":
            spare -= max(len(plain(r[i])) for r in grid.rows) - widths[i] if grid.rows else 0
    whole = set()
    for i in kept:
        extra = len(grid.columns[i].header) - widths[i]
        if grid.columns[i].kind == "wrap" and 0 < extra <= spare:
            whole.add(i)
            spare -= extra
    return whole


def wrap_caps(grid: Grid, bounds: dict[int, tuple[int, int | None]], width: int) -> dict[int, int]:
    """The widest each wrapping column may be so that the table fits ``width`` (and a flexible column keeps
    its ``min_width``).

    rich gives a wrapping column up to its longest cell and only then squeezes the flexible one,
    whose wrapped cells (a blocked rule's reason) it cannot cut: the table came out wider than the
    terminal and every line was cropped mid-word at its edge. Without a flexible column, rich's own
    squeezing took width from columns held at their ``min_width`` (a whole header), which took it back:
    at 60 columns the Detectors table lost its last column past the edge. Wrapping columns give back
    width, widest first, down to their narrowest. ``bounds``: each kept column's (narrowest, widest)."""
    kept = list(bounds)
    floors = {i: bounds[i][0] for i in kept}
    widths = {
        i: grid.columns[i].min_width if grid.columns[i].kind == "flex" else max(bounds[i][1] or 0, floors[i])
        for i in kept
    }
    over = sum(widths.values()) + GAP * (len(kept) - 1) - width
    caps: dict[int, int] = {}
    wrapping = [i for i in kept if grid.columns[i].kind == "wrap"]
    while over > 0:
        roomy = [i for i in wrapping if widths[i] > floors[i]]
        if not roomy:
            break
        i = max(roomy, key=lambda j: widths[j] - floors[j])
        widths[i] -= 1
        caps[i] = widths[i]
        over -= 1
    return caps


def fold_caps(grid: Grid, bounds: dict[int, tuple[int, int | None]], width: int) -> dict[int, int]:
    """The widest each ``fold`` column may be: its narrowest plus what the other kept columns leave at their
    narrowest. rich measures a cell by its longest word, so a name with no space in it kept its whole width and
    pushed the last columns out of the table, cut or gone, where it should break across lines instead."""
    folding = [i for i in bounds if grid.columns[i].fold and grid.columns[i].kind == "wrap"]
    if not folding:
        return {}
    spare = width - sum(low for low, _ in bounds.values()) - GAP * (len(bounds) - 1)
    caps = {}
    for i in folding:
        low, high = bounds[i]
        caps[i] = max(low, min(high or low, low + max(spare, 0)))
        spare -= caps[i] - low
    return caps


def _bounds(grid: Grid, i: int, whole_header: bool) -> tuple[int, int | None]:
    """Column ``i``'s narrowest width (its header whole on one line if ``whole_header``) and, for a
    wrapping column, its widest (its longest cell, or its cap); None for the others."""
    col = grid.columns[i]
    texts = [col.header] + [plain(r[i]) for r in grid.rows]
    narrowest = max(need(col, texts), len(col.header)) if whole_header else need(col, texts)
    widest = _wrap_width(col, texts)
    if widest and col.max_width:  # a wrapping column with a cap wraps its long cells at the cap
        widest = min(widest, col.max_width)
    return narrowest, widest


def _wrap_width(col: Col, texts: list[str]) -> int | None:
    """A wrapping column is never wider than its longest cell: a long header ("relabeled after
    source") wraps between its words instead of taking the width a neighbour needs whole."""
    if col.kind != "wrap" or len(texts) < 2:
        return None
    return max(need(col, texts), max(len(t) for t in texts[1:]))


def _escaped(value: Cell) -> Text:
    """A cell as rich text with every hidden character escaped (``provenance.escaping.visible``):
    a label cannot move the cursor, recolour the terminal or reorder the line."""
    if isinstance(value, Text):
        shown = visible(value.plain)
        return value if shown == value.plain else Text(shown, style=value.style)
    return Text(visible(value))


class Writer:
    """A rich console writing into a string for one medium (width, colour); never reads markup."""

    def __init__(self, medium: Medium):
        self.width = medium.width
        self.buffer = io.StringIO()
        self.console = Console(
            file=self.buffer,
            width=medium.width,
            color_system="standard" if medium.color else None,
            force_terminal=medium.color,
            no_color=not medium.color,
            highlight=False,
            emoji=False,
            markup=False,
            soft_wrap=False,
        )

    def line(self, *parts: str | tuple[str, str], indent: int = 0) -> None:
        """One paragraph of text, wrapped between words (every line ``indent`` in); a ``(text, style)`` part is styled."""
        text = Text.assemble(*(visible(p) if isinstance(p, str) else (visible(p[0]), p[1]) for p in parts))
        self.console.print(Padding(text, (0, 0, 0, indent)) if indent else text)

    def bullet(self, *parts: str | tuple[str, str], indent: int = 2) -> None:
        """One item of a list, ``- `` ``indent`` in, its text wrapped under itself, not under the dash: a step
        wrapped back to the dash read as the next step's start (newcomer review 19)."""
        text = Text.assemble(*(visible(p) if isinstance(p, str) else (visible(p[0]), p[1]) for p in parts))
        item = Table.grid()
        item.add_column(width=indent + 2, no_wrap=True)
        item.add_column()
        item.add_row(" " * indent + "- ", text)
        self.console.print(item)

    def grid(self, grid: Grid | None) -> None:
        """Lay out a grid at this width, then a blank line (nothing for None or no rows)."""
        if grid is None or not grid.rows:
            return
        laid_out = table(grid, self.width)
        # the title wraps at the console's width, not the table's: a table whose unwrappable
        # columns overflow a narrow terminal had its title wrapped wider and cut, losing words
        title, laid_out.title = laid_out.title, None
        laid_out.min_width = None  # the title is its own line now: short rows need not stretch to its length
        self.console.print(title)
        self.console.print(laid_out)
        self.console.print()

    def text(self) -> str:
        """Everything written so far, without the spaces rich pads each line with to the width
        (newcomer review 9, finding 11: paragraphs and tables ended in runs of spaces)."""
        return "\n".join(line.rstrip(" ") for line in self.buffer.getvalue().split("\n"))
