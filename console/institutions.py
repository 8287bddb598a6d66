"""The console's 报告机构 page: the reporting institutions' scorecard with a sortable table and a bar chart per
measure. It reads the masked snapshot that `fundflow institutions report` and the nightly run write under the
home folder, never the warehouse, so it keeps working while the nightly run holds DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import State

from detectors.pack import parse_yaml
from pipelines.errors import FundflowError
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
NAMES_FILE = "names.yaml"


def institution_names(settings: Settings) -> dict[str, str]:
    """code → name from `rules/institutions/names.yaml` (the office's register; none when the file is absent)."""
    path: Path = settings.institutions_rules_dir / NAMES_FILE
    if not path.exists():
        return {}
    try:
        loaded = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise FundflowError(f"{path}: 不是有效的 YAML / not valid YAML: {exc}") from None
    names = loaded.get("names") if isinstance(loaded, dict) else None
    if not isinstance(names, dict):
        raise FundflowError(f"{path}: 缺少 names 表 / needs a 'names' mapping of code to name")
    for code, name in names.items():
        if not isinstance(name, str) or not name.strip():
            raise FundflowError(f"{path}: names.{code} 应为机构名称 / names.{code} must be a name")
    return {str(code): name.strip() for code, name in names.items()}


def named(names: dict[str, str], code: str | None) -> str:
    """「name（code）」for a registered institution, the code alone otherwise."""
    if not code:
        return ""
    return f"{names[code]}（{code}）" if code in names else code


def shown(key: str, value, names: dict[str, str] | None = None) -> str:
    if key == "institution_code":
        return named(names or {}, value)
    if value is None:
        return "—"
    if key in SHARES:
        return f"{float(value) * 100:.1f}%"
    return str(value)


def charts(summary: list[dict], names: dict[str, str] | None = None) -> list[dict]:
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
                        "institution_code": named(names or {}, row["institution_code"]),
                        "length": round(BAR_WIDTH * value / top, 1),
                        "text": shown(key, row.get(key)),
                    }
                    for row, value in zip(summary, values, strict=True)
                ],
            }
        )
    return drawn


def add_routes(pages: APIRouter, page: Callable[..., Response], current_user: Callable, state: State) -> None:
    @pages.get("/institutions")
    def institutions_page(request: Request, period: str = "", user=Depends(current_user)) -> Response:
        snapshots = read_snapshots(state.settings)
        chosen = next((s for s in snapshots if s["period"]["key"] == period), snapshots[0] if snapshots else None)
        summary = chosen["summary"] if chosen else []
        names = institution_names(state.settings)
        rows = [
            {
                "cells": [(key, row.get(key), shown(key, row.get(key), names)) for key in TABLE_COLUMNS],
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
            charts=charts(summary, names),
            bar_width=BAR_WIDTH,
            missed=[
                dict(
                    r, how=HOW_REPORTED.get(r["how_reported"], ""), institution_code=named(names, r["institution_code"])
                )
                for r in tables.get("missed", [])
            ],
            large=[
                dict(
                    r,
                    side=DIRECTION.get(r["direction"], ""),
                    institution_code=named(names, r["institution_code"]),
                    other_institution=named(names, r.get("other_institution")),
                )
                for r in tables.get("large_unreported", [])
            ],
            completeness=[
                dict(r, institution_code=named(names, r["institution_code"])) for r in tables.get("completeness", [])
            ],
            fields=list(DETECTOR_FIELDS.items()),
        )
