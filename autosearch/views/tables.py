"""Plain-text tables that fit the terminal, measured in display cells.

A wide character (CJK, most emoji) takes two cells, a combining mark none, so a table's columns line up
whatever the text. The width is ``COLUMNS`` when set, else the terminal's; output that goes to a file or
a pipe (no terminal, no ``COLUMNS``) is not cut. To fit, long text columns (an error, a note) are clipped
with ``…`` first, then the least important columns are dropped, named in a last line; ``--wide`` keeps them.
"""

from __future__ import annotations

import os
import sys
import textwrap
import unicodedata
from dataclasses import dataclass
from typing import IO, Sequence

GAP = "  "
ELLIPSIS = "…"
LAST_RESORT = 6  # cells a column keeps when nothing more can be dropped


def cells(text: str) -> int:
    """How many terminal cells ``text`` takes (East Asian wide and full-width characters two, marks none)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cc"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def clip(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` cells, ending in ``…`` when cut."""
    if cells(text) <= width:
        return text
    out, used = "", 0
    for ch in text:
        w = cells(ch)
        if used + w > width - 1:
            break
        out, used = out + ch, used + w
    return out + ELLIPSIS if width > 0 else ""


def pad(text: str, width: int, align: str = "<") -> str:
    space = " " * max(width - cells(text), 0)
    return space + text if align == ">" else text + space


def terminal_width(stream: IO[str] | None = None) -> int | None:
    """``COLUMNS`` if it is a positive number, else the width of the terminal ``stream`` (stdout) writes to,
    else None: a file or a pipe gets whole lines."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (captured output)
        pass
    return None


@dataclass(frozen=True)
class Column:
    """One column: ``key`` names it (the sort key), ``header`` is what people read. ``priority`` 0 is never
    dropped; higher numbers are dropped first. ``fold``: long text, clipped down to ``min_width`` first."""

    key: str
    header: str
    priority: int = 0
    align: str = "<"
    fold: bool = False
    min_width: int = 10


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[str]]  # one text cell per column

    def natural(self, i: int) -> int:
        return max([cells(self.columns[i].header), *(cells(r[i]) for r in self.rows)])

    def fit(self, width: int | None) -> tuple[list[int], dict[int, int]]:
        """The indices of the columns kept and the width of each (in cells) so that a line fits ``width``:
        text columns clipped first, then the least important dropped, then the rest clipped as a last resort."""
        kept = list(range(len(self.columns)))
        if width is None:
            return kept, {i: self.natural(i) for i in kept}
        while True:
            widths = {i: self.natural(i) for i in kept}
            excess = sum(widths.values()) + len(GAP) * (len(kept) - 1) - width
            excess = _shrink(widths, excess, {i: self.columns[i].min_width for i in kept if self.columns[i].fold})
            droppable = [i for i in kept if self.columns[i].priority > 0]
            if excess <= 0 or not droppable:
                _shrink(widths, excess, {i: LAST_RESORT for i in kept})
                return kept, widths
            kept.remove(max(droppable, key=lambda i: (self.columns[i].priority, i)))

    def render(self, width: int | None = None) -> str:
        """The table in ``width`` cells (None: as wide as it needs), then the names of dropped columns."""
        if not self.rows:
            return "(no rows)"
        kept, widths = self.fit(width)

        def line(values: Sequence[str]) -> str:
            text = GAP.join(pad(clip(values[i], widths[i]), widths[i], self.columns[i].align) for i in kept)
            text = text.rstrip()
            return clip(text, width) if width is not None else text  # a table of unbreakable columns

        lines = [line([c.header for c in self.columns]), *(line(r) for r in self.rows)]
        hidden = [c.header for i, c in enumerate(self.columns) if i not in kept]
        if hidden:
            note = f"({len(hidden)} columns hidden to fit {width}: {', '.join(hidden)}; --wide shows them)"
            lines.append(wrap(note, width, ""))
        return "\n".join(lines)

    def markdown(self) -> str:
        """A pipe table with every column (for pasting into documents, where the reader's width is unknown)."""
        escape = lambda text: text.replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(escape(c.header) for c in self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(escape(v) for v in r) + " |" for r in self.rows]
        return "\n".join(lines)


def _shrink(widths: dict[int, int], excess: int, floors: dict[int, int]) -> int:
    """Narrow the columns in ``floors`` (widest first, one cell at a time, none below its floor) by up to
    ``excess`` cells; what is still in excess."""
    while excess > 0:
        room = [i for i, floor in floors.items() if widths[i] > floor]
        if not room:
            break
        widest = max(room, key=lambda i: widths[i])
        widths[widest], excess = widths[widest] - 1, excess - 1
    return excess


def wrap(text: str, width: int | None, indent: str = "  ") -> str:
    """A long line (a run's header) wrapped to ``width`` cells, continued with ``indent``; as it is for None."""
    if width is None or cells(text) <= width:
        return text
    lines = textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=True)
    return "\n".join(clip(line, width) for line in lines)  # textwrap counts characters, a wide one takes two cells
