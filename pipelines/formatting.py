"""How values read to a person: money in yuan, dates typed by a user, tables printed in the terminal."""

from __future__ import annotations

import io
import re
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines.errors import FundflowError

CENT = Decimal("0.01")
TEN_THOUSAND = Decimal(10_000)
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


def yuan(amount: Decimal | float | int | None, cents: bool = False) -> str:
    """Money as a person reads it in text: ¥1,234,500 (whole yuan), or ¥1,234,500.00 with `cents`."""
    value = Decimal(str(amount or 0))
    return f"¥{value:,.2f}" if cents else f"¥{value:,.0f}"


def yuan_value(amount: object) -> Decimal:
    """An amount in 元 with 2 decimals, for a spreadsheet cell."""
    return Decimal(str(amount or 0)).quantize(CENT, ROUND_HALF_UP)


def wan_value(amount: object) -> Decimal:
    """An amount in 万元 with 2 decimals, as the campaign tables report it."""
    return (Decimal(str(amount or 0)) / TEN_THOUSAND).quantize(CENT, ROUND_HALF_UP)


def day(value: date | datetime | None) -> str:
    """YYYY-MM-DD, or empty."""
    if value is None:
        return ""
    return (value.date() if isinstance(value, datetime) else value).isoformat()


# C0 and C1 control characters, DEL, and the bidirectional overrides that reorder what a terminal shows.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# What an export keeps of those: tab and line feed (a note may have lines); everything else is removed.
EXPORT_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def export_text(text: str) -> str:
    """Text from a file for an export cell: control characters and bidi overrides removed (CRLF becomes LF),
    so a spreadsheet shows what was stored and no escape sequence or reordering travels on in a file."""
    return EXPORT_UNPRINTABLE.sub("", text.replace("\r\n", "\n"))


def printable(text: str) -> str:
    """Text from a file for a terminal: control characters shown as escapes (\\x1b, \\n, \\u202e), never acted on."""
    return UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)
