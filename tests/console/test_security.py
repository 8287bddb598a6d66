"""Who may see and do what in the console: sessions, CSRF, roles, unmasking, login throttling, escaping."""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from starlette.routing import Mount

from console.app import PUBLIC_PATHS
from pipelines.cases import lifecycle
from pipelines.cases.store import audit, leads
from pipelines.cases.store import sessions as sessions_table
from pipelines.cases.store import users as users_table
from pipelines.vocabulary import ROLES
from tests.console.conftest import COLLECTOR, HUB, PASSWORD, SUBJECT_ID, add_lead, csrf_of, login

LEAD = "XS2025-000001"
PATH_VALUES = {
    "lead_id": LEAD,
    "measure_id": "1",
    "attachment_id": "1",
    "key": "a0000000000000000",
    "what": "leads",
    "tip_id": "JB2025-000001",
    "reward_id": "1",
    "name": "analyst",
}


def every_route(routes):
    """(path, method) of every route, looking inside included routers, so new routes are covered by themselves."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from every_route(inner.routes)
        elif isinstance(route, APIRoute):
            for method in route.methods:
                yield route.path, method
        elif isinstance(route, Mount):
            yield route.path, "MOUNT"


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def test_every_route_refuses_without_a_session(app, store, client_for):
    add_lead(store, LEAD, 3)
    client = client_for()
    checked = 0
    for path, method in every_route(app.routes):
        if path in PUBLIC_PATHS:
            continue
        assert method != "MOUNT", f"mounted {path} is reachable without a session"
        response = client.request(method, concrete(path), follow_redirects=False)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login"), (method, path)
        assert HUB not in response.text and "金华" not in response.text
        checked += 1
    assert checked >= 14


def test_public_paths_hold_no_data(client_for):
    client = client_for()
    assert client.get("/login").status_code == 200
    assert client.get("/static/console.css").status_code == 200


def test_post_without_or_with_wrong_csrf_token_is_refused(app, store, client_for):
    add_lead(store, LEAD, 3)
    client = client_for("reviewer")
    posts = [path for path, method in every_route(app.routes) if method == "POST" and path not in PUBLIC_PATHS]
    assert len(posts) >= 8
    for path in posts:
        for form in ({"note": "x", "status": "TRIAGE"}, {"note": "x", "status": "TRIAGE", "csrf_token": "forged"}):
            response = client.post(concrete(path), data=form, follow_redirects=False)
            assert response.status_code == 403, (path, form, response.status_code)
    assert client.get(f"/leads/{LEAD}").status_code == 200  # still logged in: logout needs the token too
    with store.read() as conn:
        assert conn.execute(sa.select(leads.c.status)).scalar() == "NEW"
    # The login form itself needs the token of the session that showed it.
    fresh = client_for()
    fresh.get("/login")
    response = fresh.post("/login", data={"name": "analyst", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403


def test_csrf_token_is_renewed_at_login(client_for):
    client = client_for()
    before = csrf_of(client.get("/login").text)
    assert login(client, "analyst").status_code == 303
    after = csrf_of(client.get("/").text)
    assert after != before


def test_analyst_cannot_confirm_own_close_out(store, client_for):
    add_lead(store, LEAD, 3)
    lifecycle.assign(store, LEAD, "analyst", "analyst", "初核")
    analyst = client_for("analyst")
    token = csrf_of(analyst.get(f"/leads/{LEAD}").text)
    analyst.post(f"/leads/{LEAD}/close/propose", data={"note": "无集资特征，正常经营", "csrf_token": token})
    page = analyst.post(f"/leads/{LEAD}/close/confirm", data={"note": "确认", "csrf_token": token}).text
    assert "角色「分析员」不能转为「已销号」" in page
    assert store.get_lead(LEAD)["status"] == "TRIAGE"
    assert store.get_lead(LEAD)["close_proposed_by"] == "analyst"

    reviewer = client_for("reviewer")
    token = csrf_of(reviewer.get(f"/leads/{LEAD}").text)
    page = reviewer.post(f"/leads/{LEAD}/close/confirm", data={"note": "同意排除", "csrf_token": token}).text
    assert "已确认销号" in page
    assert store.get_lead(LEAD)["status"] == "CLOSED"


def test_proposer_cannot_confirm_even_as_reviewer(store, client_for):
    add_lead(store, LEAD, 3)
    lifecycle.assign(store, LEAD, "analyst", "analyst", "初核")
    reviewer = client_for("reviewer")
    token = csrf_of(reviewer.get(f"/leads/{LEAD}").text)
    reviewer.post(f"/leads/{LEAD}/close/propose", data={"note": "排除", "csrf_token": token})
    page = reviewer.post(f"/leads/{LEAD}/close/confirm", data={"note": "确认", "csrf_token": token}).text
    assert "提出人（reviewer）以外的人确认" in page
    assert store.get_lead(LEAD)["status"] == "TRIAGE"


def test_numbers_are_masked_and_only_reviewers_unmask_with_a_logged_reason(store, client_for):
    add_lead(store, LEAD, 3)
    analyst = client_for("analyst")
    page = analyst.get(f"/leads/{LEAD}").text
    graph = analyst.get(f"/api/leads/{LEAD}/graph").text
    node = analyst.get(f"/api/leads/{LEAD}/graph").json()["nodes"][0]["id"]
    detail = analyst.get(f"/api/leads/{LEAD}/accounts/{node}").text
    queue = analyst.get("/").text
    for shown in (page, graph, detail, queue):
        for whole in (HUB, COLLECTOR, SUBJECT_ID):
            assert whole not in shown
    assert "622202*********0018" in page
    assert "查看完整号码" not in page

    token = csrf_of(page)
    refused = analyst.post(
        f"/leads/{LEAD}/unmask", data={"choice": "subject_id", "reason": "核查", "csrf_token": token}
    )
    assert refused.status_code == 403 and "91330782MA2XXXXX1K" not in refused.text

    reviewer = client_for("reviewer")
    page = reviewer.get(f"/leads/{LEAD}").text
    choice = re.search(r'<option value="(account:[^"]+)">账号 622202\*+0026', page).group(1)
    token = csrf_of(page)
    no_reason = reviewer.post(f"/leads/{LEAD}/unmask", data={"choice": choice, "reason": " ", "csrf_token": token})
    assert COLLECTOR not in no_reason.text
    shown = reviewer.post(
        f"/leads/{LEAD}/unmask", data={"choice": choice, "reason": "调取银行流水", "csrf_token": token}
    )
    assert shown.status_code == 200 and COLLECTOR in shown.text
    with store.read() as conn:
        rows = (
            conn.execute(sa.select(audit).where(audit.c.action.in_(["unmask", "unmask_refused"])).order_by(audit.c.seq))
            .mappings()
            .all()
        )
    assert [(r["user"], r["action"], r["target"]) for r in rows] == [
        ("analyst", "unmask_refused", LEAD),
        ("reviewer", "unmask", LEAD),
    ]
    assert rows[1]["reason"] == "调取银行流水"
    assert COLLECTOR not in str(dict(rows[1]))  # the audit says what was revealed, not the number itself
    assert store.verify_audit().ok


def test_five_wrong_passwords_lock_further_tries(store, client_for):
    client = client_for()
    for _ in range(5):
        assert login(client, "analyst", "wrong password!").status_code == 401
    row = store.get_user("analyst")
    assert row["failed_logins"] == 5 and row["locked_until"] > store.now()
    locked = login(client, "analyst")  # even the right password waits
    assert locked.status_code == 429 and "分钟后再试" in locked.text
    assert client.get("/", follow_redirects=False).status_code == 303

    with store.write() as conn:
        conn.execute(
            users_table.update()
            .where(users_table.c.name == "analyst")
            .values(locked_until=store.now() - timedelta(seconds=1))
        )
    assert login(client, "analyst").status_code == 303
    assert store.get_user("analyst")["failed_logins"] == 0


def test_four_wrong_passwords_do_not_lock(store, client_for):
    client = client_for()
    for _ in range(4):
        login(client, "analyst", "wrong password!")
    assert store.get_user("analyst")["locked_until"] is None
    assert login(client, "analyst").status_code == 303


def test_unknown_and_disabled_users_cannot_log_in(store, client_for):
    from console import users

    client = client_for()
    assert login(client, "nobody").status_code == 401
    users.disable_user(store, "analyst2")
    assert login(client, "analyst2").status_code == 401


def test_disabling_a_user_ends_their_session(store, client_for):
    from console import users

    client = client_for("analyst2")
    assert client.get("/").status_code == 200
    users.disable_user(store, "analyst2")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/leads").status_code == 401


def test_html_in_names_and_memos_is_shown_as_text(store, client_for):
    script = "<script>alert(1)</script>"
    add_lead(store, LEAD, 3, hub_name=f"{script}有限公司", investor_name=script, memo='<img src=x onerror="alert(2)">')
    client = client_for("reviewer")
    for path in ("/", f"/leads/{LEAD}"):
        html = client.get(path).text
        assert script not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in client.get(f"/leads/{LEAD}").text


def test_pages_send_security_headers(client_for):
    client = client_for("analyst")
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    cookie = client_for().get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_session_secret_is_private_to_its_owner(app, settings):
    secret = settings.home / "console_secret.key"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 40


def test_login_redirect_stays_on_this_site(client_for):
    client = client_for()
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"name": "analyst", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_read_but_do_not_decide(store, client_for, role):
    add_lead(store, LEAD, 3)
    client = client_for(role)
    page = client.get(f"/leads/{LEAD}").text
    assert "变更状态" not in page
    response = client.post(
        f"/leads/{LEAD}/assign", data={"assignee": "analyst", "note": "x", "csrf_token": csrf_of(page)}
    )
    assert f"角色「{ROLES[role]}」不能" in response.text
    assert store.get_lead(LEAD)["status"] == "NEW"


def test_production_passwords_use_argon2id_at_its_default_cost(monkeypatch):
    from console import auth

    monkeypatch.undo()  # drop the tests' cheap hasher
    made = auth.hash_password("x" * 12)
    assert made.split("$")[1:4] == ["argon2id", "v=19", "m=65536,t=3,p=4"]
    assert auth.password_matches(made, "x" * 12) and not auth.password_matches(made, "y" * 12)


def copied_session(client_for, name: str):
    """(logged-in client, a second client holding a copy of its cookie, the session's CSRF token)."""
    original = client_for(name)
    token = csrf_of(original.get("/").text)
    thief = client_for()
    thief.cookies.set("fundflow_session", original.cookies.get("fundflow_session"))
    assert thief.get("/", follow_redirects=False).status_code == 200  # the copy works while the session lives
    return original, thief, token


def assert_refused(client, token: str) -> None:
    """Queue, graph API and an export POST all refuse the cookie."""
    queue = client.get("/", follow_redirects=False)
    assert queue.status_code == 303 and queue.headers["location"].startswith("/login")
    assert client.get(f"/api/leads/{LEAD}/graph").status_code == 401
    exported = client.post("/exports/leads", data={"csrf_token": token}, follow_redirects=False)
    assert exported.status_code in (303, 403) and "spreadsheetml" not in exported.headers.get("content-type", "")


def test_cookie_copied_before_logout_is_refused_after_it(store, client_for):
    add_lead(store, LEAD, 3)
    original, thief, token = copied_session(client_for, "analyst")
    assert original.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert_refused(thief, token)
    with store.read() as conn:
        ended = conn.execute(sa.select(sessions_table.c.end_reason)).scalars().all()
    assert ended == ["logout"]


def test_cookie_is_refused_after_a_password_change(store, client_for):
    add_lead(store, LEAD, 3)
    original, thief, token = copied_session(client_for, "analyst")
    other_browser = client_for("analyst")
    changed = original.post(
        "/account/password",
        data={"current": PASSWORD, "new": "a new password 2", "repeat": "a new password 2", "csrf_token": token},
        follow_redirects=False,
    )
    assert changed.headers["location"] == "/login"
    assert_refused(thief, token)
    assert_refused(other_browser, token)
    assert login(client_for(), "analyst", "a new password 2").status_code == 303


def test_wrong_current_password_changes_nothing(store, client_for):
    client = client_for("analyst")
    token = csrf_of(client.get("/account").text)
    page = client.post(
        "/account/password", data={"current": "wrong", "new": "x" * 12, "repeat": "x" * 12, "csrf_token": token}
    )
    assert "当前密码不正确" in page.text and client.get("/", follow_redirects=False).status_code == 200


def test_cookie_is_refused_after_the_user_is_disabled(store, client_for):
    from console import users

    add_lead(store, LEAD, 3)
    _original, thief, token = copied_session(client_for, "analyst2")
    users.disable_user(store, "analyst2")
    users.enable_user(store, "analyst2")  # enabling again does not bring the old session back
    assert_refused(thief, token)


def test_idle_session_ends(store, client_for, settings):
    add_lead(store, LEAD, 3)
    client = client_for("analyst")
    token = csrf_of(client.get("/").text)
    idle = timedelta(minutes=settings.console_idle_minutes, seconds=1)
    with store.write() as conn:
        conn.execute(sessions_table.update().values(last_seen=store.now() - idle))
    assert_refused(client, token)
    with store.read() as conn:
        assert conn.execute(sa.select(sessions_table.c.end_reason)).scalar() == "idle"


def test_wrong_passwords_answer_alike_for_known_and_unknown_names(store, client_for):
    def attempt(name: str):
        response = login(client_for(), name, "wrong password!")
        page = re.sub(r'name="csrf_token" value="[^"]*"', "", response.text).replace(name, "NAME")
        return response.status_code, page

    for _ in range(5):
        assert attempt("analyst") == attempt("no-such-user")
    known, unknown = attempt("analyst"), attempt("no-such-user")
    assert known == unknown and known[0] == 429
    assert "分钟后再试" in known[1]


def test_analyst_cannot_assign_to_a_supervisor(store, client_for):
    add_lead(store, LEAD, 3)
    analyst = client_for("analyst")
    page = analyst.get(f"/leads/{LEAD}").text
    offered = re.findall(r'<option value="([^"]+)"', page.split('name="assignee"')[1].split("</select>")[0])
    assert offered == ["analyst", "analyst2"]
    refused = analyst.post(
        f"/leads/{LEAD}/assign", data={"assignee": "supervisor", "note": "请主管办理", "csrf_token": csrf_of(page)}
    )
    assert "「分析员」不能把线索交给「主管」" in refused.text
    assert store.get_lead(LEAD)["assignee"] is None and store.get_lead(LEAD)["status"] == "NEW"
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.assign(store, LEAD, "reviewer", "analyst", "交给复核员")
    lifecycle.assign(store, LEAD, "analyst", "supervisor", "主管分配")  # downwards is fine
    assert store.get_lead(LEAD)["assignee"] == "analyst"
