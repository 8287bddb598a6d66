"""The console's 报告机构 page: the reporting institutions' scorecard with a sortable table and a bar chart per
measure. It reads the masked snapshot that `fundflow institutions report` and the nightly run write under the
home folder, never the warehouse, so it keeps working while the nightly run holds DuckDB."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from pipelines.settings import Settings
from pipelines.vocabulary import DETECTOR_FIELDS, DIRECTION, HOW_REPORTED, INSTITUTION_MEASURES
from reports.institutions import CHARTED, SHARES, crossed_text, read_snapshots

TABLE_COLUMNS = (
    "institution_code",
    "files",
    "lines",
    "quarantine_rate",
    "soft_finding_rate",
    "late_share",
    "max_lag_working_days",
    "working_days_since_last_file",
    "missing_leg_share",
    "large_unreported",
    "missed_suspicious",
    "completeness_lowest",
)
BAR_WIDTH = 320


def shown(key: str, value) -> str:
    if value is None:
        return "—"
    if key in SHARES:
        return f"{float(value) * 100:.1f}%"
    return str(value)


def charts(summary: list[dict]) -> list[dict]:
    """One horizontal bar chart per measure: label, and per institution the bar's length and the value shown."""
    drawn = []
    for key in CHARTED:
        values = [float(row.get(key) or 0) for row in summary]
        # shares are drawn on a 0–100% scale, so a 2% rate reads as small; counts against the largest
        top = 1.0 if key in SHARES else (max(values, default=0) or 1)
        drawn.append(
            {
                "key": key,
                "label": INSTITUTION_MEASURES[key],
                "bars": [
                    {
                        "institution_code": row["institution_code"],
                        "length": round(BAR_WIDTH * value / top, 1),
                        "text": shown(key, row.get(key)),
                    }
                    for row, value in zip(summary, values, strict=True)
                ],
            }
        )
    return drawn


def add_routes(pages: APIRouter, page: Callable[..., Response], current_user: Callable, settings: Settings) -> None:
    @pages.get("/institutions")
    def institutions_page(request: Request, period: str = "", user=Depends(current_user)) -> Response:
        snapshots = read_snapshots(settings)
        chosen = next((s for s in snapshots if s["period"]["key"] == period), snapshots[0] if snapshots else None)
        summary = chosen["summary"] if chosen else []
        rows = [
            {
                "cells": [(key, row.get(key), shown(key, row.get(key))) for key in TABLE_COLUMNS],
                "crossed": crossed_text(row.get("crossed") or []),
            }
            for row in summary
        ]
        tables = chosen["tables"] if chosen else {}
        return page(
            request,
            "institutions.html",
            user,
            snapshot=chosen,
            periods=[(s["period"]["key"], s["period"]["label"]) for s in snapshots],
            headers=[(key, INSTITUTION_MEASURES[key]) for key in TABLE_COLUMNS],
            rows=rows,
            charts=charts(summary),
            bar_width=BAR_WIDTH,
            missed=[dict(r, how=HOW_REPORTED.get(r["how_reported"], "")) for r in tables.get("missed", [])],
            large=[dict(r, side=DIRECTION.get(r["direction"], "")) for r in tables.get("large_unreported", [])],
            completeness=tables.get("completeness", []),
            fields=list(DETECTOR_FIELDS.items()),
        )
