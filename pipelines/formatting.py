"""How values read to a person: money in yuan, dates typed by a user, tables printed in the terminal."""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable, Sequence
from datetime import date

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines.errors import FundflowError

TABLE_MAX_WIDTH = 400
"""Wider than any table we print: rich never shrinks or wraps a column to fit a narrow terminal."""


def parse_date(text: str | None, what: str = "") -> date | None:
    """`YYYY-MM-DD` → date; empty → None. `what` names the field in the message (e.g. 期限)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FundflowError(f"{what}日期格式应为 YYYY-MM-DD / date must be YYYY-MM-DD: '{text}'") from None


def table_text(headers: Sequence[str], rows: Iterable[Sequence[object]], right: Collection[int] = ()) -> str:
    """Rows as a plain-text terminal table (rich): columns padded by display width, so a Chinese character takes
    two columns; cells are never wrapped or read as markup. `right` holds the positions of right-aligned columns."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="", highlight=False)
    for position, header in enumerate(headers):
        table.add_column(header, justify="right" if position in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    out = io.StringIO()
    Console(file=out, width=TABLE_MAX_WIDTH, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())
