"""One test for each console bug of issue 17 (item 7): closed leads, form errors, unmask reloads, the graph's
time filter, messages without CLI syntax, ledger words, the first event's wording."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from pipelines.cases import lifecycle
from pipelines.cases.store import audit
from tests.console.conftest import COLLECTOR, add_lead, csrf_of

LEAD = "XS2025-000001"


def closed_lead(store) -> None:
    add_lead(store, LEAD, 3)
    lifecycle.assign(store, LEAD, "analyst", "analyst", "初核")
    lifecycle.propose_close(store, LEAD, "analyst", "无集资特征")
    lifecycle.confirm_close(store, LEAD, "reviewer", "同意排除")


def test_a_closed_lead_shows_no_live_forms_and_no_pending_confirmation(store, client_for):
    closed_lead(store)
    page = client_for("supervisor").get(f"/leads/{LEAD}").text
    assert "待另一人确认" not in page
    for action in ("/move", "/assign", "/close/propose", "/close/confirm", "/measures"):
        assert f'action="/leads/{LEAD}{action}"' not in page, action
    assert "本线索已销号（analyst 提出，reviewer 确认）" in page


def test_a_form_missing_a_field_gets_a_chinese_message_not_json(store, client_for):
    add_lead(store, LEAD, 3)
    client = client_for("analyst")
    token = csrf_of(client.get(f"/leads/{LEAD}").text)
    response = client.post(f"/leads/{LEAD}/move", data={"csrf_token": token, "note": "x"})
    assert response.url.path == f"/leads/{LEAD}" and response.status_code == 200
    assert "请填写或更正：目标状态" in response.text
    assert '{"detail"' not in response.text and '"type":"missing"' not in response.text


def test_reloading_after_an_unmask_writes_no_second_audit_record(store, client_for):
    add_lead(store, LEAD, 3)
    reviewer = client_for("reviewer")
    page = reviewer.get(f"/leads/{LEAD}").text
    choice = re.search(r'<option value="(account:[^"]+)">账号 622202\*+0026', page).group(1)
    posted = reviewer.post(
        f"/leads/{LEAD}/unmask",
        data={"choice": choice, "reason": "调取流水", "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert posted.status_code == 303 and posted.headers["location"].startswith(f"/leads/{LEAD}?shown=")
    for _ in range(2):  # the result page, then a reload of it
        assert COLLECTOR in reviewer.get(posted.headers["location"]).text
    with store.read() as conn:
        unmasks = conn.execute(sa.select(sa.func.count()).where(audit.c.action == "unmask")).scalar()
    assert unmasks == 1
    # another user cannot read the number through the same address
    assert COLLECTOR not in client_for("supervisor").get(posted.headers["location"]).text


def test_the_prefilled_whole_range_keeps_every_node_and_unpaid_accounts_are_counted(store, client_for):
    add_lead(store, LEAD, 6)
    client = client_for("analyst")
    whole = client.get(f"/api/leads/{LEAD}/graph").json()
    start, end = whole["range"]["start"], whole["range"]["end"]
    again = client.get(f"/api/leads/{LEAD}/graph?start={start}&end={end}").json()
    assert len(again["nodes"]) == len(whole["nodes"]) and not again["filtered"]
    narrow = client.get(f"/api/leads/{LEAD}/graph?start={start}&end={start}").json()
    assert narrow["filtered"] and narrow["without_payments"] == whole["accounts"] - (len(narrow["nodes"]))


def test_a_reversed_date_range_says_so(store, client_for):
    add_lead(store, LEAD, 3)
    response = client_for("analyst").get(f"/api/leads/{LEAD}/graph?start=2025-04-01&end=2025-03-01")
    assert response.status_code == 400 and "晚于结束日期" in response.json()["detail"]


def test_messages_quote_no_command_line_syntax(store, client_for):
    add_lead(store, LEAD, 3)
    lifecycle.assign(store, LEAD, "analyst", "analyst", "初核")
    lifecycle.move(store, LEAD, "CONSULTATION", "analyst", "会商")
    lifecycle.move(store, LEAD, "DETERMINED_ILLEGAL", "reviewer", "认定")
    client = client_for("reviewer")
    token = csrf_of(client.get(f"/leads/{LEAD}").text)
    refused = client.post(f"/leads/{LEAD}/move", data={"status": "DISPOSITION", "note": "处置", "csrf_token": token})
    assert "须先在台账中登记处置事项" in refused.text
    measure = lifecycle.add_measure(store, LEAD, "POLICE_TRANSFER", "reviewer", "移送", date(2030, 1, 1))
    missing_ref = client.post(
        f"/leads/{LEAD}/measures/{measure}/done", data={"note": "已移送", "csrf_token": token}
    ).text
    assert "移送文书编号" in missing_ref
    for page in (refused.text, missing_ref):
        flashed = " ".join(re.findall(r'<div class="flash error">([^<]*)</div>', page))
        assert flashed and "--" not in flashed and "leads measure" not in flashed


def test_a_closed_lead_refuses_assignment_without_saying_already_twice(store, client_for):
    closed_lead(store)
    try:
        lifecycle.assign(store, LEAD, "analyst", "supervisor", "再分配")
    except lifecycle.LifecycleError as exc:
        assert "已已" not in str(exc) and "「已销号」" in str(exc)
    else:
        raise AssertionError("a closed lead was assigned")


def test_ledger_shows_chinese_types_the_transfer_number_and_the_amount(store, client_for):
    add_lead(store, LEAD, 3)
    lifecycle.assign(store, LEAD, "analyst", "analyst", "初核")
    transfer = lifecycle.add_measure(store, LEAD, "POLICE_TRANSFER", "analyst", "移送", date(2030, 1, 1))
    lifecycle.complete_measure(store, LEAD, transfer, "analyst", "已移送", transfer_no="YS-2025-007", amount=12345.6)
    lifecycle.add_measure(store, LEAD, "FINE", "analyst", "罚款", date(2030, 1, 1))
    ledger = client_for("analyst").get(f"/leads/{LEAD}").text.split('id="measures"')[1].split("</table>")[0]
    assert "移送公安机关" in ledger and "行政处置" in ledger
    assert "TRANSFER_POLICE" not in ledger.replace('"TRANSFER_POLICE"', "") and ">ADMIN<" not in ledger
    assert "YS-2025-007" in ledger and "¥12,345.60" in ledger


def test_the_first_event_names_the_rule_engine_and_alerts_name_the_account(store, client_for):
    add_lead(store, LEAD, 3)
    page = client_for("analyst").get(f"/leads/{LEAD}").text
    events = page.split('id="events"')[1]
    assert "模型生成" not in events and "规则引擎生成" in events and ">生成线索<" in events
    alerts = page.split('id="alerts"')[1].split("</table>")[0]
    assert "金华某某养老服务有限公司 622202*********0018" in alerts
