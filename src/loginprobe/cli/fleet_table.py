"""A rich Table drawn fast enough for a fleet: `probe list` of 200 hubs.

rich lays out and renders every cell of a Table through its whole pipeline (measure, pad, wrap,
crop, align): about 0.25 ms a cell, 0.4 s of CPU for 200 hubs' rows, as much as everything else
`probe list` does. `FleetTable` draws the same table, character for character and colour for
colour: the column widths by rich's own rules from each cell's plain text, a cell that fits on one
line straight from its text and style, and any other cell (one that wraps, or with styles inside
it) through rich itself, once per distinct cell. A table it does not know how to draw exactly
(a title, a footer, another box or padding, ...) it hands to rich whole.
`tests/unit/test_fleet_table.py` holds it to rich's output.
"""

from __future__ import annotations

import itertools
from typing import cast

from rich._ratio import ratio_reduce  # what Table itself shrinks columns with
from rich._wrap import divide_line  # where Text.wrap breaks a line
from rich.box import HEAVY_HEAD
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.table import Column, Table
from rich.text import Text

_PAD = (0, 1, 0, 1)
_NO_STYLE = (None, "", "none")


def _drawable(table: Table) -> bool:
    """Whether the table uses only what FleetTable draws itself (else rich draws it)."""
    return (
        table.box is HEAVY_HEAD
        and table.padding == _PAD
        and table.show_header
        and table.show_edge
        and not table.show_footer
        and not table.show_lines
        and not table.leading
        and not table.expand
        and table.width is None
        and table.min_width is None
        and not table.title
        and not table.caption
        and not table.collapse_padding
        and table.pad_edge
        and table.style in _NO_STYLE
        and table.border_style in _NO_STYLE
        and not table.row_styles
        and not any(row.style or row.end_section for row in table.rows)
        and all(_plain_column(c) for c in table.columns)
    )


def _plain_column(column: Column) -> bool:
    return (
        column.width is None
        and column.min_width is None
        and column.max_width is None
        and column.ratio is None
        and column.style in _NO_STYLE
        and not column.footer
        and column.justify == "left"
        and column.vertical == "top"
        and isinstance(column.header, Text | str)
        and all(isinstance(cell, Text) for cell in column._cells)
    )


def _measure(plain: str, max_width: int) -> tuple[int, int]:
    """rich's Measurement.get of a cell (Padding((0, 1)) around a Text) at `max_width`."""
    if max_width < 1:
        return 0, 0
    if max_width - 2 < 1:
        low, high = max_width, max_width
    else:
        lines = plain.splitlines()
        high = max(map(cell_len, lines)) if lines else 0
        words = plain.split()
        low = max(map(cell_len, words)) if words else high
        # The Text's own measurement, normalized and clamped as Measurement.get does.
        low = max(0, min(max(0, low), high))
        high = max(0, max(low, high))
        low, high = min(low, max_width), min(high, max_width)
        if high < 1:
            low = high = 0
        else:
            low = min(low, high)
        low, high = min(low + 2, max_width), min(high + 2, max_width)
    low = max(0, min(max(0, low), high))
    high = max(0, max(low, high))
    low, high = min(low, max_width), min(high, max_width)
    if high < 1:
        return 0, 0
    return min(low, high), high


def _wrap(plain: str, width: int, no_wrap: bool, overflow: str) -> list[str] | None:
    """Text.wrap of printable ASCII text in one style, justified left: its lines, each padded or
    cut to `width` (one cell a character). None where that takes more than this knows."""
    if overflow not in ("fold", "ellipsis"):
        return None
    if no_wrap:
        pieces = [plain]
    else:
        offsets = divide_line(plain, width, fold=overflow == "fold")
        bounds = [0, *offsets, len(plain)]
        pieces = [plain[a:b] for a, b in itertools.pairwise(bounds)]
        # rstrip_end: the spaces a break left past the width go.
        pieces = [
            p[: len(p) - min(len(p) - len(p.rstrip()), len(p) - width)] if len(p) > width else p
            for p in pieces
        ]
    lines = []
    for p in pieces:
        if len(p) > width:
            p = p[: width - 1] + "…" if overflow == "ellipsis" else p[:width]
        lines.append(p.ljust(width))
    return lines


def _shape(
    lines: list[list[Segment]], width: int, height: int, style: Style, header: bool
) -> list[list[Segment]]:
    """Segment.set_shape of Segment.align_top (align_bottom for the header) for lines already
    `width` wide: blank lines added."""
    if width < 3:
        align = Segment.align_bottom if header else Segment.align_top
        return Segment.set_shape(align(lines, width, height, style), width, height)
    blank = [[Segment(" " * width, style)]] * (height - len(lines))
    return blank + lines if header else lines + blank


