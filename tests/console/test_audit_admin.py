"""The auditor's 审计日志 page and the administrator's 用户管理 page, through the TestClient: filters, paging,
the chains' verification status, who may open them, and user changes that end sessions."""

from __future__ import annotations

import sqlalchemy as sa

from console import users
from pipelines.cases.store import audit
from tests.console.conftest import PASSWORD, add_lead, csrf_of, login

LEAD, OTHER = "XS2025-000001", "XS2025-000002"


def test_auditor_filters_the_audit_log_by_user_action_lead_and_date(store, client_for):
    add_lead(store, LEAD, 3)
    add_lead(store, OTHER, 3)
    reviewer = client_for("reviewer")
    reviewer.get(f"/leads/{LEAD}")
    reviewer.get(f"/leads/{OTHER}")
    client_for("analyst").get(f"/leads/{LEAD}")
    auditor = client_for("auditor")
    page = auditor.get("/audit", params={"user": "reviewer", "action": "view", "target": LEAD})
    assert page.status_code == 200
    table = page.text.split('id="audit-log"')[1]
    assert "共 1 条记录" in page.text and table.count("<tr>") == 2  # header + the one view
    assert "查看线索" in table and LEAD in table and OTHER not in table
    assert "审计日志</b>：哈希链校验通过" in page.text and "线索处理记录</b>：哈希链校验通过" in page.text
    today = store.today().isoformat()
    assert "共 0 条记录" in auditor.get("/audit", params={"start": "2000-01-01", "end": "2000-01-31"}).text
    assert "共 1 条记录" in auditor.get("/audit", params={"user": "reviewer", "target": LEAD, "end": today}).text
    reversed_range = auditor.get("/audit", params={"start": today, "end": "2000-01-01"})
    assert "晚于结束日期" in reversed_range.text
    # Lead events: the lead filter lists one lead's history.
    history = auditor.get("/audit", params={"log": "events", "target": OTHER}).text
    assert "共 1 条记录" in history and "生成线索" in history
    # Viewing the log is itself audited, with the filter used.
    with store.read() as conn:
        seen = conn.execute(sa.select(audit.c.detail).where(audit.c.action == "audit_view")).scalars().all()
    assert {"log": "audit", "user": "reviewer", "action": "view", "start": "", "end": ""} in seen


def test_audit_log_pages_and_shows_a_broken_chain(store, client_for):
    for number in range(120):
        store.write_audit("analyst", "search", detail={"n": number})
    auditor = client_for("auditor")
    first = auditor.get("/audit", params={"action": "search"}).text
    assert "共 120 条记录，第 1/3 页" in first and 'id="next-page"' in first
    third = auditor.get("/audit", params={"action": "search", "page": 3}).text
    assert "第 3 / 3 页" in third and third.split('id="audit-log"')[1].count("<tr>") == 21
    with store.write() as conn:
        conn.execute(audit.update().where(audit.c.seq == 30).values(reason="事后改写"))
    reused = auditor.get("/audit").text  # checked a moment ago: the result shown is that check's, with its time
    assert "审计日志</b>：哈希链校验通过" in reused and "重新校验" in reused
    broken = auditor.get("/audit", params={"verify": "1"}).text
    assert "审计日志</b>：哈希链校验失败——第 30 条起不可信" in broken


def test_only_the_auditor_opens_the_audit_log_and_only_the_admin_manages_users(store, client_for):
    for role in ("analyst", "reviewer", "supervisor", "auditor", "admin"):
        client = client_for(role)
        audit_page = client.get("/audit")
        if role == "auditor":
            assert audit_page.status_code == 200 and 'href="/audit"' in audit_page.text
        else:
            assert audit_page.status_code == 403 and "只有审计员" in audit_page.text, role
        if role == "admin":
            continue
        assert client.get("/admin/users").status_code == 403, role
        client.post("/admin/users/analyst2/disable", data={"csrf_token": csrf_of(client.get("/account").text)})
        assert users.active_user(store, "analyst2") is not None, role


def test_admin_adds_changes_and_disables_users_and_each_ends_their_sessions(store, client_for):
    admin = client_for("admin")
    page = admin.get("/admin/users").text
    token = csrf_of(page)
    assert "analyst2" in page and "用户管理" in page
    added = admin.post(
        "/admin/users", data={"name": "新人", "role": "analyst", "password": "x" * 12, "csrf_token": token}
    )
    assert "已新增用户 新人（分析员）" in added.text
    short = admin.post("/admin/users", data={"name": "短", "role": "analyst", "password": "x", "csrf_token": token})
    assert "密码至少 10 位" in short.text

    worker = client_for("analyst2")
    assert worker.get("/", follow_redirects=False).status_code == 200
    promoted = admin.post("/admin/users/analyst2/role", data={"role": "reviewer", "csrf_token": token})
    assert "analyst2 的角色已改为「复核员」" in promoted.text
    assert worker.get("/", follow_redirects=False).status_code == 303  # the old role's session ended
    assert store.get_user("analyst2")["role"] == "reviewer"

    worker = client_for("analyst2")
    reset = admin.post("/admin/users/analyst2/password", data={"password": "new password 1", "csrf_token": token})
    assert "已为 analyst2 设置新密码" in reset.text
    assert worker.get("/", follow_redirects=False).status_code == 303
    assert login(client_for(), "analyst2", PASSWORD).status_code == 401
    worker = client_for()
    assert login(worker, "analyst2", "new password 1").status_code == 303

    disabled = admin.post("/admin/users/analyst2/disable", data={"csrf_token": token})
    assert "已停用 analyst2" in disabled.text
    assert worker.get("/", follow_redirects=False).status_code == 303
    assert login(client_for(), "analyst2", "new password 1").status_code == 401
    admin.post("/admin/users/analyst2/enable", data={"csrf_token": token})
    assert login(client_for(), "analyst2", "new password 1").status_code == 303

    refused = admin.post("/admin/users/admin/disable", data={"csrf_token": token})
    assert "不能停用自己的账号" in refused.text and users.active_user(store, "admin") is not None
    with store.read() as conn:
        actions = conn.execute(sa.select(audit.c.action).where(audit.c.user == "admin")).scalars().all()
    assert {"user_add", "user_role", "user_passwd", "user_disable", "user_enable"} <= set(actions)


def test_admin_exports_the_campaign_statistics_but_no_lead_files(store, client_for):
    add_lead(store, LEAD, 3)
    admin = client_for("admin")
    page = admin.get("/exports")
    assert page.status_code == 200 and "/exports/campaign" in page.text and "/exports/leads" not in page.text
    token = csrf_of(page.text)
    campaign = admin.post("/exports/campaign", data={"csrf_token": token, "period": "2025"})
    assert campaign.status_code == 200 and "spreadsheetml" in campaign.headers["content-type"]
    for what, form in (("leads", {}), ("dossier", {"lead_id": LEAD})):
        refused = admin.post(f"/exports/{what}", data={"csrf_token": token, **form})
        assert refused.status_code == 403 and "不能导出" in refused.text, what
    with store.read() as conn:
        exported = conn.execute(sa.select(audit.c.user).where(audit.c.action == "export")).scalars().all()
    assert exported == ["admin"]
