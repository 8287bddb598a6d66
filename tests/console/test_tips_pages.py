"""The console's 群众举报 pages (TestClient): intake by an analyst, the reporter masked in the list and the detail,
reveal refused to an analyst and granted to a supervisor with a reason (audited), a tip attached to a lead by
name, and a manual lead opened from a tip's accounts."""

from __future__ import annotations

import sqlalchemy as sa

from pipelines.cases.store import audit
from pipelines.warehouse import db as warehouse
from tests.console.conftest import add_lead, csrf_of

REPORTER_PHONE = "13588889999"
REPORTER_ID = "330782195203041527"
OTHER_ACCOUNT = "6228480000000000042"


def intake(client, **fields):
    token = csrf_of(client.get("/tips").text)
    form = {
        "csrf_token": token,
        "received_at": "2025-04-02T09:30",
        "channel": "PHONE",
        "content": "有人以养老公寓为名高息揽储",
        "reporter_name": "王秀英",
        "reporter_phone": REPORTER_PHONE,
        "reporter_id_no": REPORTER_ID,
        **fields,
    }
    return client.post("/tips", data=form, follow_redirects=False)


def test_intake_masks_the_reporter_and_only_a_supervisor_reveals_with_a_reason(client_for, store):
    analyst = client_for("analyst")
    response = intake(analyst, subjects="某某公司")
    assert response.status_code == 303
    tip_url = response.headers["location"]
    for html in (analyst.get("/tips").text, analyst.get(tip_url).text):
        assert REPORTER_PHONE not in html and REPORTER_ID not in html and "王秀英" not in html
        assert "135****9999" in html
    detail = analyst.get(tip_url).text
    assert 'id="reveal"' not in detail
    refused = analyst.post(tip_url + "/reveal", data={"csrf_token": csrf_of(detail), "reason": "看看"})
    assert REPORTER_PHONE not in refused.text

    supervisor = client_for("supervisor")
    page = supervisor.get(tip_url).text
    assert 'id="reveal"' in page and REPORTER_PHONE not in page
    no_reason = supervisor.post(tip_url + "/reveal", data={"csrf_token": csrf_of(page), "reason": ""})
    assert REPORTER_PHONE not in no_reason.text
    shown = supervisor.post(tip_url + "/reveal", data={"csrf_token": csrf_of(page), "reason": "须回访举报人"})
    assert REPORTER_PHONE in shown.text and REPORTER_ID in shown.text and "王秀英" in shown.text
    assert REPORTER_PHONE not in supervisor.get(tip_url).text  # without the audited reveal, masked again
    tip_id = tip_url.rsplit("/", 1)[1]
    with store.read() as conn:
        rows = conn.execute(sa.select(audit).where(audit.c.target == f"tip:{tip_id}")).mappings().all()
    assert [(r["user"], r["action"], r["reason"]) for r in rows] == [
        ("analyst", "unmask_refused", None),
        ("supervisor", "unmask", "须回访举报人"),
    ]


def test_a_tip_naming_a_leads_company_attaches_at_intake(client_for, store):
    add_lead(store, "XS2025-000001", 5)  # its hub: 金华某某养老服务有限公司
    analyst = client_for("analyst")
    response = intake(analyst, subjects="金华某某养老 合作社")
    page = analyst.get(response.headers["location"]).text
    assert "已关联线索" in page and "名称归一后相同" in page and "XS2025-000001" in page


def test_a_manual_lead_from_a_tip_in_the_console(client_for, settings):
    con = warehouse.connect(settings)
    con.execute(
        "INSERT INTO parties (account_no, holder_name, holder_kind, holder_phone) VALUES (?, '惠民合作社', 'ORG', ?)",
        [OTHER_ACCOUNT, "13905761234"],
    )
    con.execute(
        "INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payer_name, payer_kind, "
        "payee_account, payee_name, payee_kind, method, is_cash) VALUES "
        "('p1', 'one_leg', TIMESTAMP '2025-03-01 10:00', 50000, '6217000000000000001', '张三', 'PERSON', ?, "
        "'惠民合作社', 'ORG', 'TRANSFER', false)",
        [OTHER_ACCOUNT],
    )
    con.close()
    analyst = client_for("analyst")
    tip_url = intake(analyst, phones="139 0576 1234").headers["location"]
    page = analyst.get(tip_url).text
    matched = analyst.post(tip_url + "/match", data={"csrf_token": csrf_of(page)})
    assert "622848*********0042" in matched.text and OTHER_ACCOUNT not in matched.text
    opened = analyst.post(tip_url + "/lead", data={"csrf_token": csrf_of(matched.text), "note": "举报称高息"})
    assert opened.url.path.startswith("/leads/XS")
    tip_id = tip_url.rsplit("/", 1)[1]
    assert f"据群众举报 {tip_id} 人工立线索" in opened.text  # the lead's history names the tip and the analyst
