"""The scorecard's parameters as data: `rules/institutions/scorecard.yaml` (deadlines, Art. 5 thresholds, alert
bars) and `rules/institutions/holidays.yaml` (public holidays and make-up working days), checked as a whole.

Every problem is collected first and reported as `path: field: message`, like the rule pack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from detectors.pack import parse_yaml
from pipelines.errors import ConfigError

SCORECARD_FILE = "scorecard.yaml"
HOLIDAYS_FILE = "holidays.yaml"
TOP_KEYS = (
    "version",
    "source",
    "large_deadline_working_days",
    "suspicious_deadline_working_days",
    "large_value_thresholds",
    "suspect_roles",
    "alerts",
)
THRESHOLD_KEYS = ("cash", "org_transfer", "person_transfer", "person_cross_border")
ALERT_KEYS = (
    "no_file_working_days",
    "quarantine_rate",
    "late_share",
    "missing_leg_share",
    "large_unreported",
    "missed_suspicious",
)
SHARE_ALERTS = ("quarantine_rate", "late_share", "missing_leg_share")
LEAD_ROLES = ("hub", "collector", "investor", "promoter", "controller", "other")
log = logging.getLogger("fundflow.institutions")


@dataclass(frozen=True)
class WorkCalendar:
    """Monday–Friday, less public holidays, plus the weekend days worked in their place (调休)."""

    holidays: frozenset[date]
    workdays: frozenset[date]
    years: tuple[int, ...]
    """Years whose holidays are listed; other years count weekends only."""

    def is_working(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def working_days_after(self, start: date, end: date) -> int:
        """Working days in (start, end]: 1 when `end` is the next working day; 0 when end ≤ start."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working(day)
        return count

    def add_working_days(self, start: date, days: int) -> date:
        day = start
        while days > 0:
            day += timedelta(days=1)
            days -= self.is_working(day)
        return day

    def unlisted_years(self, first: date, last: date) -> list[int]:
        return [year for year in range(first.year, last.year + 1) if year not in self.years]


@dataclass(frozen=True)
class ScorecardRules:
    version: str
    large_deadline: int
    suspicious_deadline: int
    thresholds: dict[str, float]
    """Art. 5 bars in yuan: cash, org_transfer, person_transfer, person_cross_border."""
    suspect_roles: tuple[str, ...]
    alerts: dict[str, float]
    calendar: WorkCalendar


def _shown(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}/{path.name}"


def _read(path: Path, problems: list[str]) -> Any:
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{_shown(path)}: 文件缺失 / file missing")
        return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{_shown(path)}: 无法读取 / unreadable: {' '.join(str(exc).split())}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{_shown(path)}: 应为键值表 / expected a mapping")
        return None
    return data


def _number(value: Any, whole: bool = False) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    if whole and not isinstance(value, int):
        return None
    return value


def _keys(shown: str, where: str, data: dict, expected: tuple[str, ...], problems: list[str]) -> None:
    for key in data:
        if key not in expected:
            problems.append(f"{shown}: {where}{key}: 未知字段 / unknown key '{key}'")
    for key in expected:
        if key not in data:
            problems.append(f"{shown}: {where}{key}: 缺少字段 / missing key")


def _dates(shown: str, key: str, values: Any, problems: list[str]) -> frozenset[date]:
    if not isinstance(values, list):
        problems.append(f"{shown}: {key}: 应为日期列表 / must be a list of dates YYYY-MM-DD")
        return frozenset()
    found = set()
    for value in values:
        if isinstance(value, date):
            found.add(value)
        else:
            problems.append(f"{shown}: {key}: 不是日期 / not a date YYYY-MM-DD: {value!r}")
    return frozenset(found)


def load_calendar(path: Path, problems: list[str]) -> WorkCalendar:
    shown = _shown(path)
    data = _read(path, problems) or {}
    if data:
        _keys(shown, "", data, ("years", "holidays", "workdays"), problems)
    years = data.get("years", [])
    if not (isinstance(years, list) and all(isinstance(y, int) and not isinstance(y, bool) for y in years)):
        problems.append(f"{shown}: years: 应为年份列表 / must be a list of years")
        years = []
    holidays = _dates(shown, "holidays", data.get("holidays", []), problems)
    workdays = _dates(shown, "workdays", data.get("workdays", []), problems)
    for day in sorted(holidays | workdays):
        if day.year not in years:
            problems.append(f"{shown}: years: {day} 的年份未列入 years / year of {day} is not listed in years")
            break
    for day in sorted(workdays):
        if day.weekday() < 5:
            problems.append(f"{shown}: workdays: {day} 不是周末 / is not a weekend day")
    return WorkCalendar(holidays, workdays, tuple(sorted(years)))


def load_scorecard_rules(folder: str | Path) -> ScorecardRules:
    """Read and check both files; raise ConfigError listing every problem."""
    folder = Path(folder)
    problems: list[str] = []
    calendar = load_calendar(folder / HOLIDAYS_FILE, problems)
    path = folder / SCORECARD_FILE
    shown = _shown(path)
    data = _read(path, problems)
    rules = None
    if data is not None:
        _keys(shown, "", data, TOP_KEYS, problems)
        deadlines = {}
        for key in ("large_deadline_working_days", "suspicious_deadline_working_days"):
            value = _number(data.get(key), whole=True)
            if key in data and (value is None or value < 1):
                problems.append(f"{shown}: {key}: 应为正整数 / must be a whole number of working days ≥ 1")
            deadlines[key] = int(value or 1)
        thresholds = _mapping(shown, "large_value_thresholds", data, THRESHOLD_KEYS, problems)
        alerts = _mapping(shown, "alerts", data, ALERT_KEYS, problems)
        for key in SHARE_ALERTS:
            if alerts.get(key, 0) > 1:
                problems.append(f"{shown}: alerts.{key}: 占比应在 0 到 1 之间 / a share must be between 0 and 1")
        roles = data.get("suspect_roles")
        if "suspect_roles" in data and (
            not isinstance(roles, list) or not roles or any(role not in LEAD_ROLES for role in roles)
        ):
            problems.append(
                f"{shown}: suspect_roles: 应为角色列表 / must be a list of roles from {', '.join(LEAD_ROLES)}"
            )
            roles = []
        rules = ScorecardRules(
            version=str(data.get("version", "")),
            large_deadline=deadlines["large_deadline_working_days"],
            suspicious_deadline=deadlines["suspicious_deadline_working_days"],
            thresholds=thresholds,
            suspect_roles=tuple(roles or ()),
            alerts=alerts,
            calendar=calendar,
        )
    if problems or rules is None:
        raise ConfigError("评分卡参数无效 / invalid scorecard parameters:\n  " + "\n  ".join(problems))
    return rules


def _mapping(shown: str, key: str, data: dict, expected: tuple[str, ...], problems: list[str]) -> dict[str, float]:
    given = data.get(key)
    if key not in data:
        return {}
    if not isinstance(given, dict):
        problems.append(f"{shown}: {key}: 应为键值表 / expected a mapping")
        return {}
    _keys(shown, f"{key}.", given, expected, problems)
    values = {}
    for name in expected:
        if name not in given:
            continue
        value = _number(given[name])
        if value is None:
            problems.append(f"{shown}: {key}.{name}: 应为非负数 / must be a number ≥ 0, got {given[name]!r}")
        else:
            values[name] = float(value)
    return values
