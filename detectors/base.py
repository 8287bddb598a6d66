"""The small contract every detector keeps: a frozen dataclass of parameters, and a function that returns
`Alert` records for one window. Detectors read the warehouse through a DuckDB connection and never import
`pipelines` or Prefect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

import duckdb


@dataclass(frozen=True)
class Window:
    """The span a run looks at: the `days` days ending with `as_of` (inclusive)."""

    as_of: date
    days: int

    @property
    def start(self) -> datetime:
        return datetime.combine(self.as_of - timedelta(days=self.days - 1), time.min)

    @property
    def end(self) -> datetime:
        """Exclusive end: midnight after `as_of`."""
        return datetime.combine(self.as_of + timedelta(days=1), time.min)


def grid_day_before(day: date, step_days: int) -> date:
    """The latest day before `day` on a fixed calendar grid of `step_days` (days whose ordinal is a multiple).
    Windows stepping back through a run end on this grid rather than at whole steps before the run's end, so the
    next night, whose run ends a day later, has the same windows but its newest and earliest, and what was kept
    for them (pipelines.detection.window_results) still applies."""
    return day - timedelta(days=day.toordinal() % step_days or step_days)


@dataclass(frozen=True)
class Alert:
    """One rule firing on one subject in one window (预警)."""

    rule_id: str
    typology: str
    subject_kind: str  # "account" or "actor"
    subject: str
    window_start: datetime
    window_end: datetime
    metrics: dict[str, Any]
    evidence: tuple[str, ...]  # payment ids
    strength: float  # 0..1, how far past its thresholds the subject is; the runner weights it into a score
    reason_zh: str
    reason_en: str
    accounts: tuple[str, ...] = field(default=())  # accounts of an actor subject; (subject,) for an account


@dataclass(frozen=True)
class Rule:
    """A rule from the pack: which detector, with which parameters, and how it is presented."""

    rule_id: str
    detector: str
    typology: str
    title_zh: str
    title_en: str
    weight: float
    version: str
    source: str
    params: Any  # the detector's Params dataclass instance
    path: str = ""


class Detector(Protocol):
    """What a detector module provides (see detectors/__init__.py for the registry)."""

    TYPOLOGY: str
    Params: type

    def detect(self, con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]: ...


def alert_id(run_id: str, alert: Alert) -> str:
    """The alert's id in the warehouse: md5 of run id, rule id, subject and window start."""
    key = f"{run_id}|{alert.rule_id}|{alert.subject}|{alert.window_start.isoformat()}"
    return hashlib.md5(key.encode("utf-8")).hexdigest()
