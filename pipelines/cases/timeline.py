"""A lead's timeline: money into and out of its core per day, or per week over a long span — one computation
for the console and the dossier. It reads the lead's stored figures (every payment, pipelines.cases.evidence);
a lead published before the figures existed falls back to its evidence payments."""

from __future__ import annotations

from datetime import date, timedelta

MAX_DAILY_BARS = 120
"""Beyond this many days the bars are weeks (days)."""


def lead_timeline(lead: dict) -> list[dict]:
    """[{day (date), days (bar width), inflow, outflow}], the first bar on the first day with money."""
    daily = _daily_from_figures(lead) if (lead.get("figures") or {}).get("days") else _daily_from_payments(lead)
    if not daily:
        return []
    first, last = min(daily), max(daily)
    span = (last - first).days + 1
    width = 1 if span <= MAX_DAILY_BARS else 7
    buckets: list[dict] = [
        {"day": first + timedelta(days=i), "days": width, "inflow": 0.0, "outflow": 0.0} for i in range(0, span, width)
    ]
    for day, (inflow, outflow) in daily.items():
        bucket = buckets[(day - first).days // width]
        bucket["inflow"] += inflow
        bucket["outflow"] += outflow
    for bucket in buckets:
        bucket["inflow"], bucket["outflow"] = round(bucket["inflow"], 2), round(bucket["outflow"], 2)
    return buckets


def _daily_from_figures(lead: dict) -> dict[date, tuple[float, float]]:
    return {
        date.fromisoformat(str(row["day"])[:10]): (float(row["inflow"]), float(row["outflow"]))
        for row in lead["figures"]["days"]
    }


def _daily_from_payments(lead: dict) -> dict[date, tuple[float, float]]:
    """Money across the boundary of the lead's own accounts (all but the participants), from the evidence."""
    core = {a["account_no"] for a in lead["accounts"] if a["role"] != "investor"} or {
        a["account_no"] for a in lead["accounts"]
    }
    daily: dict[date, tuple[float, float]] = {}
    for payment in lead["payments"]:
        into, out_of = payment["payee_account"] in core, payment["payer_account"] in core
        if into == out_of:
            continue
        inflow, outflow = daily.get(payment["txn_time"].date(), (0.0, 0.0))
        amount = float(payment["amount"] or 0)
        daily[payment["txn_time"].date()] = (inflow + amount, outflow) if into else (inflow, outflow + amount)
    return daily
