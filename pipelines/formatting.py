"""Dates typed by a user, on the command line or in the console."""

from __future__ import annotations

from datetime import date

from pipelines.errors import FundflowError


def parse_date(text: str | None, what: str = "") -> date | None:
    """`YYYY-MM-DD` → date; empty → None. `what` names the field in the message (e.g. 期限)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FundflowError(f"{what}日期格式应为 YYYY-MM-DD / date must be YYYY-MM-DD: '{text}'") from None
