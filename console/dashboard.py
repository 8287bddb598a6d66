"""The 统计看板 page: leads by status, sector, priority mark, region and age, new leads per week, the money, and
the provinces participants come from (their ID numbers' first two digits, counted at publish).

Every figure the campaign tables also carry comes from their own computation (`reports.campaign.period_summary`
and `summary_figures`), so the dashboard for a period says what table (a) of that period says. Charts are drawn
by Chart.js from console/node_modules (never a CDN) with the figures in a JSON block the page's script reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import State

from pipelines.cases import lifecycle
from pipelines.cases.sectors import SECTORS
from pipelines.errors import FundflowError
from pipelines.settings import Settings
from pipelines.vocabulary import DASHBOARD_AGES, LEAD_STATUS, PRIORITY_MARKS, PROVINCES
from reports.campaign import COUNTED_STATUSES, Period, by_province, parse_period, period_summary, summary_figures

WEEKS_SHOWN = 26
# (upper bound in days, label key) of the open leads' age buckets; the last has no bound.
AGE_BOUNDS = ((30, "d30"), (90, "d90"), (180, "d180"), (None, "older"))
WHOLE_LEDGER_START = date(2000, 1, 1)


def whole_ledger(today: date) -> Period:
    """Every lead up to today, each as it stands now (merged ones counted in the lead they went into)."""
    return Period(WHOLE_LEDGER_START, today, f"全部线索（截至 {today.isoformat()}）")


def figures(settings: Settings, period: Period, today: date) -> dict:
    """Everything the dashboard shows for `period`, as plain numbers and labels."""
    summary = period_summary(settings, period)
    row = summary_figures(summary)
    as_of = min(period.end, today)
    open_leads = [f for f in summary.leads if f.status in lifecycle.OPEN_STATUSES or f.status == "ON_HOLD"]
    ages: Counter = Counter()
    for facts in open_leads:
        days = (as_of - facts.lead["created_at"].date()).days
        ages[next(key for bound, key in AGE_BOUNDS if bound is None or days <= bound)] += 1
    regions = Counter(facts.main_province for facts in summary.leads if facts.main_province)
    people: Counter[str] = Counter()
    money: dict[str, float] = {}
    for facts in summary.leads:
        for item in by_province(facts):
            people[item["province"]] += int(item["participants"])
            money[item["province"]] = money.get(item["province"], 0.0) + float(item["amount"])
    first_week = as_of - timedelta(days=as_of.weekday() + 7 * (WEEKS_SHOWN - 1))
    weeks = [first_week + timedelta(days=7 * n) for n in range(WEEKS_SHOWN)]
    new_by_week = Counter(
        facts.lead["created_at"].date() - timedelta(days=facts.lead["created_at"].weekday())
        for facts in summary.leads
        if facts.lead["created_at"].date() >= first_week
    )
    return {
        "period": period.label,
        "totals": {
            "leads": row["leads"],
            "leads_new": row["leads_new"],
            "open": len(open_leads),
            "amount": float(row["amount"]),
            "participants": int(row["participants"] or 0),
            "repaid": float(row["repaid"]),
        },
        "status": [(LEAD_STATUS[code], row[f"status_{code}"]) for code in COUNTED_STATUSES],
        "sector": [(sector.label_zh, row[f"sector_{code}"]) for code, sector in SECTORS.items()],
        "priority": [(label, row[f"priority_{code}"]) for code, label in PRIORITY_MARKS.items()],
        "age": [(DASHBOARD_AGES[key], ages[key]) for _bound, key in AGE_BOUNDS],
        "region": [(PROVINCES.get(code, code), count) for code, count in regions.most_common()],
        "provinces": [
            (PROVINCES.get(code, code), count, round(money[code] / 10000, 2)) for code, count in people.most_common()
        ],
        "weeks": [(week.isoformat(), new_by_week[week]) for week in weeks],
    }


def add_routes(pages: APIRouter, page: Callable[..., Response], current_user: Callable, state: State) -> None:
    @pages.get("/dashboard")
    def dashboard_page(request: Request, period: str = "", user=Depends(current_user)) -> Response:
        today = state.store.today()
        problem = ""
        try:
            chosen = parse_period(period, today) if period.strip() else whole_ledger(today)
        except FundflowError as exc:
            problem, chosen = str(exc), whole_ledger(today)
        shown = figures(state.settings, chosen, today)
        return page(request, "dashboard.html", user, shown=shown, period=period.strip()[:40], problem=problem)
