"""The 统计看板 page: its figures are table (a)'s for the same period (one computation), plus region, age,
new leads per week and the participants' provinces; Chart.js is served locally."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from pipelines.cases.store import leads
from reports.campaign import parse_period, period_summary, summary_figures
from tests.console.conftest import add_lead


def shown_figures(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)[1])


def test_dashboard_counts_are_the_campaign_tables_figures(store, settings, client_for):
    add_lead(store, "XS2025-000001", 4)
    add_lead(store, "XS2025-000002", 6, status="TRIAGE", priority=("many_elderly",))
    add_lead(store, "XS2025-000003", 2, status="CLOSED")
    stats = {
        "by_province": [
            {"province": "33", "participants": 3, "amount": "30000"},
            {"province": "44", "participants": 1, "amount": "10000"},
        ]
    }
    old = store.now() - timedelta(days=100)
    with store.write() as conn:
        conn.execute(leads.update().where(leads.c.lead_id == "XS2025-000001").values(province_stats=stats))
        conn.execute(leads.update().where(leads.c.lead_id == "XS2025-000002").values(province_stats=stats))
        conn.execute(leads.update().where(leads.c.lead_id == "XS2025-000002").values(created_at=old))
    page = client_for("analyst").get("/dashboard")
    assert page.status_code == 200 and "统计看板" in page.text
    shown = shown_figures(page.text)
    period = parse_period(f"2000-01-01:{store.today().isoformat()}", store.today())
    table_a = summary_figures(period_summary(settings, period))
    status = dict(shown["status"])
    assert status["新线索"] == table_a["status_NEW"] == 1 and status["初核"] == table_a["status_TRIAGE"] == 1
    assert status["已销号"] == table_a["status_CLOSED"] == 1
    assert shown["totals"]["leads"] == table_a["leads"] == 3
    assert shown["totals"]["amount"] == float(table_a["amount"])
    assert dict(shown["sector"])["养老"] == table_a["sector_elderly_care"] == 3
    # Participants' provinces summed over leads; region of the subject; ages of the two open leads.
    assert shown["provinces"][0] == ["浙江", 6, 6.0] and shown["provinces"][1] == ["广东", 2, 2.0]
    assert dict(shown["region"]) == {"浙江": 3}
    assert dict(shown["age"]) == {"30 天以内": 1, "31–90 天": 0, "91–180 天": 1, "180 天以上": 0}
    assert sum(count for _week, count in shown["weeks"]) == 3
    assert dict(shown["priority"])["涉老年人多"] == table_a["priority_many_elderly"] == 1
    assert '<canvas id="chart-status"' in page.text and "/vendor/chart.umd.min.js" in page.text


def test_dashboard_for_a_quarter_matches_that_quarters_export(store, settings, client_for):
    add_lead(store, "XS2025-000001", 4)  # money moved in 2025Q1 (March): counts there though opened today
    client = client_for("reviewer")
    q1 = shown_figures(client.get("/dashboard", params={"period": "2025Q1"}).text)
    table_a = summary_figures(period_summary(settings, parse_period("2025Q1", store.today())))
    assert q1["totals"]["leads"] == table_a["leads"] == 1
    q3 = shown_figures(client.get("/dashboard", params={"period": "2025Q3"}).text)
    assert q3["totals"]["leads"] == 0
    bad = client.get("/dashboard", params={"period": "someday"})
    assert "统计期间格式应为" in bad.text


def test_chart_library_is_served_from_node_modules(client_for):
    response = client_for().get("/vendor/chart.umd.min.js")
    assert response.status_code == 200 and "Chart" in response.text[:2000]
    assert response.headers["content-type"].startswith("text/javascript")