class FleetTable:
    """Renders `table` (a rich Table) exactly as rich would, quickly for many plain rows."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table
        if not _drawable(table) or not table.columns:
            yield table
            return
        header_style = console.get_style(table.header_style or "")
        headers = [
            console.render_str(c.header, highlight=False) if isinstance(c.header, str) else c.header
            for c in table.columns
        ]
        header_styles = [header_style + console.get_style(c.header_style) for c in table.columns]
        columns = [
            [cast(Text, h), *cast(list[Text], c._cells)]
            for h, c in zip(headers, table.columns, strict=True)
        ]
        plains = [[cell.plain for cell in cells] for cells in columns]
        widths = self._widths(plains, options.max_width - table._extra_width)
        box = HEAVY_HEAD.substitute(options, safe=console.safe_box)
        null = Style.null()
        cache: dict[tuple[object, ...], list[list[Segment]]] = {}
        edges = [
            (Segment(box.head_left), Segment(box.head_right), Segment(box.head_vertical)),
            (Segment(box.mid_left), Segment(box.mid_right), Segment(box.mid_vertical)),
            (Segment(box.foot_left), Segment(box.foot_right), Segment(box.foot_vertical)),
        ]
        new_line = Segment.line()
        yield Segment(box.get_top(widths))
        yield new_line
        rows = len(columns[0])
        for index in range(rows):
            header = index == 0
            cells = [
                self._cell(
                    console,
                    options,
                    column,
                    cells[index],
                    plains[n][index],
                    width,
                    header_styles[n] if header else null,
                    cache,
                )
                for n, (column, cells, width) in enumerate(
                    zip(table.columns, columns, widths, strict=True)
                )
            ]
            height = max(1, *(len(cell) for cell in cells))
            if any(len(cell) != height for cell in cells):
                cells = [
                    _shape(cell, width, height, header_styles[n] if header else null, header)
                    for n, (cell, width) in enumerate(zip(cells, widths, strict=True))
                ]
            left, right, divider = edges[0 if header else (2 if index == rows - 1 else 1)]
            for line_no in range(height):
                yield left
                for n, cell in enumerate(cells):
                    if n:
                        yield divider
                    yield from cell[line_no]
                yield right
                yield new_line
            if header:
                yield Segment(box.get_row(widths, "head", edge=True))
                yield new_line
        yield Segment(box.get_bottom(widths))
        yield new_line

    def _widths(self, plains: list[list[str]], max_width: int) -> list[int]:
        """Table._calculate_column_widths, from the cells' plain text."""
        columns = self.table.columns
        # A fleet's cells repeat ("ok", "-", the same times and percentages): each text is
        # measured once per width.
        measured: dict[tuple[str, int], tuple[int, int]] = {}

        def measure_once(plain: str, width: int) -> tuple[int, int]:
            found = measured.get((plain, width))
            if found is None:
                found = measured[plain, width] = _measure(plain, width)
            return found

        def measure(n: int, width: int) -> tuple[int, int]:
            if width < 1:
                return 0, 0
            found = [measure_once(p, width) for p in plains[n]]
            low = max(m[0] for m in found)
            high = max(m[1] for m in found)
            return min(low, width), min(high, width)

        widths = [measure(n, max_width)[1] or 1 for n in range(len(columns))]
        if sum(widths) > max_width:
            widths = Table._collapse_widths(
                widths, [c.width is None and not c.no_wrap for c in columns], max_width
            )
            if sum(widths) > max_width:
                excess = sum(widths) - max_width
                widths = ratio_reduce(excess, [1] * len(widths), widths, widths)
            widths = [measure(n, width)[1] or 0 for n, width in enumerate(widths)]
        return widths

    @staticmethod
    def _cell(
        console: Console,
        options: ConsoleOptions,
        column: Column,
        text: Text,
        plain: str,
        width: int,
        style: Style,
        cache: dict[tuple[object, ...], list[list[Segment]]],
    ) -> list[list[Segment]]:
        """A cell's lines, each `width` wide."""
        inner = width - 2
        plain_text = (
            inner >= 1
            and not text.spans
            and text.justify is None
            and text.overflow is None
            and text.no_wrap is None
            and text.end == "\n"
        )
        bodies: list[str] | None = None
        if plain_text and "\n" not in plain and "\t" not in plain and cell_len(plain) <= inner:
            bodies = [f"{plain}{' ' * (inner - cell_len(plain))}"]
        elif plain_text and plain.isascii() and plain.isprintable():
            bodies = _wrap(plain, inner, column.no_wrap, column.overflow)
        if bodies is not None:
            # What rich makes of a plain Text in a padded cell: each line padded to the width in
            # the text's style, a space either side, all in the cell's style.
            own = console.get_style(text.style) if text.style else None
            if style:
                pad, own = Segment(" ", style), style + own
            else:
                pad = Segment(" ", Style.null())
            return [[pad, Segment(body, own), pad] for body in bodies]
        key = (plain, str(text.style), tuple(text.spans), text.justify, width, column._index, style)
        lines = cache.get(key)
        if lines is None:
            lines = cache[key] = console.render_lines(
                Padding(text, _PAD),
                options.update(
                    width=width,
                    justify=column.justify,
                    no_wrap=column.no_wrap,
                    overflow=column.overflow,
                    height=None,
                    highlight=column.highlight,
                ),
                style=style,
            )
        return lines
