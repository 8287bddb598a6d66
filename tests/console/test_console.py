"""The console's pages and JSON over a filled case store: queue filters and sorting, the graph and timeline,
decisions through the forms, the `users` command, and serving while the warehouse is held by another process."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import duckdb
import pytest

from console import downloads, views
from pipelines.cases import lifecycle
from pipelines.cli import main as fundflow
from tests.console.conftest import PASSWORD, add_lead, csrf_of, investor_account, login

SMALL, BIG, OTHER = "XS2025-000001", "XS2025-000002", "XS2025-000003"


@pytest.fixture
def three_leads(store):
    add_lead(store, SMALL, 5, score=0.9, typologies=("fan_in",), provinces=("33",))
    add_lead(
        store,
        BIG,
        60,
        score=0.5,
        typologies=("fan_in", "interest_payout"),
        provinces=("33", "44"),
        priority=("cross_province",),
    )
    add_lead(store, OTHER, 20, score=0.7, typologies=("pass_through",), provinces=("32",))
    lifecycle.assign(store, OTHER, "analyst2", "reviewer", "交给 analyst2", due=date(2020, 1, 1))


def lead_ids(html: str) -> list[str]:
    import re

    return re.findall(r'<a href="/leads/(XS[\d-]+)">', html)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [SMALL, OTHER, BIG]),
        ("?sort=amount", [BIG, OTHER, SMALL]),
        ("?sort=participants", [BIG, OTHER, SMALL]),
        ("?status=TRIAGE", [OTHER]),
        ("?status=NEW&sort=participants", [BIG, SMALL]),
        ("?typology=interest_payout", [BIG]),
        ("?region=44", [BIG]),
        ("?region=33", [SMALL, OTHER, BIG]),  # every subject is registered in 33
        ("?region=32", [OTHER]),
        ("?priority=cross_province", [BIG]),
        ("?assignee=analyst2", [OTHER]),
        ("?overdue=1", [OTHER]),
        ("?typology=cycle", []),
    ],
)
def test_queue_filters_and_sorts(three_leads, client_for, query, expected):
    html = client_for("analyst").get("/" + query).text
    assert lead_ids(html) == expected


def test_queue_speaks_chinese(three_leads, client_for):
    html = client_for("analyst").get("/").text
    for label in ("线索队列", "新线索", "初核", "分散转入集中转出", "跨省", "广东", "超期", "按流入金额"):
        assert label in html


def test_graph_folds_many_investors_into_one_expandable_node(three_leads, client_for):
    client = client_for("analyst")
    grouped = client.get(f"/api/leads/{BIG}/graph").json()
    assert grouped["accounts"] == 62 and grouped["grouped"] == 60
    assert sorted(node["role"] for node in grouped["nodes"]) == ["collector", "hub", "investor", "other"]
    folded = next(node for node in grouped["nodes"] if node["grouped"])
    assert folded["total_out"] == sum(2 * (10000 + i) for i in range(60))
    expanded = client.get(f"/api/leads/{BIG}/graph?expand=1").json()
    assert len(expanded["nodes"]) == 62 + 1 and expanded["grouped"] == 0
    # Money is the same however it is drawn.
    assert sum(e["amount"] for e in grouped["edges"]) == pytest.approx(sum(e["amount"] for e in expanded["edges"]))
    small = client.get(f"/api/leads/{SMALL}/graph").json()
    assert small["grouped"] == 0 and len(small["nodes"]) == 5 + 2 + 1


def test_graph_time_range_keeps_only_payments_inside_it(three_leads, client_for):
    client = client_for("analyst")
    whole = client.get(f"/api/leads/{SMALL}/graph").json()
    assert whole["range"] == {"first": "2025-03-01", "last": "2025-04-15", "start": "2025-03-01", "end": "2025-04-15"}
    march = client.get(f"/api/leads/{SMALL}/graph?start=2025-03-01&end=2025-03-03").json()
    # Investors 0, 1, 2 pay on days 0, 1, 2: three investors, the hub and the collector; no cash yet.
    assert len(march["nodes"]) == 5
    assert sum(edge["count"] for edge in march["edges"]) == 3
    assert all(0 <= edge["t"] <= 1 for edge in whole["edges"])
    assert client.get(f"/api/leads/{SMALL}/graph?start=March").status_code == 400


def test_timeline_counts_money_into_and_out_of_the_core(three_leads, store):
    lead = store.get_lead(SMALL)
    points = views.timeline(lead)  # a lead without stored figures: from its evidence payments
    assert points[0]["day"] == "2025-03-01" and points[-1]["day"] == "2025-04-15"
    assert sum(p["inflow"] for p in points) == sum(2 * (10000 + i) for i in range(5))
    assert sum(p["outflow"] for p in points) == 300000  # the sweep from collector to hub is internal


def test_node_detail_lists_the_accounts_payments(three_leads, client_for, app):
    client = client_for("analyst")
    key = views.node_key(app.state.secret, investor_account(3))
    detail = client.get(f"/api/leads/{SMALL}/accounts/{key}").json()
    assert detail["role_label"] == "参与人账户" and detail["count_out"] == 2 and detail["total_out"] == 20006
    assert {p["counterparty"] for p in detail["payments"]} == {"王某某 622202*********0026"}
    assert client.get(f"/api/leads/{SMALL}/accounts/a123").status_code == 404
    assert client.get("/api/leads/XS2099-999999/graph").status_code == 404


def test_lead_page_shows_reasons_ledger_payments_and_history(three_leads, client_for):
    html = client_for("analyst").get(f"/leads/{SMALL}").text
    for shown in (
        "30 天内 5 名个人转入",
        "转入人中 60% 年满 60 岁",
        "处置台账",
        "交易明细",
        "处理记录",
        "规则引擎生成",
        "养老项目认购",
        "¥10,004.00",
    ):
        assert shown in html
    assert client_for("analyst").get("/leads/XS2099-999999").status_code == 404


def test_decisions_through_the_forms(three_leads, store, client_for):
    analyst = client_for("analyst")
    token = csrf_of(analyst.get(f"/leads/{SMALL}").text)

    def post(path, **form):
        return analyst.post(f"/leads/{SMALL}{path}", data={"csrf_token": token, **form}).text

    assert "须填写说明" in post("/move", status="TRIAGE", note="  ")
    refused = post("/move", status="CLOSED", note="直接销号")
    assert "不能从「新线索」转为「已销号」" in refused and "可转为" in refused
    assert "已分配给 analyst" in post("/assign", assignee="analyst", note="本人初核")
    assert "已转为「会商研判」" in post("/move", status="CONSULTATION", note="提请会商", expected_status="TRIAGE")
    assert "已登记处置事项" in post("/measures", kind="WARNING_TALK", due="2025-06-30", note="约谈法人")
    measure_id = store.get_lead(SMALL)["measures"][0]["measure_id"]
    assert "已销号" in post(f"/measures/{measure_id}/done", note="约谈笔录已存档")
    assert "金额应为数字" in post(f"/measures/{measure_id}/done", note="x", amount="many")
    lead = store.get_lead(SMALL)
    assert lead["status"] == "CONSULTATION" and lead["measures"][0]["status"] == "DONE"
    assert [e["action"] for e in lead["events"]] == ["created", "move", "move", "measure_add", "measure_done"]
    # Someone else moved it meanwhile: the stale form is refused.
    assert "已被他人改为" in post("/move", status="ON_HOLD", note="等待银行回函", expected_status="TRIAGE")
    assert store.verify_events().ok


def test_every_download_is_offered_and_works(three_leads, client_for):
    client = client_for("analyst")
    html = client.get(f"/leads/{SMALL}").text
    assert "下载卷宗" in html and 'href="/exports"' in html
    token = csrf_of(html)
    for kind in downloads.KINDS:
        response = client.post(f"/exports/{kind}", data={"csrf_token": token, "lead_id": SMALL}, follow_redirects=False)
        assert response.status_code == 200 and response.content, kind


def test_users_command_adds_lists_changes_and_disables(settings, capsys):
    home = ["--home", str(settings.home)]
    assert fundflow(home + ["users", "add", "zhang", "--role", "reviewer", "--password", PASSWORD]) == 0
    assert fundflow(home + ["users", "add", "zhang", "--role", "reviewer", "--password", PASSWORD]) == 1
    assert fundflow(home + ["users", "add", "li", "--role", "analyst", "--password", "short"]) == 1
    assert fundflow(home + ["users", "passwd", "zhang", "--password", "another long one"]) == 0
    assert fundflow(home + ["users", "disable", "zhang"]) == 0
    assert fundflow(home + ["users", "disable", "nobody"]) == 1
    assert fundflow(home + ["users", "list"]) == 0
    out = capsys.readouterr()
    assert "zhang\t复核员\treviewer\t停用" in out.out
    assert "用户已存在" in out.err and "密码至少" in out.err and "未知用户" in out.err


def test_a_changed_password_is_the_one_that_works(store, client_for):
    from console import users

    users.set_password(store, "analyst", "a brand new password")
    client = client_for()
    assert login(client, "analyst").status_code == 401
    assert login(client, "analyst", "a brand new password").status_code == 303


def test_console_serves_a_lead_while_another_process_holds_the_warehouse(three_leads, settings, client_for):
    from pipelines.warehouse import db as warehouse

    warehouse.connect(settings).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "con.execute('CREATE TABLE IF NOT EXISTS held(x INT)'); print('held', flush=True); "
            "time.sleep(60)",
            str(settings.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(duckdb.Error):
            duckdb.connect(str(settings.warehouse_path))  # the warehouse really is taken
        client = client_for("analyst")
        page = client.get(f"/leads/{SMALL}")
        assert page.status_code == 200 and "30 天内 5 名个人转入" in page.text
        assert client.get(f"/api/leads/{SMALL}/graph").status_code == 200
        token = csrf_of(page.text)
        moved = client.post(
            f"/leads/{SMALL}/assign", data={"assignee": "analyst", "note": "夜间运行中照常分配", "csrf_token": token}
        )
        assert "已分配给 analyst" in moved.text
    finally:
        holder.kill()
        holder.wait()
