"""群众举报 in a real browser: an analyst registers a tip through the intake form and sees the reporter masked;
a supervisor reveals the reporter with a reason, and the audit log records it."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa

from console import users
from pipelines.cases.store import CaseStore, audit
from pipelines.settings import Settings
from tests.console.conftest import PASSWORD, ROLES
from tests.console.test_browser import SCREENSHOTS, browser, cheap_password_hashing, log_in  # noqa: F401

pytestmark = pytest.mark.browser

REPORTER_PHONE = "13588889999"


@pytest.fixture(scope="module")
def served_tips(tmp_path_factory):
    """(base url, settings) of a console on a free loopback port, with one user per role and no leads."""
    import uvicorn

    from console.app import create_app

    settings = Settings.load(tmp_path_factory.mktemp("tips-console") / "home")
    settings.ensure_folders()
    store = CaseStore.open(settings)
    for role in ROLES:
        users.add_user(store, role, role, PASSWORD)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", settings
    server.should_exit = True
    thread.join(10)
    store.close()


def test_intake_masks_the_reporter_and_a_supervisor_reveals_with_a_reason(browser, served_tips):  # noqa: F811
    base, settings = served_tips
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    analyst = browser.new_context(locale="zh-CN").new_page()
    log_in(analyst, base, "analyst")
    analyst.click("text=群众举报")
    analyst.wait_for_url(f"{base}/tips")
    analyst.fill("#intake input[name=reporter_name]", "王秀英")
    analyst.fill("#intake input[name=reporter_phone]", REPORTER_PHONE)
    analyst.fill("#intake input[name=subjects]", "福寿康养老合作社、张三")
    analyst.fill("#intake textarea[name=content]", "承诺年息 12%，拉老人入股")
    analyst.click("#intake button[type=submit]")
    analyst.wait_for_selector("#reporter")
    tip_url = analyst.url
    assert "/tips/JB" in tip_url
    shown = analyst.inner_text("#reporter")
    assert "王*英" in shown and "135****9999" in shown and REPORTER_PHONE not in analyst.content()
    assert analyst.locator("#reveal").count() == 0
    analyst.goto(f"{base}/tips")
    assert REPORTER_PHONE not in analyst.content() and "135****9999" in analyst.inner_text("#tips")
    analyst.screenshot(path=str(SCREENSHOTS / "tips.png"), full_page=True)
    analyst.context.close()

    supervisor = browser.new_context(locale="zh-CN").new_page()
    log_in(supervisor, base, "supervisor")
    supervisor.goto(tip_url)
    assert REPORTER_PHONE not in supervisor.content()
    supervisor.fill("#reveal input[name=reason]", "须回访举报人核实情况")
    supervisor.click("#reveal button[type=submit]")
    supervisor.wait_for_selector("text=已记入审计日志")
    assert REPORTER_PHONE in supervisor.inner_text("#reporter") and "王秀英" in supervisor.inner_text("#reporter")
    supervisor.screenshot(path=str(SCREENSHOTS / "tip_revealed.png"), full_page=True)
    supervisor.context.close()

    store = CaseStore.open(settings)
    try:
        with store.read() as conn:
            rows = conn.execute(sa.select(audit).where(audit.c.action == "unmask")).mappings().all()
    finally:
        store.close()
    assert [(r["user"], r["target"], r["reason"]) for r in rows] == [
        ("supervisor", f"tip:{tip_url.rsplit('/', 1)[1]}", "须回访举报人核实情况")
    ]
